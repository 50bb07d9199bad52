"""Every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod), and Helm values where
they set it: requests and limits, pinned images from allowed registries, readiness probes, no service-account
token unless needed, and the `restricted` Pod Security Standard where the namespace enforces it.

A chart's values only show what they override: a release is checked for the resources and images its values
set; the rest of the chart is pinned by its version and admitted by the namespace's Pod Security level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pulumi_policy import EnforcementLevel

from .configuration import setting
from .kubernetes import (
    HELM_RELEASE,
    containers,
    is_workload,
    kind,
    namespace,
    object_name,
    parse_image,
    pod_spec,
    registry_allowed,
    values_images,
    values_resources,
)
from .pod_security import restricted_violations
from .reporting import (
    CannotVerifyError,
    Finding,
    Settings,
    Subject,
    dig,
    has,
    mapping,
    planned,
    read,
    resource_policy,
    stack_policy,
    unplanned,
)

RESOURCES = "workload-resources"
IMAGE_TAGS = "workload-image-tags"
REGISTRIES = "workload-image-registries"
READINESS = "workload-readiness-probes"
AUTOMOUNT = "workload-service-account-token"
POD_SECURITY = "pod-security-restricted"

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"


def _values(subject: Subject) -> object:
    return subject.props["values"] if subject.type == HELM_RELEASE and has(subject.props, "values") else None


def _missing(block: object, section: str, wanted: list[str]) -> list[str]:
    found = mapping(dig(block, section))
    return [f"{section}.{name}" for name in wanted if not dig(found, name)]


RESOURCES_PROPERTIES = {
    "requests": setting(
        "array", "Resources every container must request.", ["cpu", "memory"], items={"enum": ["cpu", "memory"]}
    ),
    "limits": setting(
        "array", "Resources every container must limit.", ["cpu", "memory"], items={"enum": ["cpu", "memory"]}
    ),
}


def check_resources(subject: Subject, settings: Settings) -> Iterable[str]:
    """Requests and limits on every container, and on every `resources` block a chart's values set."""
    wanted = (settings["requests"], settings["limits"])
    if is_workload(subject):
        for where, container in containers(pod_spec(subject)):
            resources = mapping(dig(container, "resources"))
            missing = _missing(resources, "requests", wanted[0]) + _missing(resources, "limits", wanted[1])
            if missing:
                yield f"{subject.label}: {where} has no {', '.join(missing)} ({len(missing)} missing, 0 allowed)"
    values = _values(subject)
    if values is not None:
        for where, block in values_resources(values):
            missing = _missing(block, "requests", wanted[0]) + _missing(block, "limits", wanted[1])
            if missing:
                yield f"{subject.label}: values {where} has no {', '.join(missing)} ({len(missing)} missing, 0 allowed)"


RESOURCES_POLICY = resource_policy(
    RESOURCES,
    "Every container requests and limits CPU and memory, so that the scheduler can place it and a node survives it.",
    check_resources,
    level=EnforcementLevel.MANDATORY,
    properties=RESOURCES_PROPERTIES,
    remediation="Set resources.requests and resources.limits on every container (workloads/sizing.py gives figures).",
    reads="the containers' requests and limits",
)


TAGS_PROPERTIES = {
    "forbiddenTags": setting(
        "array", "Tags that do not pin an image.", ["latest"], items={"type": "string", "minLength": 1}
    )
}


def check_image_tags(subject: Subject, settings: Settings) -> Iterable[str]:
    """Every image has a tag (or digest) that is not a moving one."""
    forbidden = settings["forbiddenTags"]
    if is_workload(subject):
        for where, container in containers(pod_spec(subject)):
            reference = dig(container, "image")
            if not isinstance(reference, str):
                yield f"{subject.label}: {where} has no image"
                continue
            image = parse_image(reference)
            if not image.tag and not image.digest:
                yield f"{subject.label}: {where} image {reference} has no tag; a pinned tag or digest is needed"
            elif image.tag in forbidden:
                yield f"{subject.label}: {where} image {reference} uses tag {image.tag!r}; not allowed: {forbidden}"
    values = _values(subject)
    if values is not None:
        for found in values_images(values):
            if found.tag == "":
                yield f"{subject.label}: values {found.path} sets an image without a tag"
            elif found.tag in forbidden:
                yield f"{subject.label}: values {found.path} sets tag {found.tag!r}; not allowed: {forbidden}"


TAGS_POLICY = resource_policy(
    IMAGE_TAGS,
    "Every image is pinned: a tag other than `latest`, or a digest.",
    check_image_tags,
    level=EnforcementLevel.MANDATORY,
    properties=TAGS_PROPERTIES,
    remediation="Use a version tag (ratingsApiTag, mongoImage) or a digest; mirror the image if needed.",
    reads="the images' tags",
)


REGISTRIES_PROPERTIES = {
    "allowedRegistries": setting(
        "array",
        "Where images may come from: `host`, `host/path` or `*.domain` (Docker Hub images are docker.io/...).",
        ["*.azurecr.io", "mcr.microsoft.com", "docker.io/library"],
        items={"type": "string", "minLength": 1},
    )
}


def check_registries(subject: Subject, settings: Settings) -> Iterable[str]:
    """Every image, and every registry a chart's values name, is an allowed registry."""
    allowed = settings["allowedRegistries"]
    if is_workload(subject):
        for where, container in containers(pod_spec(subject)):
            reference = dig(container, "image")
            if isinstance(reference, str) and not registry_allowed(parse_image(reference).location, allowed):
                yield (
                    f"{subject.label}: {where} image {reference} comes from {parse_image(reference).location}; "
                    f"allowed registries: {', '.join(allowed)}"
                )
    values = _values(subject)
    if values is not None:
        for found in values_images(values):
            if found.location and not registry_allowed(found.location, allowed):
                yield (
                    f"{subject.label}: values {found.path} pulls from {found.location}; allowed registries: "
                    f"{', '.join(allowed)}"
                )


REGISTRIES_POLICY = resource_policy(
    REGISTRIES,
    "Images come only from the registries this hub may pull from.",
    check_registries,
    level=EnforcementLevel.MANDATORY,
    properties=REGISTRIES_PROPERTIES,
    remediation="Pull from an allowed registry (mirror the image there: imageRegistry, mongoImage), or allow the "
    "registry in this hub's policy config.",
    reads="the images' registries",
)


READINESS_PROPERTIES = {
    "exemptKinds": setting(
        "array",
        "Workload kinds whose pods serve no traffic and need no readiness probe.",
        ["Job", "CronJob"],
        items={"type": "string", "minLength": 1},
    )
}


def check_readiness(subject: Subject, settings: Settings) -> Iterable[str]:
    """Every regular container of a serving workload has a readiness probe."""
    if not is_workload(subject) or kind(subject.type) in settings["exemptKinds"]:
        return
    for where, container in containers(pod_spec(subject), init=False):
        if not dig(container, "readinessProbe"):
            yield f"{subject.label}: {where} has no readinessProbe (0 of 1); traffic would reach it before it is ready"


READINESS_POLICY = resource_policy(
    READINESS,
    "Every serving container has a readiness probe, so that rollouts and node drains never route to a pod early.",
    check_readiness,
    level=EnforcementLevel.MANDATORY,
    properties=READINESS_PROPERTIES,
    remediation="Add a readinessProbe (httpGet on the health path, or an exec check) to the container.",
    reads="the containers' readiness probes",
)


TOKEN_PROPERTIES = {
    "needsToken": setting(
        "array",
        "Workloads that call the Kubernetes API, as `<namespace>/<name>`: they may mount a token.",
        [],
        items={"type": "string", "pattern": r"^[^/\s]+/[^/\s]+$"},
    )
}


def check_token(subject: Subject, settings: Settings) -> Iterable[str]:
    """`automountServiceAccountToken: false` on the pod unless the workload is listed as needing the API."""
    if not is_workload(subject):
        return
    identity = f"{namespace(subject.props)}/{object_name(subject.props)}"
    if identity in settings["needsToken"]:
        return
    if dig(pod_spec(subject), "automountServiceAccountToken") is not False:
        yield (
            f"{subject.label} ({identity}): its pods mount a service-account token (automountServiceAccountToken "
            "is not false); only workloads listed in needsToken may"
        )


TOKEN_POLICY = resource_policy(
    AUTOMOUNT,
    "Pods mount no service-account token unless they call the Kubernetes API.",
    check_token,
    level=EnforcementLevel.MANDATORY,
    properties=TOKEN_PROPERTIES,
    remediation="Set `automountServiceAccountToken: false` in the pod spec, or list the workload in needsToken.",
    reads="the pods' service-account token",
)


def _pod_problems(subject: Subject) -> list[str]:
    return restricted_violations(pod_spec(subject))


def check_pod_security(subjects: Sequence[Subject], _settings: Settings) -> Iterable[Finding]:
    """Pods in a namespace the stack declares with `pod-security.kubernetes.io/enforce: restricted` meet it."""
    relevant = [s for s in subjects if kind(s.type) == "Namespace" or is_workload(s)]
    gap = unplanned(relevant, "the pods' security in namespaces enforcing restricted")
    if gap is not None:
        yield gap
    restricted: set[str] = set()
    for subject in filter(planned, relevant):
        if kind(subject.type) != "Namespace":
            continue
        try:
            level = read(subject, "its Pod Security level", dig, subject.props, "metadata", "labels", ENFORCE_LABEL)
            if level == "restricted":
                restricted.add(object_name(subject.props))
        except CannotVerifyError as error:
            yield Finding(error.message, subject.urn)
    for subject in filter(planned, relevant):
        if not is_workload(subject):
            continue
        try:
            space = read(subject, "its namespace", namespace, subject.props)
            if space not in restricted:
                continue
            problems = read(subject, "its pods' security", _pod_problems, subject)
        except CannotVerifyError as error:
            yield Finding(error.message, subject.urn)
            continue
        if problems:
            yield Finding(
                f"{subject.label}: namespace {space} enforces restricted and its pods break {len(problems)} "
                f"control(s): {'; '.join(problems)}",
                subject.urn,
            )


POD_SECURITY_POLICY = stack_policy(
    POD_SECURITY,
    "Pods meet the restricted Pod Security Standard in every namespace that enforces it.",
    check_pod_security,
    level=EnforcementLevel.MANDATORY,
    properties={},
    remediation="Run as non-root with a RuntimeDefault seccomp profile, no privilege escalation, all capabilities "
    "dropped, and only the restricted volume types.",
)
