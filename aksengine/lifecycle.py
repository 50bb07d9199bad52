"""Create, update and delete one AKS Engine cluster: `python -m aksengine.lifecycle create|update|delete`.

Written for `pulumi_command.local.Command`, which runs one of these per resource operation, passes inputs
through the environment, keeps the command's stdout as the resource's state, and hands the previous stdout
to the next update or delete in `PULUMI_COMMAND_STDOUT`.

Environment (read once, by `LifecycleInput.from_environ`):

- `AKSENGINE_DESIRED` (create, update; delete falls back to the previous state): JSON, no secret:
  `{"settings": {<ClusterSettings fields, snake_case>}, "tenantId": "<tenant or null>",
  "otherNodesInSubscription": <int, default 0>}`. `tenantId` is only needed to delete the resource group.
- `AKSENGINE_CLIENT_SECRET` (always): the service principal's secret. When the variable is unset, `main`
  reads it from the first line of standard input: that is how the component passes it, because
  pulumi-command marks its whole `environment` map secret when one value is, which would hide the desired
  settings from every preview.
- `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY` (optional, either case): the egress proxy, passed on to AKS Engine
  (and used by this process for ARM). A proxy URL with credentials would make pulumi-command hide the whole
  environment, so the component sends such URLs as a second line of standard input instead: a JSON object of
  these variables only, read by `main` after the client secret's line. Credentials in them are scrubbed from
  every output.
- `AKSENGINE_LOG_FILE` (optional): file the complete, scrubbed aks-engine output is appended to (0600).
- `PULUMI_COMMAND_STDOUT` (update, delete; set by pulumi-command): the state the last successful create or
  update printed.
- `AKSENGINE_CHECKPOINT_DIR` (optional, update and delete): where checkpoints live; default
  `${XDG_STATE_HOME:-$HOME/.local/state}/stackhub-ha/aksengine/`.
- `PATH`: must hold `aks-engine-azurestack` of release `AKS_ENGINE_VERSION`.
- `TMPDIR` (optional): where the private working directory is made.

`PULUMI_COMMAND_STDERR` is ignored. Neither it, `PULUMI_COMMAND_STDOUT` nor any `AKSENGINE_*` variable is
passed on to AKS Engine.

Output: on success, stdout carries exactly one JSON document, the new state (see `ClusterState`): it holds
the generated apimodel (CA and client keys, service principal secret) and the kubeconfig, so the component
running this marks stdout secret and does not log it. On failure stdout stays empty: pulumi-command returns
its error before it reads stdout, so the resource keeps the previous state and no failed command can hand
a new one back. A state larger than `ENV_VALUE_LIMIT` bytes could not be handed to the next command
(`check_state_size`), so it is refused like a failure: nothing on stdout, exit code 1; on `create` the
half-made resource group is then deleted (a retry would fail the same way). Above `STATE_BUDGET` a warning comes
first. stderr carries progress, AKS Engine's output (scrubbed of secrets, within `FORWARD_BUDGET`) and errors.

The checkpoint (`aksengine.checkpoint`): an update runs up to two AKS Engine commands (scale, upgrade).
After each one that succeeds, the generated apimodel it left, the settings reached, the steps done and
`base` (sha256 of the `PULUMI_COMMAND_STDOUT` the update started from) go to one file per cluster in the
checkpoint directory (0700, file 0600), encrypted with AES-256-GCM under a key derived from the client
secret. When a later step fails, the file keeps the last finished step and stderr says where it is and what
the next `pulumi up` runs. The next `update` continues from a checkpoint whose `base` matches the state it
is given, so finished steps are not repeated; it ignores, with a message, one that does not decrypt (the
secret was rotated) or whose `base` differs (Pulumi's state moved on), and plans from the previous state:
scale and upgrade are idempotent, so repeating one is safe. A successful update and a delete remove it.

A failed `create` uses the same file. AKS Engine writes the generated apimodel (the cluster's CA, certificates
and keys) before its ARM deployment creates the VMs, and those VMs trust only those certificates. So a deploy
that fails, or is stopped by SIGINT/SIGTERM, after writing it keeps the model in the checkpoint (`operation`
"deploy", `base` the digest of the settings) and leaves the resource group alone; the next `create` with the
same settings deploys again with that model into the same group, and removes the checkpoint once it succeeds.
The group is deleted, for a clean retry, only when there is nothing to continue: AKS Engine failed before
writing the model, the state is too large, or the settings changed since the kept deploy.

Exit codes: 0 success, 1 AKS Engine or ARM failed, or the state is too large to hand back; 2 invalid input,
refused change, wrong AKS Engine release or an unusable checkpoint directory; 128 + the signal when stopped.

Calls to the hub's ARM (deleting a resource group) are retried by azure-core as `arm.RetrySettings` says; one
that still fails ends the command with `arm.ArmError`'s message, which says what to do.

Secrets touch the disk only in a private directory (0700, files 0600) that lives for one command and is
removed afterwards, also on failure, and, encrypted, in the checkpoint. AKS Engine takes the client secret
only as `--client-secret` (it reads no environment variable for it, `cmd/root.go` `addAuthFlags`), so the
secret is visible in the process list of this machine while a command runs; run the program on a machine no
one else logs into.
"""

import base64
import contextlib
import dataclasses
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO
from urllib.parse import unquote, urlparse

from aksengine.apimodel import (
    ClusterSettings,
    IdentitySystem,
    Problem,
    ScaleStep,
    UpgradeStep,
    build_apimodel,
    hub_domain,
    plan_change,
    settings_from_dict,
    settings_to_dict,
    validate,
    validate_apimodel,
    with_service_principal_secret,
)
from aksengine.checkpoint import (
    ENV_CHECKPOINT_DIR,
    Checkpoint,
    CheckpointError,
    CheckpointFile,
    checkpoint_dir,
    settings_digest,
    state_digest,
)
from aksengine.versions import AKS_ENGINE_VERSION, parse_version_output

if TYPE_CHECKING:
    from arm import RetrySettings

ENV_DESIRED = "AKSENGINE_DESIRED"
ENV_CLIENT_SECRET = "AKSENGINE_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
ENV_LOG_FILE = "AKSENGINE_LOG_FILE"
ENV_PREVIOUS_STDOUT = "PULUMI_COMMAND_STDOUT"
ENV_PREVIOUS_STDERR = "PULUMI_COMMAND_STDERR"
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")
"""The proxy variables the lifecycle accepts on stdin (and the component in its environment), both spellings."""

BINARY = "aks-engine-azurestack"
AZURE_ENV = "AzureStackCloud"
STATE_SCHEMA_VERSION = 1

ENV_VALUE_LIMIT = 131_072 - len(ENV_PREVIOUS_STDOUT) - 2
"""Linux refuses to start a process with any one environment string longer than 128 KiB (MAX_ARG_STRLEN).
pulumi-command passes the previous stdout and stderr as environment variables, so either one growing past
this would make the next update or delete fail before it starts."""

STATE_BUDGET = 110_000
"""Warn when the state comes close to `ENV_VALUE_LIMIT`."""

FORWARD_BUDGET = 48 * 1024
"""Bytes of AKS Engine output forwarded to stderr in one run; the rest goes to the log file only. pulumi-command
hands stderr to the next command as `PULUMI_COMMAND_STDERR`, which `ENV_VALUE_LIMIT` bounds too, and an
upgrade's progress output alone can run far past it."""

TAIL_LINES = 25
"""Lines of AKS Engine output quoted when it fails."""

EXIT_FAILED = 1
EXIT_INVALID = 2


class LifecycleError(Exception):
    """A failure to report on stderr; the message never holds a secret."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- inputs --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubAccess:
    """What a call to the hub's Resource Manager needs, for deleting the cluster's resource group."""

    arm_endpoint: str
    subscription_id: str
    tenant_id: str | None
    identity_system: IdentitySystem
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class LifecycleInput:
    """Everything the environment hands one command, parsed and checked for form."""

    settings: ClusterSettings | None
    tenant_id: str | None
    other_nodes_in_subscription: int
    client_secret: str = field(repr=False)
    previous_state: str | None = field(repr=False)
    log_file: Path | None
    checkpoint_dir: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "LifecycleInput":
        """Parse the environment described in the module docstring; LifecycleError(2) on bad form."""
        secret = environ.get(ENV_CLIENT_SECRET, "")
        if not secret:
            raise LifecycleError(f"{ENV_CLIENT_SECRET} is not set or empty", EXIT_INVALID)
        settings: ClusterSettings | None = None
        tenant_id: str | None = None
        other_nodes = 0
        raw = environ.get(ENV_DESIRED)
        if raw:
            try:
                desired = json.loads(raw)
            except json.JSONDecodeError as err:
                raise LifecycleError(f"{ENV_DESIRED} is not JSON: {err}", EXIT_INVALID) from err
            if not isinstance(desired, dict):
                raise LifecycleError(f"{ENV_DESIRED} must be a JSON object", EXIT_INVALID)
            unknown = sorted(set(desired) - {"settings", "tenantId", "otherNodesInSubscription"})
            if unknown:
                raise LifecycleError(f"{ENV_DESIRED} has unknown keys {unknown}", EXIT_INVALID)
            try:
                settings = settings_from_dict(desired.get("settings"))
            except ValueError as err:
                raise LifecycleError(f"{ENV_DESIRED}: {err}", EXIT_INVALID) from err
            tenant_id = desired.get("tenantId")
            if tenant_id is not None and not isinstance(tenant_id, str):
                raise LifecycleError(f"{ENV_DESIRED}: tenantId must be a string or null", EXIT_INVALID)
            other_nodes = desired.get("otherNodesInSubscription", 0)
            if not isinstance(other_nodes, int) or isinstance(other_nodes, bool):
                raise LifecycleError(f"{ENV_DESIRED}: otherNodesInSubscription must be an integer", EXIT_INVALID)
        log_file = environ.get(ENV_LOG_FILE)
        try:
            checkpoints = checkpoint_dir(environ)
        except RuntimeError as err:  # no HOME and no password database entry
            raise LifecycleError(f"no place for checkpoints ({err}): set {ENV_CHECKPOINT_DIR}", EXIT_INVALID) from None
        return cls(
            settings=settings,
            tenant_id=tenant_id,
            other_nodes_in_subscription=other_nodes,
            client_secret=secret,
            previous_state=environ.get(ENV_PREVIOUS_STDOUT) or None,
            log_file=Path(log_file) if log_file else None,
            checkpoint_dir=checkpoints,
        )

    def desired_settings(self) -> ClusterSettings:
        """The settings to reach; LifecycleError(2) when the environment had none."""
        if self.settings is None:
            raise LifecycleError(f"{ENV_DESIRED} is not set", EXIT_INVALID)
        return self.settings

    def hub_access(self, settings: ClusterSettings) -> HubAccess:
        """Resource Manager access for the cluster's hub and subscription."""
        tenant = self.tenant_id or ("adfs" if settings.identity_system == "adfs" else None)
        return HubAccess(
            arm_endpoint=f"https://management.{settings.location}.{hub_domain(settings)}/",
            subscription_id=settings.subscription_id,
            tenant_id=tenant,
            identity_system=settings.identity_system,
            client_id=settings.client_id,
            client_secret=self.client_secret,
        )


# -- state ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterState:
    """What one successful command prints and the next one reads back (pulumi-command keeps it as stdout).

    The generated apimodel is stored gzip-compressed (base64) because the whole document must stay below
    `ENV_VALUE_LIMIT` to be handed back through the environment.
    """

    aks_engine_version: str
    settings: ClusterSettings
    api_server_fqdn: str
    kubernetes_version: str
    master_count: int
    agent_count: int
    kubeconfig: str = field(repr=False)
    apimodel: dict[str, Any] = field(repr=False)

    def to_json(self) -> str:
        """One line of JSON, camelCase keys."""
        packed = base64.b64encode(gzip.compress(json.dumps(self.apimodel).encode(), mtime=0)).decode()
        return json.dumps(
            {
                "schemaVersion": STATE_SCHEMA_VERSION,
                "aksEngineVersion": self.aks_engine_version,
                "settings": settings_to_dict(self.settings),
                "resourceGroup": self.settings.resource_group,
                "apiServerFqdn": self.api_server_fqdn,
                "kubernetesVersion": self.kubernetes_version,
                "masterCount": self.master_count,
                "agentCount": self.agent_count,
                "kubeconfig": self.kubeconfig,
                "apimodelGzip": packed,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> "ClusterState":
        """Read a document `to_json` wrote; LifecycleError(2) when it is not one."""
        try:
            doc = _state_document(text)
            apimodel = json.loads(gzip.decompress(base64.b64decode(doc["apimodelGzip"], validate=True)))
            return cls(
                aks_engine_version=str(doc["aksEngineVersion"]),
                settings=settings_from_dict(doc["settings"]),
                api_server_fqdn=str(doc["apiServerFqdn"]),
                kubernetes_version=str(doc["kubernetesVersion"]),
                master_count=int(doc["masterCount"]),
                agent_count=int(doc["agentCount"]),
                kubeconfig=str(doc["kubeconfig"]),
                apimodel=apimodel,
            )
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as err:
            # The message names the key or the decoding step, never the (secret) content.
            raise LifecycleError(
                f"the previous state in {ENV_PREVIOUS_STDOUT} is unreadable ({type(err).__name__}: {err})",
                EXIT_INVALID,
            ) from None


def _state_document(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("schemaVersion") != STATE_SCHEMA_VERSION:
        raise ValueError(f"not a state document of schema version {STATE_SCHEMA_VERSION}")
    return doc


def kubeconfig_of(stdout: str) -> str:
    """The kubeconfig in a state document (for the component that reads the command's stdout)."""
    return ClusterState.from_json(stdout).kubeconfig


def state_from_output(settings: ClusterSettings, apimodel: dict[str, Any], kubeconfig: str) -> ClusterState:
    """The state of a cluster whose generated apimodel and kubeconfig AKS Engine just wrote."""
    props = apimodel.get("properties", {})
    pools = [p for p in props.get("agentPoolProfiles", []) if p.get("name") == settings.agent_pool_name]
    if not pools:
        raise LifecycleError(f"the generated apimodel has no agent pool {settings.agent_pool_name!r}")
    return ClusterState(
        aks_engine_version=AKS_ENGINE_VERSION,
        settings=settings,
        api_server_fqdn=api_server_fqdn(apimodel, kubeconfig),
        kubernetes_version=str(props.get("orchestratorProfile", {}).get("orchestratorVersion", "")),
        master_count=int(props.get("masterProfile", {}).get("count", 0)),
        agent_count=int(pools[0].get("count", 0)),
        kubeconfig=kubeconfig,
        apimodel=apimodel,
    )


def api_server_fqdn(apimodel: dict[str, Any], kubeconfig: str) -> str:
    """Host name of the API server: the kubeconfig's server URL, else the generated `masterProfile.fqdn`."""
    with contextlib.suppress(ValueError, KeyError, IndexError, TypeError, AttributeError):
        server = json.loads(kubeconfig)["clusters"][0]["cluster"]["server"]
        host = urlparse(str(server)).hostname
        if host:
            return host
    fqdn = apimodel.get("properties", {}).get("masterProfile", {}).get("fqdn")
    if isinstance(fqdn, str) and fqdn:
        return fqdn
    raise LifecycleError("neither the kubeconfig nor the generated apimodel names the API server")


# -- secrets on stderr ---------------------------------------------------------------------------------


_SECRET_FLAG = re.compile(r"(--client-secret[= ]+)(?!\*\*\*)\S+")
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
# Keys AKS Engine generates during `deploy` are unknown until it has written them; a long unbroken base64
# run (a PEM body line is 64 characters) is masked wherever it comes from. IDs and paths contain `-`, `.`
# or `_` often enough not to be caught.
_MIN_SECRET_PART = 16
"""Lines of a multi-line secret shorter than this (PEM armour) are too common to scrub on their own."""


class Scrubber:
    """Removes known secrets, the value of `--client-secret`, private key blocks and long base64 runs."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        self._needles: set[str] = set()
        self._allowed: set[str] = set()
        self._in_pem = False
        for secret in secrets:
            self.add(secret)

    def allow(self, text: str) -> None:
        """Never mask `text` as a base64 run (a path the lifecycle names, such as its checkpoint file: `/` is a
        base64 character, so a path with a long enough folder name looks like one). Known secrets still are."""
        if text:
            self._allowed.add(text)

    def add(self, secret: str) -> None:
        """Scrub `secret` from now on, also JSON-escaped and line by line when it spans lines."""
        if len(secret) < 4:
            return
        self._needles.add(secret)
        self._needles.add(json.dumps(secret)[1:-1])
        for part in secret.splitlines():
            if len(part.strip()) >= _MIN_SECRET_PART:
                self._needles.add(part.strip())

    def add_apimodel(self, apimodel: dict[str, Any]) -> None:
        """Scrub the key material and passwords of a (generated) apimodel."""
        props = apimodel.get("properties", {})
        for value in props.get("certificateProfile", {}).values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    self.add(item)
        for path in (
            ("servicePrincipalProfile", "secret"),
            ("orchestratorProfile", "kubernetesConfig", "etcdEncryptionKey"),
            ("windowsProfile", "adminPassword"),
        ):
            node: Any = props
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, str):
                self.add(node)

    def line(self, text: str) -> str:
        """One line of output with secrets replaced by `***` (lines inside a private key block vanish)."""
        if self._in_pem:
            if _PEM_END.search(text):
                self._in_pem = False
            return "*** (private key)"
        if _PEM_BEGIN.search(text) and not _PEM_END.search(text):
            self._in_pem = True
            return "*** (private key)"
        for needle in sorted(self._needles, key=len, reverse=True):
            text = text.replace(needle, "***")
        text = self._mask_runs(text)
        return _SECRET_FLAG.sub(r"\1***", text)

    def _mask_runs(self, text: str) -> str:
        if not self._allowed:
            return _BASE64_RUN.sub("***", text)
        allowed = "|".join(re.escape(item) for item in sorted(self._allowed, key=len, reverse=True))
        pattern = re.compile(f"({allowed})|{_BASE64_RUN.pattern}")
        return pattern.sub(lambda match: match.group(1) or "***", text)


class Reporter:
    """stderr for people: own messages always, AKS Engine output within a budget, a tail kept for errors."""

    def __init__(self, stderr: TextIO, scrubber: Scrubber, log_file: Path | None) -> None:
        self._stderr = stderr
        self._scrubber = scrubber
        self._log_file = log_file
        self._forwarded = 0
        self._muted = False
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    def say(self, message: str) -> None:
        """A message of the lifecycle itself."""
        text = self._scrubber.line(message)
        self._stderr.write(f"aksengine: {text}\n")
        self._stderr.flush()
        self._log(f"aksengine: {text}")

    def tool_line(self, raw: str) -> None:
        """One line of AKS Engine output."""
        text = self._scrubber.line(raw.rstrip("\n"))
        self.tail.append(text)
        self._log(text)
        if self._muted:
            return
        self._forwarded += len(text) + 3
        if self._forwarded > FORWARD_BUDGET:
            self._muted = True
            where = f"; all of it goes to {self._log_file}" if self._log_file else ""
            self._stderr.write(f"  | ... further AKS Engine output is not shown here{where}\n")
        else:
            self._stderr.write(f"  | {text}\n")
        self._stderr.flush()

    def allow(self, text: str) -> None:
        """See `Scrubber.allow`."""
        self._scrubber.allow(text)

    def protect(self, apimodel: dict[str, Any], kubeconfig: str) -> None:
        """Scrub the key material of a cluster from everything reported from now on."""
        self._scrubber.add_apimodel(apimodel)
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            for user in json.loads(kubeconfig).get("users", []):
                for value in user.get("user", {}).values():
                    if isinstance(value, str):
                        self._scrubber.add(value)

    def start_command(self) -> None:
        """Start a new tail for the next AKS Engine command (the budget covers the whole run)."""
        self.tail.clear()

    def _log(self, text: str) -> None:
        if self._log_file is None:
            return
        fd = os.open(self._log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            log.write(text + "\n")


# -- how big a state may be ----------------------------------------------------------------------------


def check_state_size(document: str, reporter: Reporter) -> None:
    """The one rule on how big a state may be: LifecycleError above `ENV_VALUE_LIMIT`, a warning above `STATE_BUDGET`.

    pulumi-command keeps stdout (less its final newline) and hands it to the next update or delete as one
    environment variable; Linux refuses to start that command when the variable is longer than it allows.
    Refusing now, with nothing on stdout, keeps the previous state usable instead of recording one that
    would lock the cluster out of every later command.
    """
    size = len(document.encode())
    if size > ENV_VALUE_LIMIT:
        raise LifecycleError(
            f"the new state is {size} bytes, more than the {ENV_VALUE_LIMIT} bytes that can be handed back in "
            f"{ENV_PREVIOUS_STDOUT} (Linux limits one environment variable to 128 KiB); it was not written"
        )
    if size > STATE_BUDGET:
        reporter.say(
            f"warning: the state is {size} bytes; above {ENV_VALUE_LIMIT} bytes the lifecycle refuses to write it "
            "(Linux limits one environment variable to 128 KiB)"
        )


def state_document(state: ClusterState, reporter: Reporter) -> str:
    """The document to print for `state`, after `check_state_size` allowed it."""
    document = state.to_json()
    check_state_size(document, reporter)
    return document


# -- the binary ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandLines:
    """argv lists (no shell) of the AKS Engine commands for one cluster."""

    binary: str
    settings: ClusterSettings
    client_secret: str = field(repr=False)

    def auth(self) -> list[str]:
        """Flags every command that talks to the hub needs.

        `--identity-system` is always given: `deploy` overwrites the model's `identitySystem` with this
        flag, whose default is `azure_ad` (`cmd/deploy.go`), which would silently break AD FS stamps.
        """
        s = self.settings
        return [
            "--azure-env",
            AZURE_ENV,
            "--identity-system",
            s.identity_system,
            "--auth-method",
            "client_secret",
            "--subscription-id",
            s.subscription_id,
            "--client-id",
            s.client_id,
            "--client-secret",
            self.client_secret,
        ]

    def _base(self, command: str, api_model: Path) -> list[str]:
        s = self.settings
        return [
            self.binary,
            command,
            *self.auth(),
            "--api-model",
            str(api_model),
            "--location",
            s.location,
            "--resource-group",
            s.resource_group,
        ]

    def deploy(self, api_model: Path, out: Path) -> list[str]:
        """`deploy`: creates the resource group, writes the generated apimodel and kubeconfig to `out`."""
        return [*self._base("deploy", api_model), "--output-directory", str(out)]

    def scale(self, generated: Path, step: ScaleStep, apiserver: str) -> list[str]:
        """`scale` one pool; `--apiserver` lets AKS Engine cordon and drain the nodes it removes."""
        argv = [
            *self._base("scale", generated),
            "--new-node-count",
            str(step.node_count),
            "--node-pool",
            step.node_pool,
        ]
        return [*argv, "--apiserver", apiserver] if step.needs_apiserver else argv

    def upgrade(self, generated: Path, step: UpgradeStep) -> list[str]:
        """`upgrade` the control plane and every pool, one VM at a time."""
        return [*self._base("upgrade", generated), "--upgrade-version", step.kubernetes_version]

    def step(self, generated: Path, step: ScaleStep | UpgradeStep, apiserver: str) -> list[str]:
        """The command for one step of a change plan."""
        if isinstance(step, ScaleStep):
            return self.scale(generated, step, apiserver)
        return self.upgrade(generated, step)


class AksEngine:
    """Runs the binary found on PATH with a cleaned environment, streaming its output to the reporter."""

    def __init__(self, environ: Mapping[str, str], reporter: Reporter) -> None:
        found = shutil.which(BINARY, path=environ.get("PATH", os.defpath))
        if found is None:
            raise LifecycleError(
                f"{BINARY} is not on PATH: install release {AKS_ENGINE_VERSION} and put it on PATH", EXIT_INVALID
            )
        self.binary = found
        self._reporter = reporter
        # The previous state (CA keys) and our own inputs have no business in AKS Engine's environment.
        self._environ = {
            key: value
            for key, value in environ.items()
            if not key.startswith("AKSENGINE_") and key not in (ENV_PREVIOUS_STDOUT, ENV_PREVIOUS_STDERR)
        }

    def check_version(self) -> None:
        """LifecycleError(2) unless the binary is the pinned release."""
        try:
            done = subprocess.run(
                [self.binary, "version"],
                env=self._environ,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise LifecycleError(f"`{BINARY} version` could not run: {err}") from err
        try:
            found = parse_version_output(done.stdout)
        except ValueError as err:
            raise LifecycleError(f"`{BINARY} version` printed no version ({err})", EXIT_INVALID) from err
        if found != AKS_ENGINE_VERSION:
            raise LifecycleError(
                f"{self.binary} is AKS Engine {found}, but this program is pinned to {AKS_ENGINE_VERSION}: "
                f"install {AKS_ENGINE_VERSION} (Kubernetes versions and apimodel rules differ per release)",
                EXIT_INVALID,
            )

    def run(self, argv: list[str], workdir: Path) -> None:
        """Run one command to the end; LifecycleError naming it, its exit code and its last output lines."""
        name = argv[1]
        env = dict(self._environ)
        # AKS Engine leaves temporary files (cloud profile, merged models) in TMPDIR: keep them private too.
        env["TMPDIR"] = str(workdir)
        self._reporter.start_command()
        self._reporter.say(f"running `{BINARY} {name}`")
        with subprocess.Popen(
            argv,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as proc:
            try:
                for line in proc.stdout or ():
                    self._reporter.tool_line(line)
                code = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
        if code != 0:
            tail = "\n".join(f"  | {line}" for line in self._reporter.tail) or "  | (no output)"
            raise LifecycleError(f"`{BINARY} {name}` failed with exit code {code}; its last output:\n{tail}")
        self._reporter.say(f"`{BINARY} {name}` finished")


# -- the private working directory ---------------------------------------------------------------------


@contextlib.contextmanager
def private_workdir(reporter: Reporter, environ: Mapping[str, str]) -> Iterator[Path]:
    """A directory only this user can read (under `TMPDIR`), removed with everything in it when the block ends."""
    path = Path(tempfile.mkdtemp(prefix="aksengine-", dir=environ.get("TMPDIR") or None))  # made 0700
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            reporter.say(f"warning: could not remove {path}; it holds cluster keys, remove it by hand")


def write_private_json(path: Path, document: object) -> None:
    """Write JSON readable by this user only (0600), creating parent directories 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)


def read_output(out: Path, settings: ClusterSettings) -> tuple[dict[str, Any], str]:
    """The generated apimodel and kubeconfig AKS Engine wrote into its output directory."""
    model_path = out / "apimodel.json"
    kubeconfig_path = out / "kubeconfig" / f"kubeconfig.{settings.location}.json"
    try:
        apimodel = json.loads(model_path.read_text(encoding="utf-8"))
        kubeconfig = kubeconfig_path.read_text(encoding="utf-8")
    except (OSError, json.JSONDecodeError) as err:
        raise LifecycleError(
            f"AKS Engine did not leave a readable apimodel.json and kubeconfig in {out} ({type(err).__name__}: {err})"
        ) from None
    return apimodel, kubeconfig


# -- resource group deletion ---------------------------------------------------------------------------

ResourceGroupDeleter = Callable[[HubAccess, str], None]
"""Deletes a resource group (and waits for it); succeeds when the group does not exist."""


def delete_resource_group_with_arm(
    access: HubAccess, resource_group: str, *, polling_interval: float = 10.0, retry: "RetrySettings | None" = None
) -> None:
    """Delete the resource group through the project's `arm` package and wait until ARM has finished.

    A group that does not exist counts as deleted: a deploy can fail before AKS Engine created it. Every request
    (the delete and each poll of it) is retried by azure-core as `retry` says (default: `arm.DEFAULT_RETRY`);
    one that still fails raises `ArmError`, which says what failed and what to do.
    `arm` (and with it the Azure SDK) is imported here, on the one path that talks to ARM directly.
    """
    from azure.core.exceptions import AzureError, ResourceNotFoundError  # noqa: PLC0415

    from arm import (  # noqa: PLC0415
        DEFAULT_RETRY,
        ArmError,
        HubConnection,
        api_version_for,
        build_credential,
        discover_endpoints,
        management_client,
    )

    retry = retry or DEFAULT_RETRY

    if not access.tenant_id:
        raise LifecycleError(
            f"{ENV_DESIRED} needs tenantId to delete a resource group on an Azure AD hub", EXIT_INVALID
        )
    connection = HubConnection(
        arm_endpoint=access.arm_endpoint,
        tenant_id=access.tenant_id,
        subscription_id=access.subscription_id,
        client_id=access.client_id,
        identity_system=access.identity_system,
    )
    group_id = f"/subscriptions/{access.subscription_id}/resourceGroups/{resource_group}"
    api_version = api_version_for("Microsoft.Resources/resourceGroups")
    try:
        endpoints = discover_endpoints(connection.arm_endpoint, retry=retry)
        credential = build_credential(connection, access.client_secret, endpoints, retry=retry)
        client = management_client(connection, credential, endpoints, polling_interval=polling_interval, retry=retry)
        client.resources.begin_delete_by_id(group_id, api_version=api_version).result()
    except ResourceNotFoundError:
        return
    except AzureError as err:
        raise ArmError.from_azure_error(
            err,
            operation="delete",
            resource_id=group_id,
            api_version=api_version,
            redact=[access.client_secret],
            retry=retry,
            endpoint=connection.arm_endpoint,
        ) from None


# -- progress of an update, kept outside Pulumi --------------------------------------------------------


@dataclass(frozen=True)
class StartingPoint:
    """What an update plans from: the previous state, or the checkpoint a failed update left for it."""

    settings: ClusterSettings
    steps_done: tuple[str, ...]
    resumed: bool
    apimodel: dict[str, Any] = field(repr=False)


def starting_point(
    previous: ClusterState, base: str, checkpoints: CheckpointFile, secret: str, reporter: Reporter
) -> StartingPoint:
    """The checkpoint when it continues from this very previous state, else the previous state.

    Ignoring a checkpoint is always safe: `scale` to a count and `upgrade` to a version are idempotent,
    so planning from the previous state at worst repeats a step that already took effect.
    """
    fresh = StartingPoint(previous.settings, (), False, previous.apimodel)
    try:
        checkpoint = checkpoints.load(secret)
    except CheckpointError as err:
        reporter.say(f"ignoring checkpoint {checkpoints.path}: {err}; planning from the previous state instead")
        return fresh
    if checkpoint is None:
        return fresh
    if checkpoint.operation == "deploy":
        reporter.say(
            f"ignoring checkpoint {checkpoints.path} (saved {checkpoint.saved_at}): a failed deploy left it, and the "
            f"cluster has been created since; planning from the state in {ENV_PREVIOUS_STDOUT}"
        )
        return fresh
    if checkpoint.base != base:
        reporter.say(
            f"ignoring checkpoint {checkpoints.path} (saved {checkpoint.saved_at}): it continues from another "
            f"state than the one in {ENV_PREVIOUS_STDOUT} (Pulumi's state moved on since); planning from the "
            "previous state instead"
        )
        return fresh
    reporter.protect(checkpoint.apimodel, previous.kubeconfig)
    reporter.say(
        f"continuing from checkpoint {checkpoints.path} (saved {checkpoint.saved_at}) that a failed update left: "
        f"already done: {'; '.join(checkpoint.steps_done) or 'nothing'}; those steps are not run again"
    )
    return StartingPoint(checkpoint.settings, checkpoint.steps_done, True, checkpoint.apimodel)


class Progress:
    """The steps of one update as they finish, each one saved to the cluster's checkpoint."""

    def __init__(
        self,
        *,
        checkpoints: CheckpointFile,
        base: str,
        secret: str,
        start: StartingPoint,
        previous: ClusterSettings,
        desired: ClusterSettings,
        reporter: Reporter,
    ) -> None:
        self.checkpoints = checkpoints
        self.base = base
        self.secret = secret
        self.desired = desired
        self._previous = previous
        self._reporter = reporter
        self._reached = start.settings
        self._done = list(start.steps_done)
        # What the file holds for this base: the checkpoint resumed from, then whatever this run saved.
        self._saved: StartingPoint | None = start if start.resumed else None

    def prepare(self) -> None:
        """Make sure progress can be kept before the first step changes the cluster."""
        prepare_checkpoint_directory(self.checkpoints)

    def record(self, step: ScaleStep | UpgradeStep, apimodel: dict[str, Any]) -> None:
        """Save the model a finished step left; a failed save costs a repeated step later, never the update."""
        if isinstance(step, ScaleStep):
            self._reached = dataclasses.replace(self._reached, agent_count=step.node_count)
        else:
            self._reached = dataclasses.replace(self._reached, kubernetes_version=step.kubernetes_version)
        self._done.append(_describe(step))
        saved_at = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            self.checkpoints.save(
                Checkpoint(self.base, self._reached, tuple(self._done), saved_at, apimodel), self.secret
            )
        except (OSError, CheckpointError) as err:
            self._reporter.say(
                f"warning: could not write checkpoint {self.checkpoints.path} ({type(err).__name__}: {err}); "
                "if a later step fails, the next `pulumi up` repeats the steps done so far"
            )
            return
        self._saved = StartingPoint(self._reached, tuple(self._done), True, apimodel)
        self._reporter.say(f"{_describe(step)}: done; progress saved in checkpoint {self.checkpoints.path}")

    def next_up(self) -> str:
        """What the next `pulumi up` with the same settings will do, for the error message of a failed update."""
        if self._saved is None:
            remaining = plan_change(self._previous, self.desired).steps
            return (
                "no progress of this update is kept in a checkpoint; the next `pulumi up` plans from the previous "
                f"state again and runs: {_describe_all(remaining)}"
            )
        remaining = plan_change(self._saved.settings, self.desired).steps
        return (
            f"progress is kept, encrypted, in checkpoint {self.checkpoints.path} (done: "
            f"{'; '.join(self._saved.steps_done)}); the next `pulumi up` continues from it and runs: "
            f"{_describe_all(remaining)}"
        )


def prepare_checkpoint_directory(checkpoints: CheckpointFile) -> None:
    """Make the checkpoint directory usable before AKS Engine changes anything, or stop saying how (exit 2)."""
    try:
        checkpoints.prepare_directory()
    except (OSError, CheckpointError) as err:
        raise LifecycleError(
            f"the checkpoint directory {checkpoints.path.parent} cannot be used ({type(err).__name__}: "
            f"{err}); set {ENV_CHECKPOINT_DIR} to a directory of yours (nothing was changed)",
            EXIT_INVALID,
        ) from None


def _describe_all(steps: Sequence[ScaleStep | UpgradeStep]) -> str:
    return "; ".join(_describe(step) for step in steps) or "no AKS Engine command, it only writes the state"


def _forget(checkpoints: CheckpointFile, why: str, reporter: Reporter) -> None:
    # Runs after the state is on stdout: a failure here must not turn a finished command into a failed one.
    try:
        checkpoints.remove()
    except OSError as err:
        reporter.say(f"warning: could not remove checkpoint {checkpoints.path} ({err.strerror}); remove it by hand")
        return
    reporter.say(f"checkpoint {checkpoints.path} removed: {why}")


# -- the three commands --------------------------------------------------------------------------------

Emit = Callable[[str], None]
"""Writes the new state document on stdout; called once, as the last thing that can fail has passed."""


def _invalid(what: str, problems: Sequence[Problem]) -> NoReturn:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    raise LifecycleError(f"{what}:\n{lines}", EXIT_INVALID)


def create(
    inp: LifecycleInput,
    environ: Mapping[str, str],
    reporter: Reporter,
    delete_group: ResourceGroupDeleter,
    emit: Emit,
) -> None:
    """Deploy a new cluster, or deploy again with the generated apimodel a failed deploy of it kept.

    AKS Engine writes the generated apimodel (the cluster's CA, certificates and keys) before it starts the ARM
    deployment that creates the VMs. A deploy that fails, or is stopped, after that point keeps the model in the
    cluster's encrypted checkpoint and leaves the resource group as it is: the next create with the same settings
    deploys again with that model, so the VMs already there get the certificates they trust (ARM cannot change a
    VM's custom data, so new certificates would be refused) and the incremental ARM deployment finishes the rest.

    The resource group is deleted, so that a retry starts clean, when nothing can be continued: a deploy that
    failed before writing the model, a state too large to hand back (a cluster Pulumi holds no state of could
    be neither updated nor deleted, and a retry would fail the same way), and the group of a kept deploy whose
    settings have changed since (AKS Engine cannot change the VMs it made).
    """
    settings = inp.desired_settings()
    problems = validate(settings, inp.other_nodes_in_subscription)
    if problems:
        _invalid("the cluster settings break these rules", problems)
    model = build_apimodel(settings)
    model_problems = validate_apimodel(model)
    if model_problems:  # only a broken builder gets here
        _invalid("the built apimodel breaks Azure Stack Hub rules", model_problems)
    engine = AksEngine(environ, reporter)
    engine.check_version()
    deploy = Deploy(inp, settings, reporter, delete_group)
    deploy.prepare()
    kept = deploy.kept()
    reporter.say(
        f"deploying cluster {settings.dns_prefix} (Kubernetes {settings.kubernetes_version}, "
        f"{settings.master_count} control-plane + {settings.agent_count} worker nodes) into resource group "
        f"{settings.resource_group} at {settings.location}"
    )
    with private_workdir(reporter, environ) as workdir:
        api_model = workdir / "apimodel.json"
        out = workdir / "_output" / settings.dns_prefix
        given = kept.apimodel if kept is not None else model
        write_private_json(api_model, with_service_principal_secret(given, inp.client_secret))
        try:
            engine.run(CommandLines(engine.binary, settings, inp.client_secret).deploy(api_model, out), workdir)
            apimodel, kubeconfig = read_output(out, settings)
        except LifecycleError as failure:
            deploy.failed(failure, out / "apimodel.json", resumed=kept is not None)
        except SystemExit:
            # Stopped (Ctrl-C, SIGTERM) while AKS Engine ran: keep what it wrote, then stop as asked.
            deploy.stopped(out / "apimodel.json")
            raise
        try:
            document = state_document(state_from_output(settings, apimodel, kubeconfig), reporter)
        except LifecycleError as failure:
            deploy.start_clean(failure)
    emit(document)
    if deploy.checkpoints.path.exists():
        _forget(deploy.checkpoints, "the deploy is complete", reporter)


class Deploy:
    """What a create keeps, continues or cleans up around AKS Engine's `deploy`."""

    def __init__(
        self,
        inp: LifecycleInput,
        settings: ClusterSettings,
        reporter: Reporter,
        delete_group: ResourceGroupDeleter,
    ) -> None:
        self.inp = inp
        self.settings = settings
        self.checkpoints = CheckpointFile.for_cluster(
            inp.checkpoint_dir, settings.subscription_id, settings.resource_group
        )
        self._reporter = reporter
        self._delete_group = delete_group
        reporter.allow(str(self.checkpoints.path))

    def prepare(self) -> None:
        """Make sure a failed deploy's model could be kept, before AKS Engine creates anything."""
        prepare_checkpoint_directory(self.checkpoints)

    def kept(self) -> Checkpoint | None:
        """The checkpoint of a failed deploy of these very settings, to deploy again with; else None.

        A failed deploy of other settings left VMs that the new model's certificates would not fit: its resource
        group is deleted first (it holds nothing but what that deploy made), and the checkpoint with it.
        """
        group = self.settings.resource_group
        try:
            found = self.checkpoints.load(self.inp.client_secret)
        except CheckpointError as err:
            self._reporter.say(
                f"ignoring checkpoint {self.checkpoints.path}: {err}; deploying with new certificates (if a failed "
                f"deploy left VMs in resource group {group}, they will refuse them: then delete the group and the "
                "checkpoint, and run `pulumi up` again)"
            )
            return None
        if found is None:
            return None
        if found.operation != "deploy":
            self._reporter.say(
                f"ignoring checkpoint {self.checkpoints.path} (saved {found.saved_at}): an update of an earlier "
                f"cluster in resource group {group} left it"
            )
            return None
        if found.base == settings_digest(self.settings):
            self._reporter.protect(found.apimodel, "")
            self._reporter.say(
                f"continuing the deploy that failed before (saved {found.saved_at}): deploying again with the "
                f"generated apimodel kept in checkpoint {self.checkpoints.path}, whose certificates the VMs it "
                "created already trust"
            )
            return found
        changed = ", ".join(_changed_fields(found.settings, self.settings)) or "the settings"
        self._reporter.say(
            f"checkpoint {self.checkpoints.path} keeps a failed deploy of other settings (changed since: {changed}); "
            f"AKS Engine cannot change the VMs it created, so resource group {group} is deleted first"
        )
        self._delete(f"a failed deploy of other settings left it ({changed} changed since)")
        _forget(self.checkpoints, f"resource group {group} of the failed deploy is deleted", self._reporter)
        return None

    def failed(self, failure: LifecycleError, generated: Path, *, resumed: bool) -> NoReturn:
        """Keep the generated model AKS Engine wrote, or delete the group when there is nothing to continue."""
        group = self.settings.resource_group
        if self._keep(generated):
            raise LifecycleError(
                f"{failure}\nAKS Engine had written the generated apimodel (the cluster's CA and certificates) "
                f"before it failed: it is kept, encrypted, in checkpoint {self.checkpoints.path}, and resource group "
                f"{group} is left as it is. Fix the cause named above and run `pulumi up` again with the same "
                "settings: it deploys again with that apimodel, which the VMs already created trust. To start "
                f"over instead, delete resource group {group} and the checkpoint file.",
                failure.exit_code,
            ) from None
        if resumed:
            raise LifecycleError(
                f"{failure}\nthe generated apimodel of the first failed deploy stays in checkpoint "
                f"{self.checkpoints.path}, and resource group {group} is left as it is: run `pulumi up` again with "
                f"the same settings to deploy again with it, or delete the group and the checkpoint to start over.",
                failure.exit_code,
            ) from None
        self._reporter.say("AKS Engine failed before it wrote the generated apimodel: there is nothing to continue")
        self.start_clean(failure)

    def stopped(self, generated: Path) -> None:
        """Keep the generated model of a deploy stopped by a signal (the group stays for the next create)."""
        if self._keep(generated):
            self._reporter.say(
                f"stopped: the generated apimodel is kept in checkpoint {self.checkpoints.path}; the next "
                f"`pulumi up` with the same settings deploys again with it into resource group "
                f"{self.settings.resource_group}"
            )

    def start_clean(self, failure: LifecycleError) -> NoReturn:
        """Delete the resource group (and any checkpoint of it) so that a retry starts clean; raise `failure`."""
        group = self.settings.resource_group
        self._reporter.say(f"deploy failed; deleting resource group {group} so a retry starts clean")
        try:
            self._delete_group(self.inp.hub_access(self.settings), group)
        except Exception as cleanup:  # noqa: BLE001 - a failed cleanup must not hide the failed deploy
            raise LifecycleError(
                f"{failure}\nresource group {group} could not be deleted either "
                f"({type(cleanup).__name__}: {cleanup}); delete it before retrying",
                failure.exit_code,
            ) from None
        if self.checkpoints.path.exists():
            _forget(self.checkpoints, f"resource group {group} is deleted", self._reporter)
        raise failure

    def _keep(self, generated: Path) -> bool:
        """Save the generated model AKS Engine left, if it left one; True when it is kept."""
        apimodel = _generated_model(generated)
        if apimodel is None:
            return False
        self._reporter.protect(apimodel, "")
        saved_at = datetime.now(UTC).isoformat(timespec="seconds")
        checkpoint = Checkpoint(
            settings_digest(self.settings), self.settings, (), saved_at, apimodel, operation="deploy"
        )
        try:
            self.checkpoints.save(checkpoint, self.inp.client_secret)
        except (OSError, CheckpointError) as err:
            self._reporter.say(
                f"warning: could not keep the generated apimodel in checkpoint {self.checkpoints.path} "
                f"({type(err).__name__}: {err})"
            )
            return False
        return True

    def _delete(self, why: str) -> None:
        group = self.settings.resource_group
        try:
            self._delete_group(self.inp.hub_access(self.settings), group)
        except LifecycleError:
            raise
        except Exception as err:  # noqa: BLE001 - whatever the ARM client raises becomes one clear error
            raise LifecycleError(
                f"resource group {group} could not be deleted ({type(err).__name__}: {err}); {why}. Delete it and "
                f"checkpoint {self.checkpoints.path}, or restore the settings of that deploy, then run `pulumi up` "
                "again (nothing was deployed)"
            ) from None


def _generated_model(path: Path) -> dict[str, Any] | None:
    """The generated apimodel AKS Engine wrote at `path`: one with the cluster's certificates, else None."""
    try:
        apimodel = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(apimodel, dict):
        return None
    props = apimodel.get("properties")
    profile = props.get("certificateProfile") if isinstance(props, dict) else None
    return apimodel if isinstance(profile, dict) and profile.get("caPrivateKey") else None


def _changed_fields(before: ClusterSettings, after: ClusterSettings) -> list[str]:
    """Names of the settings that differ (values may be secret-adjacent, so only the names)."""
    return [f.name for f in dataclasses.fields(after) if getattr(before, f.name) != getattr(after, f.name)]


def update(inp: LifecycleInput, environ: Mapping[str, str], reporter: Reporter, emit: Emit) -> None:
    """Scale and/or upgrade the cluster recorded in the previous state (or a checkpoint) to the desired settings."""
    if inp.previous_state is None:
        raise LifecycleError(f"update needs the previous state in {ENV_PREVIOUS_STDOUT}", EXIT_INVALID)
    previous = ClusterState.from_json(inp.previous_state)
    reporter.protect(previous.apimodel, previous.kubeconfig)
    settings = inp.desired_settings()
    checkpoints = CheckpointFile.for_cluster(
        inp.checkpoint_dir, previous.settings.subscription_id, previous.settings.resource_group
    )
    reporter.allow(str(checkpoints.path))
    base = state_digest(inp.previous_state)
    start = starting_point(previous, base, checkpoints, inp.client_secret, reporter)
    problems = validate(settings, inp.other_nodes_in_subscription, current_version=start.settings.kubernetes_version)
    if problems:
        _invalid("the cluster settings break these rules", problems)
    plan = plan_change(start.settings, settings)
    if plan.refused:
        _invalid("these changes cannot be made to a running cluster (nothing was changed)", plan.refusals)
    engine = AksEngine(environ, reporter)
    engine.check_version()
    if previous.aks_engine_version != AKS_ENGINE_VERSION:
        reporter.say(
            f"the cluster was last handled by AKS Engine {previous.aks_engine_version}; "
            f"continuing with {AKS_ENGINE_VERSION}"
        )
    apimodel = _with_current_secret(start.apimodel, inp.client_secret, reporter)
    progress = Progress(
        checkpoints=checkpoints,
        base=base,
        secret=inp.client_secret,
        start=start,
        previous=previous.settings,
        desired=settings,
        reporter=reporter,
    )
    try:
        if plan.steps:
            reporter.say("plan: " + "; ".join(_describe(step) for step in plan.steps))
            progress.prepare()
            with private_workdir(reporter, environ) as workdir:
                apimodel = _run_steps(
                    plan.steps,
                    apimodel,
                    engine=engine,
                    progress=progress,
                    apiserver=previous.api_server_fqdn,
                    workdir=workdir,
                )
        else:
            reporter.say(
                "nothing left to change on the cluster" if start.resumed else "nothing to change on the cluster"
            )
        document = state_document(state_from_output(settings, apimodel, previous.kubeconfig), reporter)
    except LifecycleError as failure:
        raise LifecycleError(f"{failure}\n{progress.next_up()}", failure.exit_code) from None
    emit(document)
    if checkpoints.path.exists():
        _forget(checkpoints, "the update is complete", reporter)


def _run_steps(
    steps: Sequence[ScaleStep | UpgradeStep],
    apimodel: dict[str, Any],
    *,
    engine: AksEngine,
    progress: Progress,
    apiserver: str,
    workdir: Path,
) -> dict[str, Any]:
    """Run the steps one after the other on the generated model; the model the last step left."""
    desired = progress.desired
    model_path = workdir / "_output" / desired.dns_prefix / "apimodel.json"
    write_private_json(model_path, apimodel)
    lines = CommandLines(engine.binary, desired, progress.secret)
    for step in steps:
        engine.run(lines.step(model_path, step, apiserver), workdir)
        try:
            apimodel = json.loads(model_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise LifecycleError(
                f"the generated apimodel is unreadable after step {_describe(step)!r}: {err}"
            ) from None
        progress.record(step, apimodel)
    return apimodel


def _with_current_secret(apimodel: dict[str, Any], secret: str, reporter: Reporter) -> dict[str, Any]:
    # Nodes that scale or upgrade create get their cloud-provider credentials from the generated model, so
    # it must carry today's secret; nodes already running keep theirs until an upgrade replaces them.
    stored = apimodel.get("properties", {}).get("servicePrincipalProfile", {}).get("secret")
    if stored != secret:
        reporter.say(
            "the service principal secret differs from the one the cluster was built with: nodes created "
            "from now on get the new one; existing nodes keep the old one until an upgrade replaces them"
        )
    return with_service_principal_secret(apimodel, secret)


def _describe(step: ScaleStep | UpgradeStep) -> str:
    if isinstance(step, ScaleStep):
        return f"scale pool {step.node_pool} to {step.node_count} nodes"
    return f"upgrade to Kubernetes {step.kubernetes_version}"


def delete(inp: LifecycleInput, reporter: Reporter, delete_group: ResourceGroupDeleter) -> None:
    """Delete the cluster's resource group (every VM, disk, NIC, load balancer and IP AKS Engine made)."""
    if inp.previous_state is None:
        reporter.say("no cluster was recorded; nothing to delete")
        return
    previous = ClusterState.from_json(inp.previous_state)
    reporter.protect(previous.apimodel, previous.kubeconfig)
    settings = previous.settings
    reporter.say(f"deleting resource group {settings.resource_group} of cluster {settings.dns_prefix}")
    try:
        delete_group(inp.hub_access(settings), settings.resource_group)
    except LifecycleError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the ARM client raises becomes one clear error
        raise LifecycleError(
            f"deleting resource group {settings.resource_group} failed ({type(err).__name__}: {err})"
        ) from None
    reporter.say(f"resource group {settings.resource_group} deleted")
    # Only once the cluster is gone: until then the checkpoint is what a later update continues from.
    checkpoints = CheckpointFile.for_cluster(inp.checkpoint_dir, settings.subscription_id, settings.resource_group)
    reporter.allow(str(checkpoints.path))
    if checkpoints.path.exists():
        _forget(checkpoints, "the cluster is deleted", reporter)


# -- entry point ---------------------------------------------------------------------------------------

COMMANDS = ("create", "update", "delete")


def run(
    command: str,
    environ: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    delete_group: ResourceGroupDeleter = delete_resource_group_with_arm,
) -> int:
    """Run one command; prints the state on success and returns the exit code."""
    scrubber = Scrubber()
    reporter = Reporter(stderr, scrubber, None)
    if command not in COMMANDS:
        reporter.say(f"usage: python -m aksengine.lifecycle {'|'.join(COMMANDS)}")
        return EXIT_INVALID

    def emit(document: str) -> None:
        stdout.write(document + "\n")
        stdout.flush()

    try:
        inp = LifecycleInput.from_environ(environ)
        scrubber.add(inp.client_secret)
        for credential in proxy_credentials(environ):
            scrubber.add(credential)
        reporter = Reporter(stderr, scrubber, inp.log_file)
        if command == "create":
            create(inp, environ, reporter, delete_group, emit)
        elif command == "update":
            update(inp, environ, reporter, emit)
        else:
            delete(inp, reporter, delete_group)
    except LifecycleError as err:
        reporter.say(f"error: {err}")
        return err.exit_code
    except Exception as err:  # noqa: BLE001 - reported through the scrubber; a traceback would bypass it
        reporter.say(f"error: unexpected {type(err).__name__}: {err}")
        return EXIT_FAILED
    return 0


def proxy_credentials(environ: Mapping[str, str]) -> list[str]:
    """The user information of every proxy URL in the environment, as written and decoded, and its password alone."""
    found: list[str] = []
    for name in PROXY_VARIABLES:
        netloc = urlparse(environ.get(name) or "").netloc
        userinfo = netloc.rpartition("@")[0]
        if not userinfo:
            continue
        password = userinfo.partition(":")[2]
        found += [userinfo, unquote(userinfo), password, unquote(password)]
    return [value for value in dict.fromkeys(found) if value]


def read_proxy_line(line: str) -> dict[str, str]:
    """The optional second line of stdin: a JSON object of proxy variables; LifecycleError(2) naming what is wrong.

    The message never quotes the line: it holds the proxy's credentials.
    """
    if not line.strip():
        return {}
    try:
        document = json.loads(line)
    except json.JSONDecodeError:
        raise LifecycleError(
            "the second line of stdin is not JSON: expected the proxy variables", EXIT_INVALID
        ) from None
    if not isinstance(document, dict):
        raise LifecycleError("the second line of stdin must be a JSON object of proxy variables", EXIT_INVALID)
    unknown = sorted(set(document) - set(PROXY_VARIABLES))
    if unknown:
        raise LifecycleError(
            f"the second line of stdin may only set {', '.join(PROXY_VARIABLES)}; not {', '.join(unknown)}",
            EXIT_INVALID,
        )
    wrong = sorted(name for name, value in document.items() if not isinstance(value, str))
    if wrong:
        raise LifecycleError(f"the second line of stdin: {', '.join(wrong)} must be strings", EXIT_INVALID)
    return dict(document)


def _terminate(signum: int, _frame: object) -> None:
    # Ctrl-C in the terminal reaches this process (same process group) as SIGINT, a stop as SIGTERM: an
    # exception unwinds through `private_workdir`, which removes the keys. SIGKILL, which pulumi-command
    # sends when its context is cancelled, cannot be caught; the 0700 directory then stays in TMPDIR.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m aksengine.lifecycle <command>`."""
    args = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    environ = dict(os.environ)
    if not environ.get(ENV_CLIENT_SECRET) and not sys.stdin.isatty():
        environ[ENV_CLIENT_SECRET] = sys.stdin.readline().rstrip("\n")
        try:
            proxy = read_proxy_line(sys.stdin.readline())
        except LifecycleError as err:
            Reporter(sys.stderr, Scrubber([environ[ENV_CLIENT_SECRET]]), None).say(f"error: {err}")
            return err.exit_code
        environ.update(proxy)
        # This process talks to ARM itself (deleting a resource group): azure-core reads the proxy from os.environ.
        os.environ.update(proxy)
    return run(args[0] if len(args) == 1 else "", environ, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
