"""Hub quotas: what the stack will create on the hub, added up against the subscription's quota minus what is
already used there.

Counted per AKS Engine cluster (aks-engine-azurestack `pkg/engine/armresources.go`, `masterarmresources.go`,
`virtualmachines.go`; figures in hub_facts): a VM, a NIC and an OS disk per master and worker plus the VM an
upgrade adds; an etcd data disk per master; an availability set for the masters and one per pool; the API
server's public IP, its load balancer and the masters' internal one; AKS Engine's NSG. Then what the stack
declares itself: ARM public IPs, VNets and NSGs; the Kubernetes load balancer and a public IP per LoadBalancer
Service that does not bind an existing address; the database volumes (StatefulSet claim templates x replicas),
which the workers must also be able to attach (each size's maximum data disks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pulumi_policy import EnforcementLevel
from pulumi_policy.proxy import UnknownValueError

from . import hub_facts
from .azure import is_hub_arm
from .clusters import Cluster, find_clusters
from .configuration import setting
from .hub_facts import DiskTier, HubVmSize, QuotaName
from .kubernetes import kind, load_balancer_services, object_name
from .reporting import (
    CannotVerifyError,
    Finding,
    Settings,
    Subject,
    count,
    dig,
    items,
    mapping,
    planned,
    read,
    stack_policy,
    unplanned,
)

NAME = "hub-quotas"


@dataclass
class Usage:
    """What a stack needs from the hub's quotas, with where each figure comes from."""

    needed: dict[QuotaName, int] = field(default_factory=lambda: dict.fromkeys(hub_facts.DEFAULT_QUOTAS, 0))
    parts: dict[QuotaName, list[str]] = field(default_factory=dict)
    either_tier_gb: int = 0
    """Disk whose tier could not be read (its StorageClass is unknown): it may land in either disk quota."""
    either_tier_parts: list[str] = field(default_factory=list)
    volumes: int = 0
    """Database volumes: managed data disks the workers must attach."""
    attachable: int = 0
    """Data disks the clusters' workers can attach (each size's maximum, per worker)."""

    def add(self, quota: QuotaName, amount: int, what: str) -> None:
        """Count `amount` of a quota, and say what for."""
        if amount:
            self.needed[quota] += amount
            self.parts.setdefault(quota, []).append(f"{what} = {amount}" if " x " in what else what)

    def add_disk(self, tier: DiskTier | None, gb: int, what: str) -> None:
        """Count a managed disk in its tier's quota (tier None: not known)."""
        if tier is None:
            self.either_tier_gb += gb
            self.either_tier_parts.append(f"{what} = {gb}")
        else:
            self.add("premiumDiskGb" if tier == "premium" else "standardDiskGb", gb, what)


@dataclass(frozen=True)
class DiskSettings:
    """How cluster disks are sized and which quota they count in."""

    os_disk_gb: int = hub_facts.OS_DISK_SIZE_GB
    etcd_disk_gb: int | None = None
    """None: AKS Engine's default for the node count."""
    tier: str = "bySize"
    """`bySize` (AKS Engine's size map), `standard` or `premium`."""


def vm_size(sizes: Mapping[str, HubVmSize], name: str, cluster: Cluster) -> HubVmSize:
    """A size by name; CannotVerifyError naming the size when the hub's table lacks it (cores cannot be counted)."""
    if name not in sizes:
        raise CannotVerifyError(
            cluster.subject,
            "the cores and disks",
            f"VM size {name!r} is not in the hub's size table (hub_facts.VM_SIZES); if this hub offers it, add "
            "it under `extraVmSizes` with its vcpus, memoryGib and maxDataDisks",
        )
    return sizes[name]


def cluster_usage(cluster: Cluster, sizes: Mapping[str, HubVmSize], disks: DiskSettings, usage: Usage) -> None:
    """Add one AKS Engine cluster's VMs, cores, NICs, disks, availability sets, IPs, LBs and NSG to `usage`."""
    master = vm_size(sizes, cluster.master_vm_size, cluster)
    pools = [(pool, vm_size(sizes, pool.vm_size, cluster)) for pool in cluster.pools]
    # The upgrade's extra VM: the largest size of the cluster, whichever role AKS Engine surges.
    surge = max([master, *(size for _, size in pools)], key=lambda s: (s.vcpus, s.memory_gib))
    vms = [("master", cluster.master_count, master)] + [(f"{p.name} worker", p.count, s) for p, s in pools]
    vms.append(("upgrade", hub_facts.UPGRADE_SURGE_VMS, surge))
    for role, number, size in vms:
        usage.add("virtualMachines", number, f"{number} x {role}")
        usage.add("cores", number * size.vcpus, f"{number} x {role} {size.name} ({size.vcpus} vCPU)")
        usage.add("networkInterfaces", number, f"{number} x {role} NIC")
        os_gb = cluster.os_disk_size_gb or disks.os_disk_gb
        usage.add_disk(_tier(size, disks), number * os_gb, f"{number} x {role} OS disk ({os_gb} GB)")
    etcd_gb = cluster.etcd_disk_size_gb or disks.etcd_disk_gb or hub_facts.etcd_disk_size_gb(cluster.node_count)
    usage.add_disk(
        _tier(master, disks),
        cluster.master_count * etcd_gb,
        f"{cluster.master_count} x etcd disk ({etcd_gb} GB at {cluster.node_count} nodes)",
    )
    usage.add("availabilitySets", 1 + len(pools), f"masters + {len(pools)} pool(s)")
    usage.add("publicIpAddresses", hub_facts.CLUSTER_PUBLIC_IPS, "API server frontend")
    lbs = hub_facts.CLUSTER_LOAD_BALANCERS_MULTI_MASTER if cluster.master_count > 1 else 1
    usage.add("loadBalancers", lbs, "API server and masters' internal LB" if lbs > 1 else "API server LB")
    usage.add("networkSecurityGroups", hub_facts.CLUSTER_NETWORK_SECURITY_GROUPS, "AKS Engine's NSG")
    usage.attachable += sum(pool.count * size.max_data_disks for pool, size in pools)


def _tier(size: HubVmSize, disks: DiskSettings) -> DiskTier:
    if disks.tier == "premium":
        return "premium"
    if disks.tier == "standard":
        return "standard"
    return size.disk_tier


@dataclass(frozen=True)
class Volumes:
    """The managed disks a StatefulSet's claim templates create."""

    replicas: int
    claims: tuple[tuple[int, str | None], ...]
    """Per claim template: GB and StorageClass name (None: the cluster's default class)."""


def statefulset_volumes(subject: Subject) -> Volumes:
    """A StatefulSet's claim templates and replicas (reads the object: unknowns raise)."""
    spec = mapping(dig(subject.props, "spec"))
    claims = []
    for template in items(dig(spec, "volumeClaimTemplates")):
        storage = dig(template, "spec", "resources", "requests", "storage")
        class_name = dig(template, "spec", "storageClassName")
        claims.append((hub_facts.disk_gb(str(storage)) if storage else 0, class_name if class_name else None))
    return Volumes(count(dig(spec, "replicas"), 1), tuple(claims))


def storage_class_tiers(subjects: Sequence[Subject]) -> dict[str, DiskTier | None]:
    """The disk tier of each StorageClass the stack declares, by name (None: a SKU the quotas do not count)."""
    tiers: dict[str, DiskTier | None] = {}
    for subject in subjects:
        if kind(subject.type) != "StorageClass" or not subject.props:
            continue
        try:
            parameters = mapping(dig(subject.props, "parameters"))
            sku = dig(parameters, "skuName") or dig(parameters, "storageaccounttype") or dig(parameters, "skuname")
            tiers[object_name(subject.props)] = hub_facts.disk_tier_of_sku(str(sku)) if sku else "standard"
        except UnknownValueError:
            continue
    return tiers


_ARM_COUNTED: tuple[tuple[str, QuotaName, str], ...] = (
    ("Microsoft.Network/publicIPAddresses", "publicIpAddresses", "public IP"),
    ("Microsoft.Network/virtualNetworks", "virtualNetworks", "VNet"),
    ("Microsoft.Network/networkSecurityGroups", "networkSecurityGroups", "NSG"),
)


def stack_usage(
    subjects: Sequence[Subject], sizes: Mapping[str, HubVmSize], disks: DiskSettings
) -> tuple[Usage, list[CannotVerifyError]]:
    """Everything the stack needs from the hub's quotas, and what could not be read in this preview."""
    usage = Usage()
    unreadable: list[CannotVerifyError] = []
    for found in find_clusters(subjects):
        if isinstance(found, CannotVerifyError):
            unreadable.append(found)
            continue
        try:
            cluster_usage(found, sizes, disks, usage)
        except CannotVerifyError as error:
            unreadable.append(error)
    for subject in subjects:
        for arm_type, quota, what in _ARM_COUNTED:
            if is_hub_arm(subject, arm_type):
                usage.add(quota, 1, f"{what} '{subject.name}'")
    unreadable += _kubernetes_usage(subjects, usage)
    return usage, unreadable


COUNTED_KINDS = ("StatefulSet", "StorageClass", "Service", "Release")


def unplanned_counted(subjects: Sequence[Subject]) -> Finding | None:
    """The "cannot verify" finding for counted Kubernetes resources the engine plans nothing for yet."""
    return unplanned(
        [s for s in subjects if kind(s.type) in COUNTED_KINDS],
        "the database volumes, LoadBalancer Services and StorageClasses counted against the quotas",
    )


def _kubernetes_usage(subjects: Sequence[Subject], usage: Usage) -> list[CannotVerifyError]:
    tiers = storage_class_tiers(subjects)
    clusters_with_lb: set[str] = set()
    unreadable: list[CannotVerifyError] = []
    for subject in filter(planned, subjects):
        try:
            _count_object(subject, tiers, usage, clusters_with_lb)
        except CannotVerifyError as error:
            unreadable.append(error)
    for _ in clusters_with_lb:
        usage.add("loadBalancers", hub_facts.KUBERNETES_LOAD_BALANCERS, "Kubernetes LB for LoadBalancer Services")
    return unreadable


def _count_object(
    subject: Subject, tiers: Mapping[str, DiskTier | None], usage: Usage, clusters_with_lb: set[str]
) -> None:
    what = kind(subject.type)
    if what == "StatefulSet":
        volumes = read(subject, "the database volumes", statefulset_volumes, subject)
        for gb, class_name in volumes.claims:
            # No class, or one the stack does not declare (the cluster's own): either tier.
            tier = tiers.get(class_name) if class_name is not None else None
            label = f"{volumes.replicas} x '{object_name(subject.props)}' volume ({gb} GB)"
            usage.add_disk(tier, volumes.replicas * gb, label)
            usage.volumes += volumes.replicas
    elif what in ("Service", "Release"):
        for service in read(subject, "the LoadBalancer Services", load_balancer_services, subject):
            clusters_with_lb.add(subject.provider_urn)
            if not service.pinned:
                usage.add("publicIpAddresses", 1, f"LoadBalancer '{subject.name}' {service.where}")


def over_quota(usage: Usage, quota: Mapping[str, int], used: Mapping[str, int]) -> list[str]:
    """One message per quota the stack exceeds (and per disk quota it may exceed when a tier is unknown)."""
    messages = []
    for name, needed in usage.needed.items():
        left = quota[name] - used[name]
        label = hub_facts.QUOTA_LABELS[name]
        figures = f"the quota leaves {left} ({quota[name]} quota - {used[name]} already used)"
        breakdown = "; ".join(usage.parts.get(name, []))
        if needed > left:
            messages.append(f"{label}: this stack needs {needed} ({breakdown}) but {figures}")
        elif name in ("standardDiskGb", "premiumDiskGb") and needed + usage.either_tier_gb > left:
            either = "; ".join(usage.either_tier_parts)
            messages.append(
                f"cannot verify {label}: this stack needs {needed} ({breakdown or 'nothing else'}) plus up to "
                f"{usage.either_tier_gb} whose StorageClass tier is not known yet ({either}), and {figures}"
            )
    return messages


VM_SIZE_SCHEMA = {
    "type": "object",
    "properties": {
        "vcpus": {"type": "integer", "minimum": 1},
        "memoryGib": {"type": "number", "minimum": 0},
        "maxDataDisks": {"type": "integer", "minimum": 0},
    },
    "required": ["vcpus", "memoryGib", "maxDataDisks"],
    "additionalProperties": False,
}

QUOTA_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "integer", "minimum": 0} for name in hub_facts.DEFAULT_QUOTAS},
    "additionalProperties": False,
}

PROPERTIES = {
    "quota": setting(
        "object",
        "The subscription's quota on this hub (its offer's plan), per quota; keys not given keep the hub's default.",
        dict(hub_facts.DEFAULT_QUOTAS),
        properties=QUOTA_SCHEMA["properties"],
        additionalProperties=False,
    ),
    "used": setting(
        "object",
        "What other deployments already use of each quota in this subscription and location (not this stack).",
        dict.fromkeys(hub_facts.DEFAULT_QUOTAS, 0),
        properties=QUOTA_SCHEMA["properties"],
        additionalProperties=False,
    ),
    "extraVmSizes": setting(
        "object",
        "VM sizes this hub offers beyond hub_facts.VM_SIZES: name -> {vcpus, memoryGib, maxDataDisks}.",
        {},
        additionalProperties=VM_SIZE_SCHEMA,
    ),
    "osDiskSizeGb": setting(
        "integer", "A node's OS disk when the apimodel sets no osDiskSizeGB (AKS Engine's image: 30).", 30, minimum=1
    ),
    "etcdDiskSizeGb": setting(
        "integer",
        "Each master's etcd disk; 0 = AKS Engine's default for the node count (256, 512 above 3, 1023 above 10).",
        0,
        minimum=0,
        maximum=1023,
    ),
    "clusterDiskTier": setting(
        "string",
        "Which disk quota cluster disks count in: bySize (premium for sizes whose family has an s), standard, premium.",
        "bySize",
        enum=["bySize", "standard", "premium"],
    ),
}


def hub_sizes(settings: Settings) -> dict[str, HubVmSize]:
    """The hub's VM sizes: the documented table plus the operator's extra sizes."""
    sizes = dict(hub_facts.VM_SIZES)
    for name, size in mapping(settings.get("extraVmSizes")).items():
        sizes[name] = HubVmSize(name, int(size["vcpus"]), float(size["memoryGib"]), int(size["maxDataDisks"]))
    return sizes


def check(subjects: Sequence[Subject], settings: Settings) -> Iterable[Finding]:
    """The stack's needs against quota minus used; unreadable parts as "cannot verify"."""
    quota: dict[str, int] = {str(k): v for k, v in hub_facts.DEFAULT_QUOTAS.items()}
    quota.update(mapping(settings["quota"]))
    used: dict[str, int] = dict.fromkeys(hub_facts.DEFAULT_QUOTAS, 0)
    used.update(mapping(settings["used"]))
    disks = DiskSettings(settings["osDiskSizeGb"], settings["etcdDiskSizeGb"] or None, settings["clusterDiskTier"])
    usage, unreadable = stack_usage(subjects, hub_sizes(settings), disks)
    gap = unplanned_counted(subjects)
    if gap is not None:
        yield gap
    for error in unreadable:
        yield Finding(error.message, error.subject.urn)
    if not unreadable and usage.attachable and usage.volumes > usage.attachable:
        yield Finding(
            f"data disks: this stack's database volumes need {usage.volumes} attached but the workers can attach at "
            f"most {usage.attachable} (each VM size's maximum data disks, hub_facts.VM_SIZES)"
        )
    for message in over_quota(usage, quota, used):
        yield Finding(message)


POLICY = stack_policy(
    NAME,
    "What the stack creates on the hub fits the subscription's quota minus what is already used there.",
    check,
    level=EnforcementLevel.MANDATORY,
    properties=PROPERTIES,
    remediation=(
        "Shrink the cluster (agentCount, VM sizes) or the database volumes, or have the hub operator raise the "
        "plan's quota; set `quota` and `used` in the policy config to this hub's figures."
    ),
)
