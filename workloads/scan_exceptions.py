"""Deliberate exceptions to checkov's Kubernetes checks, written on the objects they concern.

checkov (requirements-checkov.txt) runs on the rendered manifests in the tests, and must find nothing. Where a check
is deliberately not met, the object says so itself with checkov's skip annotations, `checkov.io/skip<n>:
<check id>=<reason>` in its `metadata.annotations` (checkov `kubernetes/kubernetes_utils.py`,
`get_skipped_checks`): anyone who reads the object, or runs checkov on it without this project, sees the exception
and why. Every exception comes from this module, so the reasons are worded once and checked once.

checkov splits an annotation's value on `=` into exactly two parts (a reason holding `=` makes it fail), so a reason
never holds one.

Images. Users configure images by tag; a digest (`name:tag@sha256:<64 hex>`) is accepted wherever an image is, and
an object whose images all carry digests has no image exception at all. For images pinned by tag only:
- CKV_K8S_43 (image digests) is skipped: the tag is what the user pinned and reviewed.
- CKV_K8S_15 (`imagePullPolicy: Always`) is skipped and the policy is `IfNotPresent`: with `Always` every container
  start asks the registry for the tag's digest, so a hub that cannot reach the registry (a disconnected hub pulls
  the application images from the shared registry in public Azure) could not restart a pod even on a node that
  holds the image. With a digest checkov passes `IfNotPresent` itself.

Node access. A pod that changes its node (the egress proxy's node configurator, `workloads.egress`) does it through
one privileged container in the host's PID namespace; its other containers are unprivileged. The privileges such a
pod is granted on purpose each skip one check, with the reason naming the container and what it does:
- CKV_K8S_16 (privileged) and CKV_K8S_17 (hostPID): what the container does on the host needs them;
- CKV_K8S_20 (allowPrivilegeEscalation): a privileged container can always escalate, and the API server refuses
  `allowPrivilegeEscalation: false` beside `privileged: true`;
- CKV_K8S_28 (NET_RAW) and CKV_K8S_37 (capabilities): a privileged container holds every capability whatever its
  drop list says (containerd's CRI plugin applies `privileged` after the list), so declaring one would only hide
  that. The other containers drop ALL and pass both checks.
Everything else (a pod security context, liveness probes, the images) the pod meets like any other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SKIP_ANNOTATION_PREFIX = "checkov.io/skip"
"""checkov reads every annotation whose key contains this (`checkov.io/skip1`, `checkov.io/skip2`, ...)."""
IMAGE_DIGEST = "CKV_K8S_43"
PULL_POLICY_ALWAYS = "CKV_K8S_15"
PULL_POLICY = "IfNotPresent"
"""Every container's `imagePullPolicy` (see the module docstring)."""
PRIVILEGED = "CKV_K8S_16"
HOST_PID = "CKV_K8S_17"
PRIVILEGE_ESCALATION = "CKV_K8S_20"
NET_RAW = "CKV_K8S_28"
CAPABILITIES = "CKV_K8S_37"

_CHECK_ID = re.compile(r"^CKV2?_K8S_[0-9]+$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ScanException:
    """One check an object deliberately does not meet, and why."""

    check_id: str
    """checkov's id, e.g. `CKV_K8S_43`."""
    reason: str
    """Why, in a sentence (shown by checkov as the suppression's comment)."""

    def __post_init__(self) -> None:
        if not _CHECK_ID.match(self.check_id):
            raise ValueError(f"check id {self.check_id!r}: a checkov Kubernetes check id, e.g. CKV_K8S_43")
        if not self.reason.strip():
            raise ValueError(f"{self.check_id}: an exception needs its reason")
        if "=" in self.reason or "\n" in self.reason:
            raise ValueError(f"{self.check_id} reason {self.reason!r}: no '=' (checkov splits on it) and one line")


def has_digest(image: str) -> bool:
    """Whether an image reference names its content (`...@sha256:<64 hex>`), not only a tag."""
    return bool(_DIGEST.search(image))


def image_exceptions(images: Iterable[str]) -> list[ScanException]:
    """The exceptions an object needs for its images: none when every image carries a digest.

    `images` are the references as configured (a registry host not yet known may be left out: only the tag or
    digest part decides).
    """
    by_tag = sorted({image for image in images if not has_digest(image)})
    if not by_tag:
        return []
    named = ", ".join(by_tag)
    return [
        ScanException(
            IMAGE_DIGEST,
            f"pinned by tag as configured ({named}); a digest (name:tag@sha256:...) in the image reference "
            "removes this exception",
        ),
        ScanException(
            PULL_POLICY_ALWAYS,
            f"{PULL_POLICY} with a tag ({named}): Always would make every container start ask the registry, so a "
            "hub cut off from it could not restart pods from images its nodes hold; a digest removes this exception",
        ),
    ]


def node_access_exceptions(container: str, purpose: str) -> list[ScanException]:
    """The exceptions of a pod that changes its node through `container`, privileged, in the host's PID namespace.

    `purpose` says what the container does on the host (one clause, no `=`): it is the reason of the first two
    exceptions, and the other three follow from them.
    """
    if not container.strip() or not purpose.strip():
        raise ValueError("a node access exception names its container and what it does on the host")
    privileged = f"the container `{container}` is privileged"
    return [
        ScanException(PRIVILEGED, f"{privileged}: it {purpose}"),
        ScanException(
            HOST_PID, f"the pod shares the host's PID namespace, where `{container}` finds PID 1: it {purpose}"
        ),
        ScanException(
            PRIVILEGE_ESCALATION,
            f"{privileged}, which always allows escalation (the API server refuses allowPrivilegeEscalation "
            "false beside privileged true); every other container sets it false",
        ),
        ScanException(
            NET_RAW,
            f"{privileged} and so holds every capability, NET_RAW included, whatever a drop list says; every other "
            "container drops ALL",
        ),
        ScanException(
            CAPABILITIES,
            f"{privileged} and so holds every capability whatever a drop list says; every other container drops ALL",
        ),
    ]


def skip_annotations(exceptions: Sequence[ScanException]) -> dict[str, str]:
    """checkov's skip annotations for these exceptions (empty when there is none), one check per annotation."""
    ids = [exception.check_id for exception in exceptions]
    if len(set(ids)) != len(ids):
        raise ValueError(f"checks {ids}: one exception per check")
    return {
        f"{SKIP_ANNOTATION_PREFIX}{index}": f"{exception.check_id}={exception.reason}"
        for index, exception in enumerate(exceptions, start=1)
    }
