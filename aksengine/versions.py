"""The pinned AKS Engine release and the Kubernetes versions it can create and upgrade to.

Kubernetes versions an AKS Engine release supports are compiled into the binary
(`pkg/api/common/versions.go`, `AllKubernetesSupportedVersionsAzureStack`: the value `true` marks the
versions a *new* cluster may use). They change with every release, so the release is pinned here and the
lifecycle refuses to run any other binary.
"""

import json
import re

# The pinned release and the versions it installs are facts the policy pack counts with too: they live there.
from policy.stackhub_policies.hub_facts import AKS_ENGINE_RELEASE as AKS_ENGINE_VERSION
from policy.stackhub_policies.hub_facts import NEW_CLUSTER_KUBERNETES_VERSIONS

__all__ = ["AKS_ENGINE_VERSION", "NEW_CLUSTER_KUBERNETES_VERSIONS"]

DEFAULT_KUBERNETES_VERSION = "1.33.10"
"""The latest patch of the release's default minor (`KubernetesDefaultReleaseAzureStack`, 1.33)."""

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def parse_kubernetes_version(version: str) -> tuple[int, int, int]:
    """Split `1.34.4` (a leading `v` is tolerated, as AKS Engine does) into numbers; ValueError otherwise."""
    match = _VERSION.match(version.strip())
    if match is None:
        raise ValueError(f"{version!r} is not a Kubernetes version of the form MAJOR.MINOR.PATCH")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def minor_of(version: str) -> str:
    """The release a version belongs to: `1.34.4` -> `1.34`."""
    major, minor, _ = parse_kubernetes_version(version)
    return f"{major}.{minor}"


def latest_patch(release: str) -> str | None:
    """The newest version of `release` (`1.34`) that a new cluster may use, or None."""
    candidates = [v for v in NEW_CLUSTER_KUBERNETES_VERSIONS if minor_of(v) == release]
    return max(candidates, key=parse_kubernetes_version, default=None)


def upgrade_refusal(current: str, target: str) -> str | None:
    """Why `aks-engine-azurestack upgrade` from `current` to `target` must not run, or None when it may.

    AKS Engine upgrades one minor release at a time and never downgrades (docs: "Upgrading Kubernetes
    clusters"; `upgrade` rejects targets outside the orchestrator's upgrade list unless forced). Patch
    bumps within a minor are upgrades too. The target must be a version this release can install.
    """
    cur = parse_kubernetes_version(current)
    tgt = parse_kubernetes_version(target)
    if tgt == cur:
        return f"{target} is the version the cluster already runs"
    if tgt < cur:
        return f"downgrading from {current} to {target} is not possible: AKS Engine only upgrades"
    if target not in NEW_CLUSTER_KUBERNETES_VERSIONS:
        allowed = ", ".join(NEW_CLUSTER_KUBERNETES_VERSIONS)
        return f"{target} is not a version AKS Engine {AKS_ENGINE_VERSION} installs (allowed: {allowed})"
    if tgt[0] != cur[0] or tgt[1] - cur[1] > 1:
        step = latest_patch(f"{cur[0]}.{cur[1] + 1}")
        via = f"upgrade to {step} first" if step else f"no {cur[0]}.{cur[1] + 1} release is available"
        return (
            f"upgrading from {current} to {target} skips a minor release: AKS Engine upgrades one minor "
            f"at a time ({via}, then to {target})"
        )
    return None


def is_upgrade_allowed(current: str, target: str) -> bool:
    """True when `upgrade_refusal` has no objection."""
    return upgrade_refusal(current, target) is None


def parse_version_output(text: str) -> str:
    """The release tag printed by `aks-engine-azurestack version` (`v0.85.0`).

    The command prints `Version: <tag>`, `GitCommit: <sha>`, `GitTreeState: <state>` lines by default and
    `{"GitTag": ..., "GitCommit": ..., "GitTreeState": ...}` with `-o json` (`cmd/version.go`); both are
    understood. ValueError when neither form is found.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise ValueError(f"unreadable JSON version output: {err}") from err
        tag = document.get("GitTag") if isinstance(document, dict) else None
        if isinstance(tag, str) and tag:
            return tag
        raise ValueError("JSON version output has no GitTag")
    for line in stripped.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "Version" and value.strip():
            return value.strip()
    raise ValueError(f"no 'Version:' line in version output {stripped[:200]!r}")
