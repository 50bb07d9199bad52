"""Reading Kubernetes objects and Helm releases as an analyzer receives them (pulumi-kubernetes inputs: the
object's own fields, `apiVersion`, `kind`, `metadata`, `spec`; a Helm release's `values` as a map)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .reporting import Subject, Unread, dig, elements, entries, has, is_list, items, mapping

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
"""Where each workload kind keeps its pod spec."""

STATELESS_KINDS = frozenset({"Deployment", "ReplicaSet"})


def kind(type_: str) -> str:
    """The Kubernetes kind of a pulumi-kubernetes type token (`kubernetes:apps/v1:Deployment` -> `Deployment`);
    "" for anything else."""
    if not type_.startswith("kubernetes:") or type_.count(":") != 2:
        return ""
    return type_.rsplit(":", 1)[1]


def is_workload(subject: Subject) -> bool:
    """Whether the resource is an object with a pod template."""
    return kind(subject.type) in POD_SPEC_PATHS


def pod_spec(subject: Subject) -> Mapping[str, Any]:
    """The workload's pod spec ({} when it has none)."""
    return mapping(dig(subject.props, *POD_SPEC_PATHS.get(kind(subject.type), ("-",))))


def pod_labels(subject: Subject) -> Mapping[str, Any]:
    """The labels its pods get."""
    path = POD_SPEC_PATHS.get(kind(subject.type), ("-",))
    if path == ("spec",):
        return mapping(dig(subject.props, "metadata", "labels"))
    return mapping(dig(subject.props, *path[:-1], "metadata", "labels"))


def containers(spec: Mapping[str, Any], *, init: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each container of a pod spec with how messages name it (`containers[web]`)."""
    fields = ("initContainers", "containers") if init else ("containers",)
    for field in fields:
        for index, container in enumerate(items(spec.get(field) if has(spec, field) else None)):
            container_map = mapping(container)
            name = container_map.get("name") if has(container_map, "name") else None
            yield f"{field}[{name if isinstance(name, str) else index}]", container_map


def namespace(props: Mapping[str, Any]) -> str:
    """The object's namespace (`default` when unset)."""
    found = dig(props, "metadata", "namespace")
    return found if isinstance(found, str) and found else "default"


def object_name(props: Mapping[str, Any]) -> str:
    """The object's `metadata.name` ("" when unset)."""
    found = dig(props, "metadata", "name")
    return found if isinstance(found, str) else ""


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a label selector (`matchLabels`, `matchExpressions`) selects an object with these labels.
    An empty selector selects everything (policy/v1 PodDisruptionBudget)."""
    for key, value in mapping(selector.get("matchLabels") if has(selector, "matchLabels") else None).items():
        if not has(labels, str(key)) or labels[str(key)] != value:
            return False
    for expression in items(selector.get("matchExpressions") if has(selector, "matchExpressions") else None):
        expr = mapping(expression)
        label_key, operator = str(expr.get("key")), expr.get("operator")
        values = list(items(expr.get("values") if has(expr, "values") else None))
        present = has(labels, label_key)
        label = labels[label_key] if present else None
        if operator == "In" and (not present or label not in values):
            return False
        if operator == "NotIn" and present and label in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


@dataclass(frozen=True)
class Image:
    """A container image reference, split the way a container runtime reads it."""

    reference: str
    """As written."""
    registry: str
    """The registry host (`docker.io` when none is written)."""
    repository: str
    """The path inside the registry (`library/mongo`)."""
    tag: str
    """The tag ("" when none)."""
    digest: str
    """The digest ("" when none)."""

    @property
    def location(self) -> str:
        """Registry and repository (`docker.io/library/mongo`)."""
        return f"{self.registry}/{self.repository}"


def parse_image(reference: str) -> Image:
    """Split `registry/repository:tag@digest` (Docker's reference grammar: the first path part is a registry
    when it has a `.` or a `:` or is `localhost`; otherwise Docker Hub, with `library/` for single names)."""
    rest, _, digest = reference.partition("@")
    parts = rest.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, path = parts[0], parts[1:]
    else:
        registry, path = "docker.io", (["library", *parts] if len(parts) == 1 else parts)
    last, _, tag = path[-1].partition(":")
    return Image(reference, registry, "/".join([*path[:-1], last]), tag, digest)


def registry_allowed(location: str, allowed: list[str]) -> bool:
    """Whether `registry/repository` lies under one of the allowed entries (`host`, `host/path`, `*.domain`)."""
    host = location.split("/", 1)[0]
    for entry in allowed:
        if entry.startswith("*.") and "/" not in entry and host.endswith(entry[1:]):
            return True
        if location == entry or location.startswith(entry.rstrip("/") + "/"):
            return True
    return False


@dataclass(frozen=True)
class ValuesImage:
    """An image a Helm release's values set."""

    path: str
    """Where in the values (`controller.image`)."""
    location: str
    """Registry and repository when the values name the registry ("" when they leave it to the chart)."""
    tag: str | None
    """The tag the values set (None: the chart's, pinned by the chart version)."""


_HOST = re.compile(r"^[^/]*[.:][^/]*/|^localhost/")
IMAGE_KEYS = frozenset({"image", "imageRegistry"})


def _children(values: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """(key, path, value) of a map's entries or a list's items; unknown ones as Unread."""
    if isinstance(values, Mapping):
        for key, value in entries(values):
            yield key, f"{path}.{key}" if path else key, value
    elif is_list(values):
        for index, value in enumerate(elements(values)):
            yield "", f"{path}[{index}]", value


def values_images(values: Any, path: str = "") -> Iterator[ValuesImage]:
    """Images a chart's values set: `image: "repo:tag"`, `image: {registry, repository, tag}` maps, and
    `imageRegistry`/`global.imageRegistry` keys (a registry for every image of the chart). An unknown image
    setting raises UnknownValueError; unknowns elsewhere are passed over."""
    for key, where, value in _children(values, path):
        if isinstance(value, Unread):
            if key in IMAGE_KEYS:
                raise value.error
            continue
        if key == "image" and isinstance(value, str):
            image = parse_image(value)
            yield ValuesImage(where, image.location, image.tag or ("" if not image.digest else None))
        elif key == "image" and isinstance(value, Mapping):
            yield _image_map(value, where)
        elif key == "imageRegistry" and isinstance(value, str):
            yield ValuesImage(where, value.rstrip("/"), None)
        else:
            yield from values_images(value, where)


def _image_map(image: Mapping[str, Any], where: str) -> ValuesImage:
    registry = image["registry"] if has(image, "registry") else None
    repository = image["repository"] if has(image, "repository") else None
    tag = image["tag"] if has(image, "tag") else None
    location = ""
    if isinstance(registry, str) and registry:
        location = f"{registry.rstrip('/')}/{repository or ''}".rstrip("/")
    elif isinstance(repository, str) and _HOST.match(repository):
        location = repository
    return ValuesImage(where, location, str(tag) if tag is not None else None)


def values_resources(values: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every `resources` (or `...Resources`) block a chart's values set, with where it is (an unknown block
    raises UnknownValueError; unknowns elsewhere are passed over)."""
    for key, where, value in _children(values, path):
        is_block = key == "resources" or key.endswith("Resources")
        if isinstance(value, Unread):
            if is_block:
                raise value.error
            continue
        if is_block and isinstance(value, Mapping):
            yield where, value
        else:
            yield from values_resources(value, where)


def values_load_balancers(values: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every Service a chart's values make a LoadBalancer (`type: LoadBalancer` in a map), with where it is (an
    unknown `type` raises UnknownValueError; unknowns elsewhere are passed over)."""
    if isinstance(values, Mapping) and has(values, "type") and values["type"] == "LoadBalancer":
        yield path, values
    for _, where, value in _children(values, path):
        if isinstance(value, Unread):
            continue
        yield from values_load_balancers(value, where)


PINNED_IP_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-ipv4"


def pins_existing_ip(service: Mapping[str, Any]) -> bool:
    """Whether a LoadBalancer Service (object or chart values) binds an existing public IP, so that the cloud
    provider adds no new one: `loadBalancerIP` or the Azure IPv4 annotation is set (an address not known yet
    counts: it is set)."""
    spec = mapping(dig(service, "spec")) if has(service, "spec") else service
    metadata = mapping(dig(service, "metadata")) if has(service, "metadata") else service
    return _set(spec, "loadBalancerIP") or _set(mapping(dig(metadata, "annotations")), PINNED_IP_ANNOTATION)


def _set(values: Mapping[str, Any], key: str) -> bool:
    found = dict(entries(values)).get(key)
    return isinstance(found, Unread) or bool(found)


@dataclass(frozen=True)
class LoadBalancerService:
    """A Service of type LoadBalancer that a resource creates (the object itself, or a chart's values)."""

    subject: Subject
    """The Service object or the Helm release."""
    where: str
    """`spec` for a Service object; the values path for a release."""
    pinned: bool
    """Whether it binds an existing public IP (no new address in the cluster's resource group)."""


def load_balancer_services(subject: Subject) -> list[LoadBalancerService]:
    """The LoadBalancer Services this resource creates (reads unknown values: the caller decides what then)."""
    if kind(subject.type) == "Service":
        if dig(subject.props, "spec", "type") == "LoadBalancer":
            return [LoadBalancerService(subject, "spec", pins_existing_ip(subject.props))]
        return []
    if subject.type == HELM_RELEASE and has(subject.props, "values"):
        values = subject.props["values"]
        return [LoadBalancerService(subject, f"values.{path}", pins_existing_ip(service))
                for path, service in values_load_balancers(values)]  # fmt: skip
    return []
