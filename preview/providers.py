"""What each provider the project uses decides in a preview: the diff against the last state, and the outputs.

The offline engine asks these models the questions Pulumi's engine asks the real provider plugins. Every rule
names the upstream source it mirrors (checked in the pinned releases' source: pulumi 3.272, pulumi-command 1.2.1,
pulumi-kubernetes 4.34.2, pulumi-tls 5.6.2 / terraform-provider-tls, pulumi-random 4.21.4 /
terraform-provider-random). The Python dynamic provider is not modelled here: its decisions come from the SDK's
own host over gRPC (`preview/dynamic_host.py`), which runs the project's provider code.

Values are in the SDK's deserialized form: secrets wrapped in Pulumi's envelope, unknowns as `pulumi.output.Unknown`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pulumi.output import Unknown
from pulumi.runtime import rpc

Op = Literal["same", "create", "update", "replace", "delete", "read"]

DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"
COMMAND_TYPE = "command:local:Command"
KUBERNETES_PROVIDER_TYPE = "pulumi:providers:kubernetes"
HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
TLS_PRIVATE_KEY_TYPE = "tls:index/privateKey:PrivateKey"
RANDOM_PASSWORD_TYPE = "random:index/randomPassword:RandomPassword"  # noqa: S105 - a type token


@dataclass(frozen=True)
class Diff:
    """A provider's answer to Diff: which inputs changed and which of them need a new resource."""

    changed: tuple[str, ...] = ()
    """Property paths whose value differs (`spec.replicas`, `properties`)."""
    replaces: tuple[str, ...] = ()
    """The changed paths the provider cannot update in place."""
    delete_before_replace: bool = False
    """The old resource must go before its replacement is created (same name or id)."""
    source: str = ""
    """The upstream rule that decided."""

    @property
    def op(self) -> Op:
        """The step this diff leads to."""
        if self.replaces:
            return "replace"
        return "update" if self.changed else "same"


# --- comparing values ---------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """The value with secret envelopes removed (unknowns kept)."""
    if isinstance(value, Mapping) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return plain(value.get("value"))
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def has_unknowns(value: Any) -> bool:
    """Whether the value is, or holds, an unknown."""
    value = plain(value)
    if isinstance(value, Unknown):
        return True
    if isinstance(value, Mapping):
        return any(has_unknowns(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknowns(v) for v in value)
    return False


def changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    """Paths at which `new` differs from `old`; an unknown is never equal to anything (it may change)."""
    old, new = plain(old), plain(new)
    if isinstance(new, Unknown):
        return [path]
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        paths: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            if _absent(old.get(key)) and _absent(new.get(key)):
                continue
            paths += changed_paths(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return paths
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [p for i, (o, n) in enumerate(zip(old, new, strict=True)) for p in changed_paths(o, n, f"{path}[{i}]")]
    return [] if _same_number_or_value(old, new) else [path]


def _absent(value: Any) -> bool:
    return value is None


def _same_number_or_value(old: Any, new: Any) -> bool:
    # Pulumi's property values are float64 numbers: 3 and 3.0 are one value (sdk/go/common/resource/properties.go).
    if isinstance(old, int | float) and isinstance(new, int | float) and not isinstance(old, bool):
        return float(old) == float(new)
    return bool(old == new)


def under(path: str, prefixes: Sequence[str]) -> bool:
    """Whether `path` is one of `prefixes` or lies inside one of them."""
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in prefixes)


def input_diff(old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any], source: str) -> Diff:
    """The engine's own diff when the provider gives none: changed inputs are updates, never replacements.

    Mirrors pkg/resource/deploy/step_generator.go `diffResource`: a `DiffUnknown` answer (which the plugin
    wrapper gives for a provider whose configuration is not known, sdk/go/common/resource/plugin/provider_plugin.go
    `Diff`) becomes DiffSome with the changed keys of an input diff.
    """
    return Diff(changed=tuple(changed_paths(old_inputs, new_inputs)), source=source)


# --- pulumi-command ------------------------------------------------------------------------------------------

# CommandInputs of pulumi-command 1.x (provider/pkg/provider/local/command.go, base.go, common/inputs.go).
_COMMAND_INPUTS = (
    "addPreviousOutputInEnv", "archivePaths", "assetPaths", "create", "delete", "dir", "environment",
    "interpreter", "logging", "stdin", "triggers", "update",
)  # fmt: skip
_COMMAND_OUTPUTS = ("stdout", "stderr", "assets", "archive")


def command_diff(old_outputs: Mapping[str, Any], new_inputs: Mapping[str, Any]) -> Diff:
    """pulumi-go-provider `infer` default Diff over CommandInputs: only `triggers` (tagged replaceOnChanges in
    common/inputs.go) replaces; every other changed input, the command strings included, is an update."""
    old = {k: old_outputs.get(k) for k in _COMMAND_INPUTS}
    new = {k: new_inputs.get(k) for k in _COMMAND_INPUTS}
    changed = changed_paths(old, new)
    replaces = [p for p in changed if under(p, ("triggers",))]
    return Diff(tuple(changed), tuple(replaces), source="pulumi-command local/commandController.go + infer Diff")


def command_preview_outputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """In a preview `Create`/`Update` run nothing; infer's default dependency wiring marks every output that is
    not an echoed input unknown once an input changed (pulumi-go-provider infer/resource.go `markComputed`)."""
    return {k: v for k, v in inputs.items() if k not in _COMMAND_OUTPUTS}


# --- pulumi-kubernetes --------------------------------------------------------------------------------------


def kubernetes_provider_diff(old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any]) -> Diff:
    """pulumi-kubernetes provider/pkg/provider/provider.go `DiffConfig`.

    With `clusterIdentifier` set (old and new), only a change of it replaces the provider; any other change,
    an unknown kubeconfig included, is an update (testdata/diffconfig `computed-kubeconfig-with-identifier`,
    `change-cluster-identifier`; the SDK's documentation of `clusterIdentifier`). An unknown identifier is
    taken as a change (issue 2745's proposal; not verifiable in the indexed source). Without it, an unknown
    kubeconfig replaces (PR 577, the first check), and so does a kubeconfig for another cluster (the active
    cluster's server differs): then every changed key replaces.
    """
    source = "pulumi-kubernetes provider.go DiffConfig"
    changed = tuple(changed_paths(old_inputs, new_inputs))
    old_id, new_id = plain(old_inputs.get("clusterIdentifier")), plain(new_inputs.get("clusterIdentifier"))
    if new_id is not None:
        # Only a change of the identifier replaces; adding one is an update (`add-cluster-identifier`).
        replaces = ("clusterIdentifier",) if old_id is not None and "clusterIdentifier" in changed else ()
        return Diff(changed, replaces, source=source)
    # Without one (also when just removed: `remove-cluster-identifier-with-kubeconfig-change`) the kubeconfig
    # heuristic applies.
    kubeconfig = new_inputs.get("kubeconfig")
    if has_unknowns(kubeconfig):
        return Diff(changed, ("kubeconfig",), source=source)
    if _active_server(old_inputs.get("kubeconfig")) != _active_server(kubeconfig):
        return Diff(changed, changed, source=source)
    return Diff(changed, source=source)


def _active_server(kubeconfig: Any) -> Any:
    import json  # noqa: PLC0415

    text = plain(kubeconfig)
    if not isinstance(text, str):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return text  # a YAML kubeconfig: compared whole
    if not isinstance(document, Mapping):
        return None
    current = document.get("current-context")
    contexts = {c.get("name"): c.get("context", {}) for c in document.get("contexts") or []}
    cluster_name = contexts.get(current, {}).get("cluster")
    clusters = {c.get("name"): c.get("cluster", {}) for c in document.get("clusters") or []}
    return clusters.get(cluster_name, {}).get("server")


# pulumi-kubernetes provider/pkg/provider/diff.go `forceNewProperties`: paths (under the object) whose change
# needs a new object, per kind. `metadata.name` and `metadata.namespace` replace for every kind.
KUBERNETES_FORCE_NEW: Mapping[str, tuple[str, ...]] = {
    "StatefulSet": (
        "spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.selector", "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "Deployment": ("spec.selector",),
    "DaemonSet": ("spec.selector",),
    "StorageClass": ("parameters", "provisioner"),
    "Service": ("spec.clusterIP",),
    "PersistentVolumeClaim": ("spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"),
    "Job": ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
    # Secrets and ConfigMaps are immutable to the provider unless enableSecretMutable/enableConfigMapMutable
    # is set on it, which this project does not do.
    "Secret": ("type", "data", "stringData"),
    "ConfigMap": ("data", "binaryData"),
    "RoleBinding": ("roleRef",),
    "ClusterRoleBinding": ("roleRef",),
}  # fmt: skip
_METADATA_FORCE_NEW = ("metadata.name", "metadata.namespace")


def kubernetes_kind(type_: str) -> str:
    """`kubernetes:apps/v1:StatefulSet` -> `StatefulSet`."""
    return type_.rsplit(":", 1)[-1]


def kubernetes_diff(old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any], type_: str) -> Diff:
    """pulumi-kubernetes `kubeProvider.Diff`: replace when a force-new path changed; delete before replace when
    the object is named explicitly and keeps its name and namespace (it could not exist twice)."""
    changed = changed_paths(old_inputs, new_inputs)
    force_new = (*_METADATA_FORCE_NEW, *KUBERNETES_FORCE_NEW.get(kubernetes_kind(type_), ()))
    replaces = [p for p in changed if under(p, force_new)]
    named = plain((new_inputs.get("metadata") or {}).get("name")) is not None
    same_name = not any(under(p, _METADATA_FORCE_NEW) for p in changed)
    return Diff(
        tuple(changed),
        tuple(replaces),
        delete_before_replace=bool(replaces) and named and same_name,
        source="pulumi-kubernetes provider.go Diff, diff.go forceNewProperties",
    )


def helm_release_diff(old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any]) -> Diff:
    """pulumi-kubernetes helm_release.go `Diff`: `name` and `namespace` replace (PR 2532); values, chart and
    version are updates (a `helm upgrade`)."""
    changed = changed_paths(old_inputs, new_inputs)
    replaces = [p for p in changed if under(p, ("name", "namespace"))]
    return Diff(tuple(changed), tuple(replaces), source="pulumi-kubernetes helm_release.go Diff")


# --- bridged Terraform providers -----------------------------------------------------------------------------

# Attributes with RequiresReplace in the providers' schemas.
REQUIRES_REPLACE: Mapping[str, tuple[str, ...]] = {
    # terraform-provider-tls internal/provider/resource_private_key.go
    TLS_PRIVATE_KEY_TYPE: ("algorithm", "rsaBits", "ecdsaCurve", "opensshComment"),
    # terraform-provider-random internal/provider/resource_password.go (keepers and overrideSpecial replace
    # when set; taken as always here)
    RANDOM_PASSWORD_TYPE: (
        "length", "special", "upper", "lower", "number", "numeric", "minNumeric", "minUpper", "minLower",
        "minSpecial", "keepers", "overrideSpecial",
    ),
}  # fmt: skip


def bridged_diff(old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any], type_: str) -> Diff:
    """pulumi-terraform-bridge: a change of a RequiresReplace attribute replaces, any other is an update."""
    changed = changed_paths(old_inputs, new_inputs)
    replaces = [p for p in changed if under(p, REQUIRES_REPLACE.get(type_, ()))]
    return Diff(tuple(changed), tuple(replaces), source=f"terraform schema RequiresReplace of {type_}")


# --- pulumi-azure-native -------------------------------------------------------------------------------------


def azure_native_diff(
    old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any], path_parameters: Sequence[str]
) -> Diff:
    """pulumi-azure-native: a change of a URL path parameter (the names in the resource's ARM id) or of
    `location` is a new resource; any other change is a PUT or PATCH of the same one."""
    changed = changed_paths(old_inputs, new_inputs)
    replaces = [p for p in changed if under(p, (*path_parameters, "location"))]
    return Diff(tuple(changed), tuple(replaces), source="pulumi-azure-native forceNew on path parameters and location")


def provider_diff(
    type_: str,
    old_inputs: Mapping[str, Any],
    old_outputs: Mapping[str, Any],
    new_inputs: Mapping[str, Any],
    *,
    path_parameters: Sequence[str] | None = None,
) -> Diff:
    """The Diff the resource's provider plugin answers; `path_parameters` for an azure-native type."""
    if type_ == COMMAND_TYPE:
        # infer compares the stored state's input fields with the new inputs.
        return command_diff(old_outputs, new_inputs)
    if type_ == KUBERNETES_PROVIDER_TYPE:
        return kubernetes_provider_diff(old_inputs, new_inputs)
    if type_ == HELM_RELEASE_TYPE:
        return helm_release_diff(old_inputs, new_inputs)
    if type_.startswith("kubernetes:") or type_ in REQUIRES_REPLACE:
        rule = kubernetes_diff if type_.startswith("kubernetes:") else bridged_diff
        return rule(old_inputs, new_inputs, type_)
    if path_parameters is not None:
        return azure_native_diff(old_inputs, new_inputs, path_parameters)
    return input_diff(old_inputs, new_inputs, f"input diff ({type_} has no modelled provider)")


# --- preview outputs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewContext:
    """What decides a resource's outputs in a preview besides its own step."""

    config_known: bool = True
    """Whether the resource's provider configuration is fully known (an explicit provider built from unknowns)."""
    old_outputs: Mapping[str, Any] = field(default_factory=dict)


def preview_outputs(type_: str, op: Op, inputs: Mapping[str, Any], context: PreviewContext) -> dict[str, Any]:
    """The outputs a program sees for a resource during a preview, unknowns left out (the SDK reads a missing
    output as unknown in a preview: sdk/python/lib/pulumi/runtime/rpc.py `resolve_properties`)."""
    if op == "same":
        return dict(context.old_outputs)
    if not context.config_known:
        # provider_plugin.go Create/Update: "hand back an empty property map" when the configuration is unknown.
        return {}
    if type_ == COMMAND_TYPE:
        return command_preview_outputs(inputs)
    if type_ == RANDOM_PASSWORD_TYPE and op == "update":
        # `result` has UseStateForUnknown: an in-place update keeps it.
        return {**context.old_outputs, **inputs}
    # A provider without preview support (the Python dynamic host) echoes the checked inputs
    # (provider_plugin.go Create/Update); the others put their known inputs in the planned state and leave
    # computed values unknown (bridged: MarkComputedNilsAsUnknown; Kubernetes and Helm: inputs, `status` unknown;
    # azure-native provider.go Update: "inputs + a limited list of outputs that are universally immutable").
    return dict(inputs)
