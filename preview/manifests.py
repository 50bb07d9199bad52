"""The Kubernetes objects an offline run would apply, as manifests a reviewer or a scanner can read.

Every recorded `kubernetes:<group>/<version>:<Kind>` resource becomes one object (apiVersion, kind, metadata,
then the rest of its inputs). Secrets stay secret: a Secret's `data` and `stringData` values are always replaced
(by the base64 of the marker in `data`, so the object still validates), and any other value Pulumi marks secret
becomes the marker. Values unknown during a preview become `"[unknown]"`.

Helm releases are not objects: what they would render depends on the chart. Their computed values are written to
`helm/<release>.values.yaml`, redacted the same way.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pulumi.output import Unknown

from preview.engine import REDACTED, Registration, StackRun, is_secret

HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
UNKNOWN = "[unknown]"
REDACTED_DATA = base64.b64encode(REDACTED.encode()).decode()
"""What replaces a value of a Secret's `data` (which must be base64)."""

# Component resources of pulumi-kubernetes, which are not objects of the API themselves.
_NOT_OBJECTS = re.compile(r"^kubernetes:(helm\.sh/v\d|yaml(/v\d)?|kustomize(/v\d)?):")
_TYPE = re.compile(r"^kubernetes:(?P<group>[^:]+):(?P<kind>[A-Za-z0-9]+)$")
_TOP_LEVEL_ORDER = ("apiVersion", "kind", "metadata")


def _shown(value: Any) -> Any:
    if is_secret(value):
        return REDACTED
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        # The engine hands every number over as a float; Kubernetes' integer fields refuse `3.0`.
        return int(value)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _redacted_map(value: Any, replacement: str) -> dict[str, str]:
    if is_secret(value):
        value = value["value"]
    if isinstance(value, dict):
        return {str(key): replacement for key in value}
    # The whole map is secret or unknown: its keys are not known either.
    return {"redacted": replacement}


def _api_version(type_token: str) -> tuple[str, str]:
    match = _TYPE.match(type_token)
    if match is None:
        raise ValueError(f"{type_token!r} is not a Kubernetes object type")
    group_version = match["group"]
    return (group_version.removeprefix("core/"), match["kind"])


def is_kubernetes_object(resource: Registration) -> bool:
    """Whether the resource is an object of the Kubernetes API (not a provider, a Helm release or a component)."""
    return (
        resource.custom
        and resource.type.startswith("kubernetes:")
        and not _NOT_OBJECTS.match(resource.type)
        and _TYPE.match(resource.type) is not None
    )


def rendered_object(resource: Registration) -> dict[str, Any]:
    """One recorded Kubernetes resource as the object the API server would receive, secrets redacted."""
    inputs = {k: v for k, v in resource.inputs.items() if not k.startswith("__")}
    api_version, kind = _api_version(resource.type)
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    kind = str(inputs.get("kind", kind))
    for key, value in inputs.items():
        if kind == "Secret" and key == "data":
            body[key] = _redacted_map(value, REDACTED_DATA)
        elif kind == "Secret" and key == "stringData":
            body[key] = _redacted_map(value, REDACTED)
        else:
            body[key] = _shown(value)
    ordered = {key: body[key] for key in _TOP_LEVEL_ORDER if key in body}
    ordered.update((k, v) for k, v in body.items() if k not in _TOP_LEVEL_ORDER)
    return ordered


def rendered_objects(run: StackRun) -> list[dict[str, Any]]:
    """Every Kubernetes object the run recorded, in registration order, secrets redacted."""
    return [rendered_object(r) for r in run.resources if is_kubernetes_object(r)]


def helm_values(run: StackRun) -> dict[str, dict[str, Any]]:
    """Each Helm release's chart, version, namespace and values, by release name, secrets redacted."""
    releases: dict[str, dict[str, Any]] = {}
    for resource in run.by_type(HELM_RELEASE_TYPE):
        inputs = resource.inputs
        name = str(_shown(inputs.get("name", resource.name)))
        releases[name] = {
            "chart": _shown(inputs.get("chart")),
            "version": _shown(inputs.get("version")),
            "namespace": _shown(inputs.get("namespace")),
            "values": _shown(inputs.get("values", {})),
        }
    return releases


def _file_name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name", "unnamed"))
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{obj['kind'].lower()}-{name}") + ".yaml"


def write_manifests(run: StackRun, out_dir: Path) -> list[Path]:
    """Write one YAML file per object (`<out>/<namespace>/<kind>-<name>.yaml`, cluster-scoped objects under
    `_cluster/`) and each release's values (`<out>/helm/<release>.values.yaml`); returns the files written."""
    written: list[Path] = []
    for obj in rendered_objects(run):
        namespace = str((obj.get("metadata") or {}).get("namespace") or "_cluster")
        path = out_dir / namespace / _file_name(obj)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))
        written.append(path)
    for release, details in helm_values(run).items():
        path = out_dir / "helm" / f"{release}.values.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = (
            f"# Helm release {release}: chart {details['chart']} version {details['version']}, "
            f"namespace {details['namespace']} (values only; the chart renders the objects)\n"
        )
        path.write_text(header + yaml.safe_dump(details["values"], sort_keys=False, default_flow_style=False))
        written.append(path)
    return written


_ARM_BODY_KEYS = ("location", "tags", "sku", "kind", "properties")


def arm_requests(run: StackRun) -> list[dict[str, Any]]:
    """The requests an `up` of this plan sends to the hub's ARM API, in order: a PUT for each created, updated
    or replaced ARM resource (its body: location, tags, sku, kind, properties), a DELETE for each deleted one."""
    requests: list[dict[str, Any]] = []
    for resource in run.arm():
        if resource.op not in ("create", "update", "replace"):
            continue
        inputs = resource.inputs
        body = {key: _shown(inputs[key]) for key in _ARM_BODY_KEYS if inputs.get(key)}
        requests.append({
            "method": "PUT",
            "path": _shown(inputs["resource_id"]),
            "apiVersion": _shown(inputs.get("api_version")),
            "body": body,
        })  # fmt: skip
    for gone in run.deleted:
        if "resource_id" in gone.inputs:
            requests.append({
                "method": "DELETE",
                "path": _shown(gone.inputs["resource_id"]),
                "apiVersion": _shown(gone.inputs.get("api_version")),
            })  # fmt: skip
    return requests


def aks_engine_apimodels(run: StackRun) -> dict[str, dict[str, Any]]:
    """The apimodel AKS Engine would be given for each cluster, by resource name (it holds no secret: the
    service principal's secret is a placeholder the lifecycle fills in a private file)."""
    from aksengine.apimodel import build_apimodel, settings_from_dict  # noqa: PLC0415

    models: dict[str, dict[str, Any]] = {}
    for command in run.by_type("command:local:Command"):
        environment = _shown(command.inputs.get("environment")) or {}
        desired = environment.get("AKSENGINE_DESIRED") if isinstance(environment, dict) else None
        if isinstance(desired, str) and desired != UNKNOWN:
            models[command.name] = build_apimodel(settings_from_dict(json.loads(desired)["settings"]))
    return models


def write_artifacts(run: StackRun, out_dir: Path) -> list[Path]:
    """Everything a reviewer may read beside the comment: the manifests and Helm values (`write_manifests`),
    `aksengine/<cluster>.apimodel.json`, and `arm/<nn>-<method>-<name>.json` for each hub ARM request."""
    written = write_manifests(run, out_dir)
    for name, model in aks_engine_apimodels(run).items():
        path = out_dir / "aksengine" / f"{name}.apimodel.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(model, indent=2) + "\n")
        written.append(path)
    for number, request in enumerate(arm_requests(run), 1):
        name = str(request["path"]).rsplit("/", 1)[-1]
        path = out_dir / "arm" / f"{number:02d}-{request['method'].lower()}-{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(request, indent=2) + "\n")
        written.append(path)
    return written
