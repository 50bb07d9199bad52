"""How many replicas the autoscaled workloads may reach so that every pod's requests fit the workers.

A hub has no cluster autoscaler and no scale sets (AKS Engine on Azure Stack Hub), so an HPA whose maximum does not
fit leaves pods Pending exactly when load is highest. The maxima are computed, not guessed:

1. Each worker's allocatable capacity is its VM size minus what the node keeps for itself. Assumption: AKS's
   published reservation formula (kube-reserved CPU by core count; memory 25% of the first 4 GiB, 20% of the next
   4, 10% of the next 8, 6% up to 128 GiB, 2% above, plus the 750 MiB hard-eviction threshold). AKS Engine reserves
   less by default, so this errs on the safe side.
2. Every worker also runs DaemonSets (kube-proxy, the CNI, the Azure Disk CSI node plugin, the cloud node manager,
   Fluent Bit, kured): `DAEMONSET_OVERHEAD` is an estimate of their requests on one node. A hub with `egressProxy`
   runs one more, the node configurator (`NODE_EGRESS_REQUESTS`, counted exactly: `daemonset_overhead`).
3. Fixed pods (cluster add-ons, the ingress controller, cert-manager, the Mongo members, ...) are placed first,
   then each autoscaled workload's minimum, then one more replica of each autoscaled workload in turn until none
   fits or each reaches its cap. Pods are placed node by node (a pod cannot straddle two nodes), and pods of a
   workload marked `one_per_node` never share a node.

Masters carry a NoSchedule taint and are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from policy.stackhub_policies.hub_facts import VM_SIZES as HUB_VM_SIZES
from policy.stackhub_policies.hub_facts import sizes_for_role


@dataclass(frozen=True, order=True)
class Resources:
    """CPU and memory requests or capacity."""

    cpu_millicores: int
    """CPU in millicores (1000 = one vCPU)."""
    memory_mib: int
    """Memory in MiB."""

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu_millicores + other.cpu_millicores, self.memory_mib + other.memory_mib)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu_millicores - other.cpu_millicores, self.memory_mib - other.memory_mib)

    def times(self, count: int) -> Resources:
        """These resources `count` times over."""
        return Resources(self.cpu_millicores * count, self.memory_mib * count)

    def fits_in(self, free: Resources) -> bool:
        """Whether a pod with these requests fits in `free`."""
        return self.cpu_millicores <= free.cpu_millicores and self.memory_mib <= free.memory_mib

    @property
    def cpu(self) -> str:
        """As a Kubernetes quantity (`250m`)."""
        return f"{self.cpu_millicores}m"

    @property
    def memory(self) -> str:
        """As a Kubernetes quantity (`256Mi`)."""
        return f"{self.memory_mib}Mi"


@dataclass(frozen=True)
class ContainerResources:
    """A container's requests and limits."""

    requests: Resources
    """What the scheduler reserves."""
    limits: Resources
    """The most it may use."""

    def as_dict(self) -> dict[str, dict[str, str]]:
        """As a Kubernetes `resources` block."""
        return {
            "requests": {"cpu": self.requests.cpu, "memory": self.requests.memory},
            "limits": {"cpu": self.limits.cpu, "memory": self.limits.memory},
        }


@dataclass(frozen=True)
class VmSize:
    """A VM size a hub offers for workers."""

    name: str
    """The Azure size name."""
    vcpus: int
    """Virtual CPUs."""
    memory_gib: float
    """Memory in GiB."""

    @property
    def capacity(self) -> Resources:
        """The VM's whole CPU and memory."""
        return Resources(self.vcpus * 1000, round(self.memory_gib * 1024))


WORKER_SIZES = tuple(
    name for name in sizes_for_role("agent", HUB_VM_SIZES) if HUB_VM_SIZES[name].disk_tier == "premium"
)
"""Sizes the hub offers that suit workers running the database: big enough for a worker (hub_facts' role minimum)
and with premium disks (the database's StorageClass is Premium_LRS). Derived from the one size table."""

VM_SIZES: dict[str, VmSize] = {
    name: VmSize(name, HUB_VM_SIZES[name].vcpus, HUB_VM_SIZES[name].memory_gib) for name in WORKER_SIZES
}
"""Worker VM sizes this sizing knows, with vCPUs and memory from the hub's size table (the policy pack's
`hub_facts`, the one place it is kept)."""

_KUBE_RESERVED_CPU = {1: 60, 2: 100, 4: 140, 8: 180, 16: 260, 32: 420, 64: 740}
EVICTION_THRESHOLD_MIB = 750
DAEMONSET_OVERHEAD = Resources(300, 400)
"""Requests of the DaemonSets on every worker (kube-proxy, CNI, Disk CSI node, cloud node manager, Fluent Bit,
kured), rounded up."""


NODE_EGRESS_REQUESTS = Resources(10, 32)
"""What the scheduler reserves for one node-egress-proxy pod (workloads/egress.py): its `configure` init container
asks 10m/32Mi and its `hold` container 1m/8Mi, and a pod's requests are the larger of its biggest init container and
the sum of its containers."""


def daemonset_overhead(*, egress_proxy: bool = False) -> Resources:
    """Requests of the DaemonSets on one worker: the estimate, plus the node configurator behind a proxy."""
    return DAEMONSET_OVERHEAD + NODE_EGRESS_REQUESTS if egress_proxy else DAEMONSET_OVERHEAD


def vm_size(name: str) -> VmSize:
    """The size by name; a clear error for one this module does not know."""
    if name not in VM_SIZES:
        raise KeyError(f"unknown worker VM size {name!r}; known: {', '.join(sorted(VM_SIZES))}")
    return VM_SIZES[name]


def _reserved_memory_mib(memory_mib: int) -> int:
    bands = [(4096, 0.25), (4096, 0.20), (8192, 0.10), (114688, 0.06)]
    reserved, left = 0.0, float(memory_mib)
    for size, share in bands:
        part = min(left, size)
        reserved += part * share
        left -= part
    reserved += left * 0.02
    return math.ceil(reserved) + EVICTION_THRESHOLD_MIB


def node_allocatable(size: VmSize) -> Resources:
    """What the kubelet lets pods request on one node of this size (before DaemonSets)."""
    cores = max(c for c in _KUBE_RESERVED_CPU if c <= size.vcpus)
    capacity = size.capacity
    return Resources(
        capacity.cpu_millicores - _KUBE_RESERVED_CPU[cores],
        capacity.memory_mib - _reserved_memory_mib(capacity.memory_mib),
    )


def schedulable_per_worker(size: VmSize, *, egress_proxy: bool = False) -> Resources:
    """What is left on one worker for Deployments and StatefulSets (`egress_proxy`: the hub has `egressProxy`)."""
    return node_allocatable(size) - daemonset_overhead(egress_proxy=egress_proxy)


@dataclass(frozen=True)
class FixedPods:
    """Pods whose count does not change with load."""

    name: str
    """What they are."""
    requests: Resources
    """Requests of one pod (all its containers)."""
    count: int
    """How many."""
    one_per_node: bool = False
    """Whether two of them may never share a node (required anti-affinity)."""


@dataclass(frozen=True)
class Autoscaled:
    """A workload scaled by an HPA."""

    name: str
    """What it is."""
    requests: Resources
    """Requests of one pod."""
    min_replicas: int
    """The HPA's minimum."""
    cap: int
    """The most replicas ever wanted, even when more would fit."""


class InsufficientCapacityError(ValueError):
    """The fixed pods or the autoscaled minimums do not fit the workers."""


@dataclass
class _Node:
    free: Resources
    holds: set[str]


def _place(nodes: list[_Node], name: str, requests: Resources, one_per_node: bool) -> bool:
    candidates = [n for n in nodes if requests.fits_in(n.free) and not (one_per_node and name in n.holds)]
    if not candidates:
        return False
    node = max(candidates, key=lambda n: (n.free.cpu_millicores, n.free.memory_mib))
    node.free = node.free - requests
    node.holds.add(name)
    return True


def autoscaled_maxima(
    size: VmSize,
    workers: int,
    fixed: Sequence[FixedPods],
    autoscaled: Sequence[Autoscaled],
    *,
    egress_proxy: bool = False,
) -> dict[str, int]:
    """The HPA maximum of each autoscaled workload such that every pod at its maximum fits the workers."""
    if workers < 1:
        raise ValueError("at least one worker is needed")
    nodes = [_Node(schedulable_per_worker(size, egress_proxy=egress_proxy), set()) for _ in range(workers)]
    for group in sorted(fixed, key=lambda f: f.requests, reverse=True):
        for _ in range(group.count):
            if not _place(nodes, group.name, group.requests, group.one_per_node):
                raise InsufficientCapacityError(f"{group.count} x {group.name} do not fit {workers} x {size.name}")
    counts = {w.name: 0 for w in autoscaled}
    for workload in autoscaled:
        for _ in range(workload.min_replicas):
            if not _place(nodes, workload.name, workload.requests, one_per_node=False):
                raise InsufficientCapacityError(
                    f"the minimum of {workload.min_replicas} x {workload.name} does not fit {workers} x {size.name}"
                )
            counts[workload.name] += 1
    growing = [w for w in autoscaled if counts[w.name] < w.cap]
    while growing:
        for workload in list(growing):
            if counts[workload.name] >= workload.cap or not _place(
                nodes, workload.name, workload.requests, one_per_node=False
            ):
                growing.remove(workload)
            else:
                counts[workload.name] += 1
    return counts
