"""The offline engine: runs the real program of a stack under the Pulumi SDK's mock monitor.

One engine serves both the tests and `python -m preview`. It reads the real `Pulumi.<stack>.yaml`, gives every
resource deterministic, realistic outputs (ARM ids, an ingress address from 203.0.113.0/24, the computed properties
of the public-Azure resources in `AZURE_NATIVE_OUTPUTS`), and records what the program asked for: each resource's
type, name, parent, inputs and dependencies, taken from the registration request itself, plus the stack's outputs.
It decides nothing about the program; tests assert on what it records. A stack that reads other stacks through
StackReferences is run after those stacks (`run_stack_with_references`), so it sees their real offline outputs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.output import Unknown
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

PROJECT_DIR = Path(__file__).resolve().parent.parent
SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key
REDACTED = "[secret]"
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


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
    document = yaml.safe_load(path.read_text()) or {}
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in (document.get("config") or {}).items():
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
    state = dict(inputs)
    state.pop("__provider", None)
    # As after a real `pulumi up`: ARM's answer, computed values included, under both output keys.
    state.update(properties=properties, server_properties=properties, name=segments[-1],
                 etag=f'W/"{_digest(resource_id):016x}"')  # fmt: skip
    return state


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


TLS_PRIVATE_KEY_TYPE = "tls:index/privateKey:PrivateKey"
COMMAND_TYPE = "command:local:Command"


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
        if args.typ == TLS_PRIVATE_KEY_TYPE:
            return f"{args.name}-offline-id", {**inputs, **_ssh_key(args.name)}
        environment = unwrap(inputs.get("environment")) or {}
        if args.typ == COMMAND_TYPE and isinstance(environment.get("AKSENGINE_DESIRED"), str):
            return f"{args.name}-offline-id", {**inputs, "stdout": _aks_engine_stdout(environment["AKSENGINE_DESIRED"])}
        return f"{args.name}-offline-id", inputs

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


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also recording parent, dependencies and protect from each registration."""

    def __init__(self, offline_mocks: OfflineMocks) -> None:
        super().__init__(offline_mocks)
        self.registrations: dict[str, Registration] = {}
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            registered = self.resources[response.urn]
            self.registrations[response.urn] = Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=bool(request.custom),
                protect=bool(request.protect),
                inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                dependencies=sorted(set(request.dependencies)),
                provider=request.provider,
                id=registered.id or "",
                state=registered.state,
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def run_stack(
    stack: str,
    *,
    config: Mapping[str, Any] | None = None,
    secret_keys: set[str] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    program: Callable[[], None] | None = None,
    project_dir: Path = PROJECT_DIR,
    missing_references: set[str] | None = None,
) -> StackRun:
    """Run a stack's program offline and return what it registered and exported.

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
    monitor = RecordingMonitor(offline_mocks)
    pulumi.runtime.set_mocks(offline_mocks, project=project, stack=stack, preview=True, monitor=monitor)
    pulumi.runtime.set_all_config(as_runtime_config(config), sorted(secret_keys or set()))
    # set_mocks leaves a finished root Stack behind; run_in_stack makes the one whose exports are recorded.
    settings.ROOT.set(None)
    if program is None:
        from stacks import main  # noqa: PLC0415 (the program is imported only once mocks are set)

        program = main
    _sync_await(run_in_stack(program))
    return StackRun(project, stack, list(monitor.registrations.values()), dict(monitor.stack_outputs))


class StackReferenceError(Exception):
    """A StackReference that no offline run can answer: no such stack file, or stacks that reference each other."""


def run_stack_with_references(stack: str, *, project_dir: Path = PROJECT_DIR) -> StackRun:
    """Run a stack offline after running, the same way, every stack its StackReferences name.

    Which stacks a program references is only known by running it, so a run that meets references it has no
    outputs for is discarded: those stacks are run (recursively) and the stack is run again with their outputs.
    A stack without references runs once.
    """
    return _run_resolving(stack, project_dir, chain=())


def _run_resolving(stack: str, project_dir: Path, chain: tuple[str, ...]) -> StackRun:
    resolved: dict[str, dict[str, Any]] = {}
    while True:
        missing: set[str] = set()
        try:
            run = run_stack(stack, stack_outputs=resolved, project_dir=project_dir, missing_references=missing)
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
            resolved[name] = _run_resolving(name, project_dir, (*chain, stack)).outputs
