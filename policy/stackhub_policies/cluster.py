"""The AKS Engine cluster: nodes per subscription, and the pattern's shape (masters, workers, VM sizes per role,
Kubernetes versions the pinned AKS Engine release installs)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pulumi_policy import EnforcementLevel

from . import hub_facts
from .clusters import Cluster, find_clusters
from .configuration import setting
from .reporting import CannotVerifyError, Finding, Settings, Subject, stack_policy

NODES = "hub-nodes-per-subscription"
SHAPE = "cluster-shape"

NODES_PROPERTIES = {
    "maxNodes": setting(
        "integer",
        "Kubernetes nodes Azure Stack Hub supports per subscription, masters included.",
        hub_facts.NODES_PER_SUBSCRIPTION,
        minimum=1,
    ),
    "otherClusterNodes": setting(
        "integer",
        "Nodes of other clusters in the same subscription (the larger of this and the stack's own "
        "otherNodesInSubscription counts).",
        0,
        minimum=0,
    ),
    "countUpgradeSurge": setting(
        "boolean", "Count the node an AKS Engine upgrade adds while it replaces nodes one at a time.", True
    ),
}


def check_nodes(subjects: Sequence[Subject], settings: Settings) -> Iterable[Finding]:
    """All clusters' nodes (plus the upgrade's and other clusters') within the subscription's limit."""
    clusters: list[Cluster] = []
    for found in find_clusters(subjects):
        if isinstance(found, CannotVerifyError):
            yield Finding(found.message, found.subject.urn)
        else:
            clusters.append(found)
    if not clusters:
        return
    surge = hub_facts.UPGRADE_SURGE_VMS if settings["countUpgradeSurge"] else 0
    other = max([settings["otherClusterNodes"], *(c.other_nodes or 0 for c in clusters)])
    total = sum(c.node_count + surge for c in clusters) + other
    if total > settings["maxNodes"]:
        parts = [f"'{c.subject.name}': {c.master_count} masters + {c.agent_count} workers (from {c.source})"
                 for c in clusters]  # fmt: skip
        parts += [f"{surge} upgrade node per cluster"] if surge else []
        parts += [f"{other} nodes of other clusters"] if other else []
        yield Finding(
            f"{total} Kubernetes nodes in the subscription ({'; '.join(parts)}) but Azure Stack Hub supports "
            f"at most {settings['maxNodes']} per subscription, masters included",
            clusters[0].subject.urn if len(clusters) == 1 else None,
        )


NODES_POLICY = stack_policy(
    NODES,
    "The clusters' nodes, masters and the upgrade's extra node included, stay within the hub's nodes per subscription.",
    check_nodes,
    level=EnforcementLevel.MANDATORY,
    properties=NODES_PROPERTIES,
    remediation="Lower agentCount, or move clusters to another subscription; set otherClusterNodes to what the "
    "subscription already runs.",
)


SHAPE_PROPERTIES = {
    "masterCounts": setting(
        "array", "Allowed numbers of masters.", list(hub_facts.MASTER_COUNTS), items={"type": "integer", "minimum": 1}
    ),
    "minWorkers": setting("integer", "Fewest workers per cluster.", hub_facts.MIN_WORKERS, minimum=1),
    "masterVmSizes": setting(
        "array",
        "VM sizes allowed for masters; empty = every hub size with at least 2 vCPU and 7 GiB (hub_facts).",
        [],
        items={"type": "string", "minLength": 1},
    ),
    "agentVmSizes": setting(
        "array",
        "VM sizes allowed for workers; empty = every hub size with at least 2 vCPU and 7 GiB (hub_facts).",
        [],
        items={"type": "string", "minLength": 1},
    ),
    "kubernetesVersions": setting(
        "array",
        f"Kubernetes versions allowed; empty = those AKS Engine {hub_facts.AKS_ENGINE_RELEASE} installs on a hub "
        f"({', '.join(hub_facts.NEW_CLUSTER_KUBERNETES_VERSIONS)}). Add a version a running cluster was upgraded "
        "from only while it is upgraded.",
        [],
        items={"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
    ),
}


def _size_problem(size: str, role: str, allowed: list[str]) -> str | None:
    if allowed:
        return None if size in allowed else f"is not in the allowed {role} sizes ({', '.join(allowed)})"
    problem = hub_facts.size_problem(size, "master" if role == "master" else "agent")
    if problem is not None and size not in hub_facts.VM_SIZES:
        return f"{problem}; list it in the policy's sizes if your hub offers it"
    return problem


def check_shape(subjects: Sequence[Subject], settings: Settings) -> Iterable[Finding]:
    """Each cluster's masters, workers, VM sizes and Kubernetes version."""
    for found in find_clusters(subjects):
        if isinstance(found, CannotVerifyError):
            yield Finding(found.message, found.subject.urn)
            continue
        where = f"{found.subject.label} (read from {found.source})"
        if found.master_count not in settings["masterCounts"]:
            allowed = " or ".join(str(n) for n in settings["masterCounts"])
            yield Finding(f"{where}: {found.master_count} masters; allowed: {allowed}", found.subject.urn)
        if found.agent_count < settings["minWorkers"]:
            yield Finding(
                f"{where}: {found.agent_count} workers; at least {settings['minWorkers']} are needed",
                found.subject.urn,
            )
        problem = _size_problem(found.master_vm_size, "master", settings["masterVmSizes"])
        if problem:
            yield Finding(f"{where}: master VM size {found.master_vm_size} {problem}", found.subject.urn)
        for pool in found.pools:
            problem = _size_problem(pool.vm_size, "worker", settings["agentVmSizes"])
            if problem:
                yield Finding(f"{where}: pool {pool.name} VM size {pool.vm_size} {problem}", found.subject.urn)
        versions = settings["kubernetesVersions"] or list(hub_facts.NEW_CLUSTER_KUBERNETES_VERSIONS)
        if found.kubernetes_version not in versions:
            yield Finding(
                f"{where}: Kubernetes {found.kubernetes_version or '(not set)'} is not one AKS Engine "
                f"{hub_facts.AKS_ENGINE_RELEASE} installs on a hub; allowed: {', '.join(versions)}",
                found.subject.urn,
            )


SHAPE_POLICY = stack_policy(
    SHAPE,
    "Each AKS Engine cluster has 3 or 5 masters, at least 2 workers, VM sizes allowed for each role and a "
    "Kubernetes version the pinned AKS Engine release installs.",
    check_shape,
    level=EnforcementLevel.MANDATORY,
    properties=SHAPE_PROPERTIES,
    remediation="Set masterCount, agentCount, masterVmSize, agentVmSize and kubernetesVersion in the hub stack's "
    "config to allowed values.",
)
