"""The offline engine: runs the real program of a stack under the Pulumi SDK's mock monitor.

One engine serves both the tests and `python -m preview`. It reads the real `Pulumi.<stack>.yaml`, gives every
resource deterministic, realistic outputs (ARM ids, an ingress address from 203.0.113.0/24, the computed properties
of the public-Azure resources in `AZURE_NATIVE_OUTPUTS`), and records what the program asked for: each resource's
type, name, parent, inputs and dependencies, taken from the registration request itself, plus the stack's outputs.
It decides nothing about the program; tests assert on what it records. A stack that reads other stacks through
StackReferences is run after those stacks (`run_stack_with_references`), so it sees their real offline outputs.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import pickle
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi
import yaml
from pulumi.output import Unknown
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from arm.resource import _outputs as arm_outputs
from arm.resource import declared_inputs
from preview.dynamic_host import PROVIDER_KEY as PROVIDER_KEY  # noqa: PLC0414 (re-exported, defined once)
from preview.dynamic_host import DynamicProviderHost
from preview.providers import (
    COMMAND_TYPE,
    DYNAMIC_TYPE,
    RANDOM_PASSWORD_TYPE,
    STACK_REFERENCE_TYPE,
    TLS_PRIVATE_KEY_TYPE,
    Diff,
    Op,
    PreviewContext,
    changed_paths,
    has_unknowns,
    input_diff,
    preview_outputs,
    provider_diff,
    under,
)
from preview.stack_file import read_stack_config
from preview.state import SECRET_SIG as SECRET_SIG  # noqa: PLC0414 (re-exported, defined once)
from preview.state import SIG_KEY as SIG_KEY  # noqa: PLC0414 (re-exported, defined once)
from preview.state import (
    ResourceState,
    StackState,
    from_export_outputs,
    provider_urn,
    to_export_outputs,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
REDACTED = "[secret]"
Mode = Literal["up", "preview"]


@dataclass
class Registration:
    """One resource as the program registered it."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    dependencies: list[str]
    provider: str = ""
    id: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    """The outputs the program saw (in a preview, unknowns are left out)."""
    op: Op = "create"
    """The step: create, same, update or replace (against the prior state)."""
    diff: Diff = field(default_factory=Diff)
    """What the provider decided, with the rule's source."""
    old: ResourceState | None = None
    """The resource in the prior state, if it was there."""

    @property
    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped (for assertions on what the program decided)."""
        return dict(unwrap(self.inputs))


@dataclass
class StackRun:
    """Everything one offline run of a stack recorded."""

    project: str
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]
    mode: Mode = "up"
    deleted: list[ResourceState] = field(default_factory=list)
    """Resources of the prior state the program no longer declares (delete steps)."""
    errors: list[str] = field(default_factory=list)
    """What makes the engine refuse the plan (protected replacements and deletions, check failures)."""
    refused: list[str] = field(default_factory=list)
    """The protected resources the plan replaces or deletes, which the engine refuses (URNs, in plan order)."""
    prior_given: bool = False
    """Whether the run started from a prior state (an update) rather than from nothing."""
    prior_outputs: dict[str, Any] = field(default_factory=dict)
    """The stack outputs of the prior state."""

    def state(self) -> StackState:
        """The state this offline `up` leaves, for a later preview (a preview has none: its values are unknown)."""
        if self.mode != "up":
            raise ValueError("only an offline up leaves a state; this run was a preview")
        return StackState(
            self.project,
            self.stack,
            tuple(
                ResourceState(
                    urn=r.urn, type=r.type, custom=r.custom, id=r.id, inputs=r.inputs, outputs=r.state,
                    parent=r.parent, protect=r.protect, provider=r.provider, dependencies=tuple(r.dependencies),
                )
                for r in self.resources
            ),
            self.outputs,
        )  # fmt: skip

    def steps(self) -> dict[str, list[str]]:
        """URNs by step (create, same, update, replace, delete)."""
        found: dict[str, list[str]] = {}
        for r in self.resources:
            found.setdefault(r.op, []).append(r.urn)
        for d in self.deleted:
            found.setdefault("delete", []).append(d.urn)
        return found

    def by_type(self, type_: str) -> list[Registration]:
        """Registered resources of one type token, in registration order."""
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registration:
        """The resource with this logical name (raises if there is none or several)."""
        (found,) = [r for r in self.resources if r.name == name]
        return found

    def arm(self) -> list[Registration]:
        """The hub-side ARM resources (dynamic resources carrying an ARM resource id)."""
        return [r for r in self.by_type(DYNAMIC_TYPE) if "resource_id" in r.inputs]

    @property
    def plain_outputs(self) -> dict[str, Any]:
        """Stack outputs with secrets unwrapped."""
        return dict(unwrap(self.outputs))


# --- secrets ------------------------------------------------------------------------------------------------


def is_secret(value: Any) -> bool:
    """Whether a deserialized value is wrapped in Pulumi's secret envelope."""
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def is_unknown(value: Any) -> bool:
    """Whether a deserialized value is, or holds, a value only known after a deployment."""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(is_unknown(v) for v in value)
    return False


def unwrap(value: Any) -> Any:
    """The value with every secret envelope replaced by what it holds."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """The value with every secret replaced by "[secret]" (what a person or a log may see)."""
    if is_secret(value):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


# --- config -------------------------------------------------------------------------------------------------


def project_name(project_dir: Path = PROJECT_DIR) -> str:
    """The project's name from Pulumi.yaml."""
    return str(yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"])


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every stack with a `Pulumi.<stack>.yaml` file."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> tuple[dict[str, Any], set[str]]:
    """The stack file's config as Pulumi passes it to a program, and which keys are secret.

    `secure:` values cannot be decrypted offline; each becomes a placeholder marked secret, so the program sees a
    secret exactly where a real run would.
    """
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name}; stacks: {', '.join(stack_names(project_dir))}")
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    # Read as Pulumi reads it: a broken file is refused with its lines (StackFileError).
    for key, value in read_stack_config(path, project_name(project_dir)).items():
        plain, secret = _decrypt_offline(key, value)
        values[key] = plain
        if secret:
            secrets.add(key)
    return values, secrets


def _decrypt_offline(key: str, value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict) and set(value) == {"secure"}:
        return f"offline-secret-{key.rsplit(':', maxsplit=1)[-1]}", True
    if isinstance(value, dict):
        pairs = {k: _decrypt_offline(key, v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        items = [_decrypt_offline(key, v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def as_runtime_config(values: Mapping[str, Any]) -> dict[str, str]:
    """Config values the way the language host hands them over: strings, structured values as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


# --- deterministic outputs ----------------------------------------------------------------------------------


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "big")


def offline_ip(seed: str) -> str:
    """A stable address in 203.0.113.0/24 (TEST-NET-3) for a seed such as an ARM resource id."""
    return f"203.0.113.{10 + _digest(seed) % 240}"


def _arm_state(inputs: dict[str, Any]) -> dict[str, Any]:
    resource_id = str(unwrap(inputs["resource_id"]))
    properties = dict(unwrap(inputs.get("properties")) or {})
    properties["provisioningState"] = "Succeeded"
    segments = resource_id.split("/")
    if "/publicipaddresses/" in resource_id.lower():
        properties["ipAddress"] = offline_ip(resource_id)
        label = properties.get("dnsSettings", {}).get("domainNameLabel")
        if label:
            endpoint = str(unwrap(inputs["connection"])["arm_endpoint"])
            # management.<region>.<fqdn> -> <label>.<region>.cloudapp.<fqdn>
            _, region, domain = endpoint.removeprefix("https://").split("/")[0].split(".", 2)
            properties["dnsSettings"] = {
                "domainNameLabel": label,
                "fqdn": f"{label}.{region}.cloudapp.{domain}",
            }
    server = {"name": segments[-1], "properties": properties, "etag": f'W/"{_digest(resource_id):016x}"'}
    # What the provider's create returns for ARM's answer (the provider's own function), secrets marked again
    # as the engine does for a provider that does not accept secrets (provider_plugin.go `annotateSecrets`).
    return _annotate_secrets(arm_outputs(declared_inputs(inputs), server), inputs)


# --- public Azure (pulumi-azure-native) ---------------------------------------------------------------------

# Used when the stack's config does not pin `azure-native:subscriptionId` / `azure-native:tenantId`.
OFFLINE_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001"
OFFLINE_TENANT_ID = "00000000-0000-4000-8000-000000000002"
OFFLINE_CLIENT_ID = "00000000-0000-4000-8000-000000000003"


def offline_guid(seed: str) -> str:
    """A stable GUID for a seed (workspace ids, role assignment names)."""
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _registry(i: dict[str, Any]) -> dict[str, Any]:
    return {"loginServer": f"{str(i['registryName']).lower()}.azurecr.io"}


def _storage_account(i: dict[str, Any]) -> dict[str, Any]:
    name = i["accountName"]
    services = ("blob", "dfs", "file", "queue", "table", "web")
    return {
        "primaryEndpoints": {s: f"https://{name}.{'z6.web' if s == 'web' else s}.core.windows.net/" for s in services}
    }


def _workspace(i: dict[str, Any]) -> dict[str, Any]:
    return {"customerId": offline_guid(f"workspace|{i['workspaceName']}")}


def _data_collection_endpoint(i: dict[str, Any]) -> dict[str, Any]:
    name, region = i["dataCollectionEndpointName"], i.get("location", "westeurope")
    host = f"{name}-{_hex(name, 4)}.{region}-1"
    return {
        "logsIngestion": {"endpoint": f"https://{host}.ingest.monitor.azure.com"},
        "configurationAccess": {"endpoint": f"https://{host}.handler.control.monitor.azure.com"},
    }


def _data_collection_rule(i: dict[str, Any]) -> dict[str, Any]:
    return {"immutableId": f"dcr-{_hex(i['dataCollectionRuleName'], 32)}"}


def _dns_zone(i: dict[str, Any]) -> dict[str, Any]:
    n = 1 + _digest(i["zoneName"]) % 9
    return {"nameServers": [f"ns{k}-0{n}.azure-dns.{tld}." for k, tld in enumerate(("com", "net", "org", "info"), 1)]}


def _record_set(i: dict[str, Any]) -> dict[str, Any]:
    return {"fqdn": f"{i['relativeRecordSetName']}.{i['zoneName']}."}


def _traffic_manager_profile(i: dict[str, Any]) -> dict[str, Any]:
    dns = dict(i.get("dnsConfig") or {})
    return {"dnsConfig": {**dns, "fqdn": f"{dns.get('relativeName')}.trafficmanager.net"}}


def _nothing(_: dict[str, Any]) -> dict[str, Any]:
    return {}


_STORAGE = "{group}/providers/Microsoft.Storage/storageAccounts/{accountName}"
_REGISTRY = "{group}/providers/Microsoft.ContainerRegistry/registries/{registryName}"
_WORKSPACE = "{group}/providers/Microsoft.OperationalInsights/workspaces/{workspaceName}"

# type token -> (ARM id template over the inputs plus {group}, computed outputs Azure would return).
AZURE_NATIVE_OUTPUTS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "azure-native:resources:ResourceGroup": ("{group}", _nothing),
    "azure-native:containerregistry:Registry": (_REGISTRY, _registry),
    "azure-native:containerregistry:ScopeMap": (_REGISTRY + "/scopeMaps/{scopeMapName}", _nothing),
    "azure-native:containerregistry:Token": (_REGISTRY + "/tokens/{tokenName}", _nothing),
    "azure-native:storage:StorageAccount": (_STORAGE, _storage_account),
    "azure-native:storage:BlobServiceProperties": (_STORAGE + "/blobServices/default", _nothing),
    "azure-native:storage:BlobContainer": (_STORAGE + "/blobServices/default/containers/{containerName}", _nothing),
    "azure-native:storage:ManagementPolicy": (_STORAGE + "/managementPolicies/default", _nothing),
    "azure-native:storage:BlobContainerImmutabilityPolicy": (
        _STORAGE + "/blobServices/default/containers/{containerName}/immutabilityPolicies/{immutabilityPolicyName}",
        _nothing,
    ),
    "azure-native:operationalinsights:Workspace": (_WORKSPACE, _workspace),
    "azure-native:operationalinsights:Table": (_WORKSPACE + "/tables/{tableName}", _nothing),
    "azure-native:monitor:DataCollectionEndpoint": (
        "{group}/providers/Microsoft.Insights/dataCollectionEndpoints/{dataCollectionEndpointName}",
        _data_collection_endpoint,
    ),
    "azure-native:monitor:DataCollectionRule": (
        "{group}/providers/Microsoft.Insights/dataCollectionRules/{dataCollectionRuleName}",
        _data_collection_rule,
    ),
    "azure-native:authorization:RoleAssignment": (
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}",
        _nothing,
    ),
    "azure-native:dns:Zone": ("{group}/providers/Microsoft.Network/dnsZones/{zoneName}", _dns_zone),
    "azure-native:dns:RecordSet": (
        "{group}/providers/Microsoft.Network/dnsZones/{zoneName}/{recordType}/{relativeRecordSetName}",
        _record_set,
    ),
    "azure-native:trafficmanager:Profile": (
        "{group}/providers/Microsoft.Network/trafficManagerProfiles/{profileName}",
        _traffic_manager_profile,
    ),
}


def offline_password(name: str, length: int) -> str:
    """A stand-in for a generated password: letters and digits derived from the name (not a secret)."""
    digest = hashlib.shake_256(name.encode()).hexdigest(length)
    return digest[:length]


def _ssh_key(name: str) -> dict[str, Any]:
    # A well-formed OpenSSH RSA public key (wire format: type, exponent, modulus) with a modulus derived from
    # the name. No private key exists offline: the private outputs say so instead of holding key material.
    modulus = b"\x00\xc0" + hashlib.sha512(name.encode()).digest() * 4
    parts = [b"ssh-rsa", (65537).to_bytes(3, "big"), modulus]
    blob = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    missing = "(no private key is made in an offline preview)"
    return {
        "publicKeyOpenssh": f"ssh-rsa {base64.b64encode(blob).decode()}\n",
        "privateKeyOpenssh": missing,
        "privateKeyPem": missing,
        "publicKeyFingerprintSha256": "SHA256:" + _hex(name, 43),
    }


def _generated(type_: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What a provider makes up on create: keys, passwords, the cluster's state on the command's stdout."""
    if type_ == TLS_PRIVATE_KEY_TYPE:
        return _ssh_key(name)
    if type_ == RANDOM_PASSWORD_TYPE:
        return {"result": offline_password(name, int(inputs["length"]))}
    if type_ == COMMAND_TYPE:
        environment = unwrap(inputs.get("environment")) or {}
        desired = environment.get("AKSENGINE_DESIRED")
        # Another command ran nothing offline: it printed nothing.
        return {"stdout": _aks_engine_stdout(desired) if isinstance(desired, str) else "", "stderr": ""}
    return {}


def _aks_engine_stdout(desired_json: str) -> str:
    """What a successful `python -m aksengine.lifecycle create` prints for these desired settings.

    The state is built by the lifecycle's own functions from the model AKS Engine would be given, with a
    kubeconfig pointing at the name AKS Engine gives the API server; no certificate exists offline.
    """
    from aksengine.apimodel import build_apimodel, hub_domain, settings_from_dict  # noqa: PLC0415
    from aksengine.lifecycle import state_from_output  # noqa: PLC0415

    cluster = settings_from_dict(json.loads(desired_json)["settings"])
    server = f"https://{cluster.dns_prefix}.{cluster.location}.cloudapp.{hub_domain(cluster)}"
    name = cluster.dns_prefix
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": "b2ZmbGluZQ=="}}],
        "users": [{"name": f"{name}-admin", "user": {"client-certificate-data": "b2ZmbGluZQ==",
                                                      "client-key-data": "b2ZmbGluZQ=="}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
        "current-context": name,
    }  # fmt: skip
    return state_from_output(cluster, build_apimodel(cluster), json.dumps(kubeconfig)).to_json()


class OfflineMocks(pulumi.runtime.Mocks):
    """Deterministic, realistic outputs for every resource type the project uses."""

    def __init__(
        self,
        stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        missing_references: set[str] | None = None,
    ) -> None:
        self.stack_outputs = dict(stack_outputs or {})
        self.missing_references = missing_references
        provider = {k.removeprefix("azure-native:"): v for k, v in (config or {}).items()}
        self.azure_client = {
            "subscriptionId": str(provider.get("subscriptionId") or OFFLINE_SUBSCRIPTION_ID),
            "tenantId": str(provider.get("tenantId") or OFFLINE_TENANT_ID),
            "clientId": str(provider.get("clientId") or OFFLINE_CLIENT_ID),
            "objectId": offline_guid("deploying-principal"),
        }

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ == DYNAMIC_TYPE and "resource_id" in inputs:
            return str(unwrap(inputs["resource_id"])), _arm_state(inputs)
        if args.typ == STACK_REFERENCE_TYPE:
            return self._stack_reference(str(inputs["name"]))
        if args.typ in AZURE_NATIVE_OUTPUTS:
            return self._azure_native(args.typ, args.name, inputs)
        return f"{args.name}-offline-id", {**inputs, **_generated(args.typ, args.name, inputs)}

    def _azure_native(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        template, computed = AZURE_NATIVE_OUTPUTS[typ]
        plain = unwrap(inputs)
        fields = {
            # azure-native names a role assignment with a random GUID when the program gives none.
            "roleAssignmentName": offline_guid(f"role-assignment|{name}"),
            **plain,
            "group": f"/subscriptions/{self.azure_client['subscriptionId']}/resourceGroups/"
            f"{plain.get('resourceGroupName', '')}",
        }
        resource_id = template.format(**fields)
        return resource_id, {**inputs, **computed(plain), "name": resource_id.rsplit("/", 1)[-1]}

    def _stack_reference(self, name: str) -> tuple[str, dict[str, Any]]:
        short = stack_reference_short_name(name)
        if short not in self.stack_outputs:
            if self.missing_references is None:
                raise KeyError(f"stack reference {name!r}: no offline run of stack {short!r} was provided")
            # Recorded, answered with no outputs; run_stack_with_references runs that stack and tries again.
            self.missing_references.add(short)
            return name, {"name": name, "outputs": {}, "secretOutputNames": []}
        # A deployed stack's outputs are all known. Values its offline preview cannot know are left out, as if
        # not exported yet: one unknown value would otherwise make every output of the reference unknown.
        outputs = {k: v for k, v in self.stack_outputs[short].items() if not is_unknown(v)}
        secret_names = [k for k, v in outputs.items() if is_secret(v)]
        return name, {"name": name, "outputs": unwrap(outputs), "secretOutputNames": secret_names}

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        match args.token:
            case "azure-native:authorization:getClientConfig":
                return dict(self.azure_client), []
            case "azure-native:storage:listStorageAccountServiceSAS":
                sas = unwrap(args.args)
                signature = _hex(json.dumps(sas, sort_keys=True, default=str), 43)
                answer = (
                    f"sv=2022-11-02&sr={sas.get('resource', 'c')}&sp={sas.get('permissions', 'r')}"
                    f"&se={sas.get('sharedAccessExpiryTime', '')}&spr=https&sig=offline{signature}"
                )
                return {"serviceSasToken": answer}, []
        # An invoke nobody planned for must not quietly return nothing.
        raise NotImplementedError(f"the offline engine has no answer for the invoke {args.token}")


def stack_reference_short_name(name: str) -> str:
    """The stack part of a StackReference name (`org/project/stack` or `stack`), i.e. its `Pulumi.<stack>.yaml`."""
    return name.rsplit("/", maxsplit=1)[-1]


@dataclass(frozen=True)
class ProviderStatus:
    """What resources using an explicit provider inherit from its step."""

    replaced: bool
    config_known: bool


class OfflineMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, answering each registration the way the engine and its provider would.

    In an `up`, every resource ends with known outputs (OfflineMocks); in a preview, each resource gets the step
    its provider decides against the prior state (none: create) and the outputs the engine hands the program
    for that step, unknowns included. The engine's own rules on top, each from pulumi/pulumi
    pkg/resource/deploy/step_generator.go: a resource whose explicit provider is replaced is replaced
    (`providerChanged`), a provider whose configuration is unknown gives no diff and the engine diffs inputs
    (`diffResource`), a protected resource cannot be replaced (checked in previews too) nor deleted
    (step.go `DeleteStep.Apply`). Dynamic resources are checked and diffed by the SDK's own dynamic-provider
    host over gRPC.
    """

    def __init__(self, offline_mocks: OfflineMocks, *, mode: Mode, prior: StackState | None) -> None:
        super().__init__(offline_mocks)
        self.offline_mocks = offline_mocks
        self.mode = mode
        self.prior = prior.by_urn() if prior is not None else {}
        self.registrations: dict[str, Registration] = {}
        self.stack_outputs: dict[str, Any] = {}
        self.errors: list[str] = []
        self.refused: list[str] = []
        self.providers: dict[str, ProviderStatus] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]
        urn = self.make_urn(request.parent, request.type, request.name)
        goal = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            protect=bool(request.protect),
            inputs=engine_value(rpc.deserialize_properties(request.object, keep_unknowns=True)),
            dependencies=sorted(set(request.dependencies)),
            provider=request.provider,
        )
        old = self.prior.get(urn)
        goal.old = old
        goal.diff, checked = self._decide(goal, old)
        goal.op = "create" if old is None else goal.diff.op
        # step_generator.go: `if new.Protect && old.Protect` ("we do allow unprotecting and replacing to happen in
        # a single update cycle").
        if goal.op == "replace" and old is not None and old.protect and goal.protect:
            self.refused.append(urn)
            self._fail(f"unable to replace resource {urn}\nas it is currently marked for protection")
        if goal.type.startswith("pulumi:providers:"):
            self.providers[urn] = ProviderStatus(goal.op == "replace", not has_unknowns(goal.inputs))
        goal.id, goal.state = self._outputs(goal, old, checked)
        self.registrations[urn] = goal
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, goal.id, goal.state)
        wire = _sync_await(rpc.serialize_properties(_with_unknown_sentinels(goal.state), {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=goal.id, object=wire)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = engine_value(rpc.deserialize_properties(request.outputs, keep_unknowns=True))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    def deletions(self) -> list[ResourceState]:
        """Resources of the prior state the program no longer declares; a protected one is an error."""
        gone = [r for urn, r in self.prior.items() if urn not in self.registrations]
        for resource in gone:
            if resource.protect:
                self.refused.append(resource.urn)
                self._fail(f"resource {resource.urn} cannot be deleted\nbecause it is protected")
        return gone

    def _fail(self, message: str) -> None:
        # A preview reports the error, goes on to show the whole plan, then fails; an update stops at the first
        # error (run_stack raises it once the program has finished, so the SDK's threads end quietly).
        self.errors.append(message)

    def _decide(self, goal: Registration, old: ResourceState | None) -> tuple[Diff, dict[str, Any]]:
        """The provider's Check and Diff (or the engine's rule standing in for them)."""
        if not goal.custom:
            return Diff(), goal.inputs
        status = self.providers.get(provider_urn(goal.provider))
        if status is not None and not status.config_known:
            # provider_plugin.go: Check returns the news unchanged when the configuration is unknown.
            checked = goal.inputs
        elif goal.type == DYNAMIC_TYPE:
            checked = self._dynamic_check(goal, old)
        else:
            checked = goal.inputs
        if old is None:
            return Diff(), checked
        if status is not None and status.replaced:
            # step_generator.go `diff` asks providerChanged before the provider's own Diff.
            return Diff(("provider",), ("provider",), source="step_generator.go providerChanged"), checked
        if status is not None and not status.config_known:
            # provider_plugin.go Diff gives DiffUnknown; step_generator.go diffResource then diffs the inputs.
            return input_diff(old.inputs, checked, "engine input diff (provider config unknown)"), checked
        if goal.type == DYNAMIC_TYPE:
            return self._dynamic_diff(goal, old, checked), checked
        return provider_diff(
            goal.type, old.inputs, old.outputs, checked, path_parameters=_azure_path_parameters(goal.type)
        ), checked

    def _dynamic_check(self, goal: Registration, old: ResourceState | None) -> dict[str, Any]:
        inputs, failures = dynamic_host().check(goal.inputs, old.inputs if old else {}, urn=goal.urn)
        for prop, reason in failures:
            where = f"property {prop}: " if prop else ""
            self._fail(f"{goal.type} resource '{goal.name}' has a problem: {where}{reason}")
        # The host returns plain values: secrets keep their marking where the names match, as the engine's
        # annotateSecrets does for providers that do not accept secrets (provider_plugin.go).
        return dict(engine_value(_annotate_secrets(_unknowns_from_sentinels(inputs), goal.inputs)))

    def _dynamic_diff(self, goal: Registration, old: ResourceState, checked: dict[str, Any]) -> Diff:
        answer = dynamic_host().diff(old.id, old.outputs, checked, old_inputs=old.inputs, urn=goal.urn)
        shown = tuple(p for p in changed_paths(old.inputs, checked) if not under(p, (PROVIDER_KEY,)))
        if answer.changes is None:
            return input_diff(old.inputs, checked, "engine input diff (dynamic provider gave no answer)")
        if not answer.changes:
            return Diff(source="dynamic provider diff (host)")
        return Diff(
            shown or tuple(answer.replaces) or ("*",),
            tuple(answer.replaces),
            delete_before_replace=answer.delete_before_replace,
            source="dynamic provider diff (host)",
        )

    def _outputs(
        self, goal: Registration, old: ResourceState | None, checked: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        keep = goal.op in ("same", "update") and old is not None
        if self.mode == "up":
            if goal.op == "same" and old is not None:
                return old.id, dict(old.outputs)
            args = mocks.MockResourceArgs(goal.type, goal.name, unwrap_unknowns(checked), goal.provider)
            new_id, state = self.offline_mocks.new_resource(args)
            return (old.id if keep and old else new_id or ""), engine_value(state)
        status = self.providers.get(provider_urn(goal.provider))
        context = PreviewContext(
            config_known=status is None or status.config_known, old_outputs=old.outputs if old else {}
        )
        if not goal.custom:
            return "", {}
        # A resource about to be created has no id yet: the SDK reads "" as unknown (resource.py).
        return (old.id if keep and old else ""), preview_outputs(goal.type, goal.op, checked, context)


class EngineError(Exception):
    """What the engine refuses: a protected resource replaced or deleted, a provider's check failure."""


def engine_value(value: Any) -> Any:
    """A value as the engine stores it: numbers are float64 and print without a fraction when integral
    (sdk/go/common/resource/properties.go; Go's encoding/json), so `3.0` from the wire is the number 3."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [engine_value(v) for v in value]
    return value


def unwrap_unknowns(value: Any) -> Any:
    """The value without unknowns (an `up` has none; a mock's deterministic outputs need none)."""
    if isinstance(value, Unknown):
        return None
    if isinstance(value, dict):
        return {k: unwrap_unknowns(v) for k, v in value.items() if not isinstance(v, Unknown)}
    if isinstance(value, list):
        return [unwrap_unknowns(v) for v in value]
    return value


def _unknowns_from_sentinels(value: Any) -> Any:
    if value == rpc.UNKNOWN:
        return Unknown()  # type: ignore[no-untyped-call]
    if isinstance(value, dict):
        return {k: _unknowns_from_sentinels(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unknowns_from_sentinels(v) for v in value]
    return value


def _with_unknown_sentinels(value: Any) -> Any:
    if isinstance(value, Unknown):
        return rpc.UNKNOWN
    if isinstance(value, dict):
        return {k: _with_unknown_sentinels(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_unknown_sentinels(v) for v in value]
    return value


def _annotate_secrets(plain_inputs: Mapping[str, Any], sent: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in plain_inputs.items():
        result[key] = {SIG_KEY: SECRET_SIG, "value": value} if is_secret(sent.get(key)) else value
    return result


_HOST: list[DynamicProviderHost] = []
_HOST_LOCK = threading.Lock()


def dynamic_host() -> DynamicProviderHost:
    """One dynamic-provider host per process, started on first use from the project root (as the engine starts
    plugins in the program's folder) and stopped when the process exits."""
    # Registrations arrive on the SDK's executor threads: only one of them may start the host.
    with _HOST_LOCK:
        if not _HOST:
            host = DynamicProviderHost(PROJECT_DIR)
            host.start()
            atexit.register(host.close)
            _HOST.append(host)
        return _HOST[0]


def _azure_path_parameters(type_: str) -> list[str] | None:
    """The URL path parameters of an azure-native type the engine knows (None: not an azure-native type)."""
    if type_ not in AZURE_NATIVE_OUTPUTS:
        return None
    names = [*re.findall(r"{(\w+)}", AZURE_NATIVE_OUTPUTS[type_][0]), "resourceGroupName"]
    return [n for n in names if n != "group"]


def run_stack(
    stack: str,
    *,
    config: Mapping[str, Any] | None = None,
    secret_keys: set[str] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    program: Callable[[], None] | None = None,
    project_dir: Path = PROJECT_DIR,
    missing_references: set[str] | None = None,
    mode: Mode = "up",
    prior: StackState | None = None,
) -> StackRun:
    """Run a stack's program offline and return what it registered and exported.

    `mode="up"` is an offline deployment: every output known, the state savable. `mode="preview"` previews
    like `pulumi preview`: from `prior` (an earlier up's state) as an update, or from nothing as a first
    deployment, with the values providers leave unknown left unknown.

    By default the config is the stack file's; tests pass `config` to try other values. `stack_outputs` holds
    the outputs of other stacks (from their own offline runs) for StackReferences. A StackReference to a stack
    not in `stack_outputs` fails, unless `missing_references` is given: then its name is added there and the
    reference has no outputs.
    """
    project = project_name(project_dir)
    if config is None:
        config, file_secrets = stack_config(stack, project_dir)
        secret_keys = file_secrets | (secret_keys or set())
    offline_mocks = OfflineMocks(stack_outputs, config=config, missing_references=missing_references)
    monitor = OfflineMonitor(offline_mocks, mode=mode, prior=prior)
    pulumi.runtime.set_mocks(offline_mocks, project=project, stack=stack, preview=mode == "preview", monitor=monitor)
    pulumi.runtime.set_all_config(as_runtime_config(config), sorted(secret_keys or set()))
    # set_mocks leaves a finished root Stack behind; run_in_stack makes the one whose exports are recorded.
    settings.ROOT.set(None)
    if program is None:
        from stacks import main  # noqa: PLC0415 (the program is imported only once mocks are set)

        program = main
    try:
        _sync_await(run_in_stack(program))
    except Exception as error:
        # Kept on the error, so that a caller can show what a failed program had registered (nothing, for
        # bad config: it is validated before the first resource).
        setattr(error, _REGISTERED, tuple(monitor.registrations))
        raise
    finally:
        _restore_pickler()
    deleted = monitor.deletions()
    if mode == "up" and monitor.errors:
        raise EngineError(monitor.errors[0])
    return StackRun(
        project,
        stack,
        list(monitor.registrations.values()),
        dict(monitor.stack_outputs),
        mode=mode,
        deleted=deleted,
        errors=list(monitor.errors),
        refused=list(monitor.refused),
        prior_given=prior is not None,
        prior_outputs=dict(prior.outputs) if prior is not None else {},
    )


_REGISTERED = "offline_registered_urns"

# pulumi 3.272 `pulumi/dynamic/dynamic.py` serialize_provider wraps `pickle._Pickler._batch_setitems` in a sorting
# wrapper around whatever is there, every time it serializes a dynamic resource's provider, and never puts it back
# (it restores only `pickle.Pickler`). One wrapper per dynamic resource nests: a process that serializes about a
# thousand of them fails with RecursionError (pulumi/pulumi issue 17803 may be this). A real program registers a
# handful per process; the offline engine runs many programs in one process, so it puts the original back after
# each run. The sorting it loses in between is re-applied by the SDK's next serialization.
_PICKLER_ORIGINALS = {name: getattr(pickle._Pickler, name) for name in ("_batch_setitems", "save_dict")}


def _restore_pickler() -> None:
    for name, original in _PICKLER_ORIGINALS.items():
        setattr(pickle._Pickler, name, original)


def registered_by_failed_run(error: BaseException) -> tuple[str, ...]:
    """The URNs a program had registered when run_stack failed with `error` (LookupError if it did not)."""
    if not hasattr(error, _REGISTERED):
        raise LookupError(f"{type(error).__name__} did not come from a failed offline run")
    return tuple(getattr(error, _REGISTERED))


class StackReferenceError(Exception):
    """A StackReference that no offline run can answer: no such stack file, or stacks that reference each other."""


def run_stack_with_references(
    stack: str,
    *,
    project_dir: Path = PROJECT_DIR,
    mode: Mode = "up",
    prior: StackState | None = None,
    deployed: dict[str, dict[str, Any]] | None = None,
) -> StackRun:
    """Run a stack offline after an offline `up` of every stack its StackReferences name.

    A StackReference reads what the other stack's last `up` exported, so referenced stacks are always run as
    deployments; only the stack itself runs in `mode` (from `prior`, when given). Which stacks a program
    references is only known by running it, so a run that meets references it has no outputs for is
    discarded: those stacks are run (recursively) and the stack is run again with their outputs. A stack
    without references runs once. `deployed` caches the outputs of those offline ups by stack name: a caller
    that runs several stacks passes one dict, and each referenced stack is deployed once.
    """
    return _run_resolving(stack, project_dir, (), mode=mode, prior=prior, deployed={} if deployed is None else deployed)


def _run_resolving(
    stack: str,
    project_dir: Path,
    chain: tuple[str, ...],
    *,
    mode: Mode,
    prior: StackState | None,
    deployed: dict[str, dict[str, Any]],
) -> StackRun:
    while True:
        missing: set[str] = set()
        try:
            run = run_stack(
                stack, stack_outputs=deployed, project_dir=project_dir, missing_references=missing, mode=mode,
                prior=prior,
            )  # fmt: skip
            if not missing:
                return run
        except Exception:
            # A run without the outputs it reads may fail in any way; only a run that had them all is conclusive.
            if not missing:
                raise
        for name in sorted(missing):
            if name == stack or name in chain:
                cycle = " -> ".join((*chain, stack, name))
                raise StackReferenceError(f"stacks reference each other: {cycle}")
            if name not in stack_names(project_dir):
                raise StackReferenceError(
                    f"stack {stack!r} references stack {name!r}, which has no Pulumi.{name}.yaml to run offline"
                )
            deployed[name] = _deployed_outputs(name, project_dir, (*chain, stack), deployed)


CACHE_DIR = ".cache/offline-outputs"
"""Where the outputs of referenced stacks' offline ups are kept, per project, keyed by what decides them."""


def _deployed_outputs(
    stack: str, project_dir: Path, chain: tuple[str, ...], deployed: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A referenced stack's outputs after an offline up, from the cache when the program, its stack files and the
    pinned requirements are byte for byte those that made them (an offline up is deterministic)."""
    cached = project_dir / CACHE_DIR / f"{stack}-{source_digest(project_dir)}.json"
    if cached.is_file():
        return dict(from_export_outputs(json.loads(cached.read_text(encoding="utf-8"))))
    outputs = _run_resolving(stack, project_dir, chain, mode="up", prior=None, deployed=deployed).outputs
    cached.parent.mkdir(parents=True, exist_ok=True)
    temporary = cached.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(to_export_outputs(outputs)), encoding="utf-8")
    temporary.replace(cached)
    return outputs


def source_digest(project_dir: Path) -> str:
    """sha256 over every file that decides an offline up: the program's Python, stack files, requirements."""
    root = project_dir.resolve()
    digest = hashlib.sha256()
    files = [*root.glob("Pulumi*.yaml"), *root.glob("requirements*.txt"), *root.glob("*.py")]
    # The tests, the policy pack and the tools (virtualenvs, node_modules) do not change what a program deploys,
    # and walking them would take longer than the offline up the cache saves.
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith((".", "tests", "policy", "tools", "benchmarks", "docs")):
            files += folder.rglob("*.py")
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]
