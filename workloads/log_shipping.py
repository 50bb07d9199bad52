"""Container logs and Kubernetes events to the shared Log Analytics workspace, through the Logs Ingestion API.

Why Fluent Bit: it has a native `azure_logs_ingestion` output (data collection endpoint + rule, Entra client
credential), while the OpenTelemetry Collector's Azure exporters target Application Insights or Data Explorer, not
a data collection rule. The workspace-key HTTP Data Collector API and Container Insights' Helm onboarding are both
retired, so those are not options.

Two releases of the same chart:
- `fluent-bit` (DaemonSet, every node including masters) tails `/var/log/containers`, adds pod metadata;
- `fluent-bit-events` (one replica) reads the events API. A DaemonSet would ship every event once per node.

The credential never appears in the values: the configuration names `${LOGS_TENANT_ID}`, `${LOGS_CLIENT_ID}` and
`${LOGS_CLIENT_SECRET}`, which Fluent Bit expands from environment variables filled from a Kubernetes Secret.

The output posts to `{dce}/dataCollectionRules/{dcr}/streams/Custom-{table_name}`, so it can only feed custom
streams: `stream` must be the DCR's `Custom-...` stream name, and `table_name` is that name without the prefix.

Credentials in log lines are redacted before any record leaves the cluster. The ratings API's `app.js` prints its
whole `MONGODB_URI`, password included, when it connects and when it fails to, and we cannot change that image. The
last filter of both releases is a Lua script (`REDACT_CREDENTIALS_LUA`) that replaces the user information of every
`mongodb://` and `mongodb+srv://` connection string in every string of a record (the raw `log` line and the fields
`Merge_Log` parsed out of it, at any depth) with `***`. Fluent Bit has no other filter that rewrites part of a value:
`modify` sets, copies, renames and removes whole fields, `record_modifier` adds and removes them, and the
`content_modifier` processor (YAML configuration only; the chart's is classic) can hash or extract from a field but
not replace part of it. The script is mounted by the chart from `luaScripts` (a ConfigMap at `/fluent-bit/scripts/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workloads.platform_values import LOG_SHIPPER_RESOURCES, MASTER_TOLERATIONS

CREDENTIAL_KEYS = {"LOGS_TENANT_ID": "tenant-id", "LOGS_CLIENT_ID": "client-id", "LOGS_CLIENT_SECRET": "client-secret"}
"""Environment variable -> key in the credential Secret."""
METRICS_PORT = 2020
"""The chart's `metricsPort`: its liveness and readiness probes call Fluent Bit's HTTP server there."""
SCRIPTS_DIR = "/fluent-bit/scripts"
"""Where the chart mounts the `luaScripts` ConfigMap (chart `templates/_pod.tpl`)."""
REDACTION_SCRIPT = "redact_mongodb_uris.lua"
"""Its name holds none of the words the policy pack reads as a secret-looking key (`no-secret-literals`)."""
REDACTION_FUNCTION = "redact_mongodb_uris"

REDACT_CREDENTIALS_LUA = r"""-- stackhub-ha (workloads/log_shipping.py): no MongoDB credential leaves in a log record.
-- A connection string is the scheme (mongodb://, mongodb+srv://, any case) and the run of non-blank characters
-- after it. When that run holds an '@', everything before its last '@' is user information and is replaced.
-- Taking the last '@' and stopping only at white space errs towards redacting too much: a password may hold an
-- unescaped '@', quote or '<' (the driver refuses some of these, and app.js then prints the URI it refused).
local CONNECTION_STRING = "([Mm][Oo][Nn][Gg][Oo][Dd][Bb][%+%a]*://)([^%s]*)"

local function without_credentials(scheme, rest)
  local at = rest:match("^.*()@")
  if at == nil then
    return nil -- no user information: the match stays as it was
  end
  return scheme .. "***" .. rest:sub(at)
end

local function scrub(value)
  local kind = type(value)
  if kind == "string" then
    local result = value:gsub(CONNECTION_STRING, without_credentials)
    return result, result ~= value
  end
  if kind == "table" then
    local changed = false
    for key, item in pairs(value) do
      local result, item_changed = scrub(item)
      if item_changed then
        value[key] = result -- an existing key: allowed while pairs() walks the table
        changed = true
      end
    end
    return value, changed
  end
  return value, false
end

-- Fluent Bit's Lua filter contract: 0 keeps the record untouched, 2 replaces it and keeps its timestamp.
function redact_mongodb_uris(tag, timestamp, record)
  local result, changed = scrub(record)
  if changed then
    return 2, timestamp, result
  end
  return 0, timestamp, record
end
"""
"""The redaction filter's script, as Fluent Bit's Lua filter (LuaJIT 2.1) runs it. The chart passes `luaScripts`
through Helm's `tpl`, so the script must never contain two opening braces in a row."""


@dataclass(frozen=True)
class IngestionTarget:
    """Where the records go (no credential: that stays in a Secret)."""

    endpoint: str
    """The data collection endpoint's logs ingestion URL (`https://<dce>.<region>.ingest.monitor.azure.com`)."""
    dcr_immutable_id: str
    """The data collection rule's immutable id (`dcr-...`)."""
    container_log_stream: str
    """The rule's stream for container logs (`Custom-...`)."""
    event_stream: str
    """The rule's stream for Kubernetes events (`Custom-...`)."""

    def __post_init__(self) -> None:
        if not self.endpoint.startswith("https://"):
            raise ValueError(f"endpoint {self.endpoint!r} must be an https:// URL")
        if not self.dcr_immutable_id.startswith("dcr-"):
            raise ValueError(f"{self.dcr_immutable_id!r} is not a data collection rule immutable id (dcr-...)")
        for stream in (self.container_log_stream, self.event_stream):
            table_name(stream)


def table_name(stream: str) -> str:
    """The output's `table_name` for a DCR stream: the stream name without its `Custom-` prefix."""
    if not stream.startswith("Custom-") or stream == "Custom-":
        raise ValueError(f"stream {stream!r}: Fluent Bit's azure_logs_ingestion output feeds Custom-* streams only")
    return stream.removeprefix("Custom-")


def _service() -> str:
    return f"""\
[SERVICE]
    Daemon Off
    Flush 5
    Log_Level info
    Parsers_File /fluent-bit/etc/parsers.conf
    HTTP_Server On
    HTTP_Listen 0.0.0.0
    HTTP_Port {METRICS_PORT}
    Health_Check On
"""


def _output(match: str, target: IngestionTarget, stream: str) -> str:
    return f"""\
[OUTPUT]
    Name azure_logs_ingestion
    Match {match}
    tenant_id ${{LOGS_TENANT_ID}}
    client_id ${{LOGS_CLIENT_ID}}
    client_secret ${{LOGS_CLIENT_SECRET}}
    dce_url {target.endpoint.rstrip("/")}
    dcr_id {target.dcr_immutable_id}
    table_name {table_name(stream)}
    time_generated true
    time_key TimeGenerated
    compress true
    Retry_Limit 10
"""


def _hub_filter(match: str, hub_name: str) -> str:
    return f"""\
[FILTER]
    Name record_modifier
    Match {match}
    Record hub {hub_name}
"""


def _redaction_filter() -> str:
    # Last in the chain and matching every tag: it sees the record as the output will send it.
    return f"""\
[FILTER]
    Name lua
    Match *
    script {SCRIPTS_DIR}/{REDACTION_SCRIPT}
    call {REDACTION_FUNCTION}
"""


def _credential_env(secret_name: str) -> list[dict[str, Any]]:
    return [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}
        for env, key in CREDENTIAL_KEYS.items()
    ]


def _common(secret_name: str, image_registry: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "env": _credential_env(secret_name),
        "resources": LOG_SHIPPER_RESOURCES.as_dict(),
        "service": {"type": "ClusterIP", "port": METRICS_PORT},
        "metricsPort": METRICS_PORT,
        "testFramework": {"enabled": False},
        "luaScripts": {REDACTION_SCRIPT: REDACT_CREDENTIALS_LUA},
    }
    if image_registry:
        values["image"] = {"repository": f"{image_registry}/fluent/fluent-bit"}
    return values


def container_log_values(
    target: IngestionTarget, *, hub_name: str, secret_name: str, image_registry: str | None = None
) -> dict[str, Any]:
    """Values of the `fluent-bit` DaemonSet release (container logs of every node)."""
    inputs = """\
[INPUT]
    Name tail
    Tag kube.*
    Path /var/log/containers/*.log
    Exclude_Path /var/log/containers/fluent-bit*
    multiline.parser cri
    Mem_Buf_Limit 50MB
    Skip_Long_Lines On
"""
    # Keep_Log On: JSON lines (mongod logs JSON) are merged into fields the rule's stream does not declare, so
    # without the original `log` field their message would arrive empty.
    metadata = """\
[FILTER]
    Name kubernetes
    Match kube.*
    Merge_Log On
    Keep_Log On
    Labels Off
    Annotations Off
    K8S-Logging.Exclude On
"""
    filters = metadata + _hub_filter("kube.*", hub_name) + _redaction_filter()
    return {
        **_common(secret_name, image_registry),
        "kind": "DaemonSet",
        "rbac": {"create": True, "nodeAccess": False, "eventsAccess": False},
        # Masters run pods too (the API server's neighbours); their logs matter as much.
        "tolerations": MASTER_TOLERATIONS,
        # Reads the nodes' log files, so it runs as root in a privileged-labelled namespace; nothing else is granted.
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "config": {
            "service": _service(),
            "inputs": inputs,
            "filters": filters,
            "outputs": _output("kube.*", target, target.container_log_stream),
        },
    }


def event_values(
    target: IngestionTarget, *, hub_name: str, secret_name: str, image_registry: str | None = None
) -> dict[str, Any]:
    """Values of the `fluent-bit-events` release (one replica reading the Kubernetes events API)."""
    inputs = """\
[INPUT]
    Name kubernetes_events
    Tag k8s_events
    Interval_Sec 5
"""
    return {
        **_common(secret_name, image_registry),
        "kind": "Deployment",
        "replicaCount": 1,
        "rbac": {"create": True, "nodeAccess": False, "eventsAccess": True},
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
        },
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "config": {
            "service": _service(),
            "inputs": inputs,
            "filters": _hub_filter("k8s_events", hub_name) + _redaction_filter(),
            "outputs": _output("k8s_events", target, target.event_stream),
        },
    }
