"""Facts about Azure Stack Hub and AKS Engine that the policies count with: the one place the pack keeps them.

Each fact names its source so it can be checked again. The project imports them from here
(`policy.stackhub_policies.hub_facts`) instead of keeping copies.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

DiskTier = Literal["standard", "premium"]


@dataclass(frozen=True)
class HubVmSize:
    """A VM size an Azure Stack Hub offers."""

    name: str
    """The ARM size name (`Standard_DS2_v2`)."""
    vcpus: int
    """Virtual CPUs: what the hub's cores quota counts."""
    memory_gib: float
    """Memory in GiB."""
    max_data_disks: int
    """Data disks the VM can attach (database volumes land here)."""

    @property
    def disk_tier(self) -> DiskTier:
        """The managed-disk tier AKS Engine gives this size's disks: premium when the size's family has an `s`.

        aks-engine-azurestack `pkg/api/common/helper.go` GetStorageAccountType (the template's vmSizesMap);
        the hub's size list marks the same families "(premium storage)".
        """
        family = self.name.split("_")[1] if "_" in self.name else ""
        return "premium" if "s" in family.lower() else "standard"


def _sizes(*rows: tuple[str, int, float, int]) -> dict[str, HubVmSize]:
    return {name: HubVmSize(name, vcpus, memory, disks) for name, vcpus, memory, disks in rows}


VM_SIZES: MappingProxyType[str, HubVmSize] = MappingProxyType(
    _sizes(
        # MicrosoftDocs/azure-stack-docs azure-stack/user/azure-stack-vm-sizes.md ("VM sizes supported in Azure
        # Stack Hub", revision of 2022-03-10): name, vCPU, memory GiB, max data disks.
        # General purpose: Basic A, Standard A, Av2.
        ("Basic_A0", 1, 0.75, 1), ("Basic_A1", 1, 1.75, 2), ("Basic_A2", 2, 3.5, 4), ("Basic_A3", 4, 7, 8),
        ("Basic_A4", 8, 14, 16),
        ("Standard_A0", 1, 0.768, 1), ("Standard_A1", 1, 1.75, 2), ("Standard_A2", 2, 3.5, 4),
        ("Standard_A3", 4, 7, 8), ("Standard_A4", 8, 14, 16), ("Standard_A5", 2, 14, 4), ("Standard_A6", 4, 28, 8),
        ("Standard_A7", 8, 56, 16),
        ("Standard_A1_v2", 1, 2, 2), ("Standard_A2_v2", 2, 4, 4), ("Standard_A4_v2", 4, 8, 8),
        ("Standard_A8_v2", 8, 16, 16), ("Standard_A2m_v2", 2, 16, 4), ("Standard_A4m_v2", 4, 32, 8),
        ("Standard_A8m_v2", 8, 64, 16),
        # D, DS, Dv2, DSv2.
        ("Standard_D1", 1, 3.5, 4), ("Standard_D2", 2, 7, 8), ("Standard_D3", 4, 14, 16), ("Standard_D4", 8, 28, 32),
        ("Standard_DS1", 1, 3.5, 4), ("Standard_DS2", 2, 7, 8), ("Standard_DS3", 4, 14, 16),
        ("Standard_DS4", 8, 28, 32),
        ("Standard_D1_v2", 1, 3.5, 4), ("Standard_D2_v2", 2, 7, 8), ("Standard_D3_v2", 4, 14, 16),
        ("Standard_D4_v2", 8, 28, 32), ("Standard_D5_v2", 16, 56, 64),
        ("Standard_DS1_v2", 1, 3.5, 4), ("Standard_DS2_v2", 2, 7, 8), ("Standard_DS3_v2", 4, 14, 16),
        ("Standard_DS4_v2", 8, 28, 32), ("Standard_DS5_v2", 16, 56, 64),
        # Compute optimized: F, Fs, Fsv2.
        ("Standard_F1", 1, 2, 4), ("Standard_F2", 2, 4, 8), ("Standard_F4", 4, 8, 16), ("Standard_F8", 8, 16, 32),
        ("Standard_F16", 16, 32, 64),
        ("Standard_F1s", 1, 2, 4), ("Standard_F2s", 2, 4, 8), ("Standard_F4s", 4, 8, 16), ("Standard_F8s", 8, 16, 32),
        ("Standard_F16s", 16, 32, 64),
        ("Standard_F2s_v2", 2, 4, 4), ("Standard_F4s_v2", 4, 8, 8), ("Standard_F8s_v2", 8, 16, 16),
        ("Standard_F16s_v2", 16, 32, 32), ("Standard_F32s_v2", 32, 64, 32), ("Standard_F64s_v2", 64, 128, 32),
        # Memory optimized: D11-14, DS11-14, their v2, DS-n_v2 (constrained vCPU), Dv3 and Ev3 (hub 2102 and later).
        ("Standard_D11", 2, 14, 8), ("Standard_D12", 4, 28, 16), ("Standard_D13", 8, 56, 32),
        ("Standard_D14", 16, 112, 64),
        ("Standard_DS11", 2, 14, 8), ("Standard_DS12", 4, 28, 16), ("Standard_DS13", 8, 56, 32),
        ("Standard_DS14", 16, 112, 64),
        ("Standard_D11_v2", 2, 14, 8), ("Standard_D12_v2", 4, 28, 16), ("Standard_D13_v2", 8, 56, 32),
        ("Standard_D14_v2", 16, 112, 64),
        ("Standard_DS11_v2", 2, 14, 8), ("Standard_DS12_v2", 4, 28, 16), ("Standard_DS13_v2", 8, 56, 32),
        ("Standard_DS14_v2", 16, 112, 64),
        ("Standard_DS11-1_v2", 1, 14, 8), ("Standard_DS12-1_v2", 1, 28, 16), ("Standard_DS12-2_v2", 2, 28, 16),
        ("Standard_DS13-2_v2", 2, 56, 32), ("Standard_DS13-4_v2", 4, 56, 32), ("Standard_DS14-4_v2", 4, 112, 64),
        ("Standard_DS14-8_v2", 8, 112, 64),
        ("Standard_D2_v3", 2, 8, 4), ("Standard_D4_v3", 4, 16, 8), ("Standard_D8_v3", 8, 32, 16),
        ("Standard_D16_v3", 16, 64, 32), ("Standard_D32_v3", 32, 128, 32),
        ("Standard_E2_v3", 2, 16, 4), ("Standard_E4_v3", 4, 32, 8), ("Standard_E8_v3", 8, 64, 16),
        ("Standard_E16_v3", 16, 128, 32),
    )
)  # fmt: skip
"""Every size the hub documentation lists (checked row by row against that page: every family of it, Basic A to
Ev3). A hub's operator may offer fewer; a size missing here (the Dsv3 `Standard_D2s_v3` family is not in that list)
is added per hub with the `extraVmSizes` policy setting. The GPU sizes (`user/gpu-vms-about.md`: NVv4 for Windows
guests only, NCv3 in preview) are left out: no role of this cluster can use them."""

ROLE_MINIMUMS: MappingProxyType[str, tuple[int, float]] = MappingProxyType({
    "master": (2, 7.0),
    "agent": (2, 7.0),
})  # fmt: skip
"""The smallest (vCPUs, GiB) a size needs for a role; the default allowed sizes are the hub's sizes at or above.
Why each figure: ROLE_MINIMUM_REASONS."""

ROLE_MINIMUM_REASONS: MappingProxyType[str, str] = MappingProxyType({
    "master": (
        "a Kubernetes control-plane node needs 2 CPUs (the floor AKS Engine's masters and kubeadm's NumCPU check "
        "share); 7 GiB holds etcd, the API server, the controllers and the Disk CSI controller, which runs on the "
        "masters on a hub"
    ),
    "agent": (
        "every worker runs a MongoDB member: its limits are 1,000m CPU and 1,280 MiB (mongod 1,024 MiB plus the "
        "member container's 256 MiB, workloads/ratings.py); a 4 GiB size leaves 1,922 MiB schedulable per worker "
        "after the kubelet's reservation, the eviction threshold and the DaemonSets (workloads/sizing.py), so a "
        "member at its limit would leave 642 MiB for the ingress controller and the application on that node; "
        "7 GiB leaves 4,379 MiB"
    ),
})  # fmt: skip
"""Why ROLE_MINIMUMS are what they are, in words a refused config can quote."""


def sizes_for_role(role: str, sizes: MappingProxyType[str, HubVmSize] | dict[str, HubVmSize]) -> list[str]:
    """The sizes big enough for a role (`master` or `agent`), by name."""
    vcpus, memory = ROLE_MINIMUMS[role]
    return sorted(s.name for s in sizes.values() if s.vcpus >= vcpus and s.memory_gib >= memory)


def size_problem(
    size: str, role: str, sizes: MappingProxyType[str, HubVmSize] | dict[str, HubVmSize] = VM_SIZES
) -> str | None:
    """Why `size` cannot serve `role` (`master` or `agent`) on a hub, or None when it can.

    One rule for the stack config and the policy pack: an unknown size is named with the closest known ones, a
    small one with its figures and the role's minimum and reason.
    """
    offered = sizes.get(size)
    if offered is None:
        # Compared without the tier (`Standard_`), which every name shares and which would make any name look close.
        def bare(name: str) -> str:
            return name.lower().split("_", 1)[-1]

        matches = difflib.get_close_matches(bare(size), sorted({bare(n) for n in sizes}), n=3, cutoff=0.8)
        close = [n for m in matches for n in sorted(sizes) if bare(n) == m and n.startswith("Standard_")][:3]
        hint = f"; closest: {', '.join(close)}" if close else ""
        return f"is not a VM size Azure Stack Hub offers (hub_facts.VM_SIZES){hint}"
    vcpus, memory = ROLE_MINIMUMS[role]
    if offered.vcpus < vcpus or offered.memory_gib < memory:
        return (
            f"has {offered.vcpus} vCPU and {offered.memory_gib:g} GiB; a {role} needs at least {vcpus} vCPU and "
            f"{memory:g} GiB: {ROLE_MINIMUM_REASONS[role]}"
        )
    return None


# --- quotas -------------------------------------------------------------------------------------------------

QuotaName = Literal[
    "virtualMachines",
    "cores",
    "availabilitySets",
    "publicIpAddresses",
    "loadBalancers",
    "networkInterfaces",
    "virtualNetworks",
    "networkSecurityGroups",
    "standardDiskGb",
    "premiumDiskGb",
]

DEFAULT_QUOTAS: MappingProxyType[QuotaName, int] = MappingProxyType({
    # azure-stack-docs azure-stack/operator/azure-stack-quota-types.md: the defaults of a new quota, per
    # subscription and location.
    "virtualMachines": 50,
    "cores": 100,
    "availabilitySets": 10,
    "publicIpAddresses": 50,
    "loadBalancers": 50,
    "networkInterfaces": 100,
    "virtualNetworks": 50,
    "networkSecurityGroups": 50,
    "standardDiskGb": 2048,
    "premiumDiskGb": 2048,
})  # fmt: skip

QUOTA_LABELS: MappingProxyType[QuotaName, str] = MappingProxyType({
    "virtualMachines": "VMs",
    "cores": "cores",
    "availabilitySets": "availability sets",
    "publicIpAddresses": "public IP addresses",
    "loadBalancers": "load balancers",
    "networkInterfaces": "network interfaces",
    "virtualNetworks": "virtual networks",
    "networkSecurityGroups": "network security groups",
    "standardDiskGb": "GB of standard managed disk",
    "premiumDiskGb": "GB of premium managed disk",
})  # fmt: skip


# --- AKS Engine on Azure Stack Hub ----------------------------------------------------------------------------

AKS_ENGINE_RELEASE = "v0.85.0"
"""The aks-engine-azurestack release the project pins."""

NEW_CLUSTER_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.33.10", "1.34.4", "1.35.0")
"""Versions that release installs on a hub (`pkg/api/common/versions.go`, AllKubernetesSupportedVersionsAzureStack)."""

NODES_PER_SUBSCRIPTION = 50
"""Kubernetes nodes per subscription, masters included (Microsoft's AKS Engine on Azure Stack Hub known issues)."""

UPGRADE_SURGE_VMS = 1
"""VMs an `upgrade` adds while it replaces nodes one at a time (a new VM before the old one goes)."""

MASTER_COUNTS: tuple[int, ...] = (3, 5)
"""Control planes the pattern accepts (AKS Engine allows 1, 3 or 5; one master is not highly available)."""

MIN_WORKERS = 2
"""Workers the pattern asks for, so that workloads survive the loss or upgrade of one node."""

OS_DISK_SIZE_GB = 30
"""A node's OS disk when the apimodel sets no `osDiskSizeGB`: the AKS image's VHD (aks-engine-azurestack
`pkg/api/const.go` VHDDiskSizeAKS; `pkg/engine/virtualmachines.go` sets `diskSizeGB` only when the apimodel does)."""


def etcd_disk_size_gb(total_nodes: int) -> int:
    """The etcd data disk on each master, from the cluster's node count at deploy time (masters included).

    aks-engine-azurestack `pkg/api/defaults.go` setOrchestratorDefaults, on Azure Stack Hub: 256 GB up to 3
    nodes, 512 GB above 3, then MaxAzureStackManagedDiskSize (1023 GB) above 10 (`pkg/api/const.go`).
    """
    if total_nodes > 10:
        return 1023
    if total_nodes > 3:
        return 512
    return 256


CLUSTER_LOAD_BALANCERS_MULTI_MASTER = 2
"""AKS Engine's own load balancers with 3 or 5 masters: the API server's public one and the masters' internal
one (`pkg/engine/masterarmresources.go`, VMAS masters, not a private cluster)."""

CLUSTER_PUBLIC_IPS = 1
"""AKS Engine's public IP: the API server load balancer's frontend (CreatePublicIPAddressForMaster)."""

CLUSTER_NETWORK_SECURITY_GROUPS = 1
"""AKS Engine's NSG, created even with a custom VNet (CreateNetworkSecurityGroup)."""

KUBERNETES_LOAD_BALANCERS = 1
"""The Basic load balancer the Kubernetes cloud provider creates for LoadBalancer Services (one per cluster)."""

BASIC_LB_FRONTEND_IPS = 5
"""Frontend IPs on a hub's Basic load balancer (Microsoft's AKS Engine on Azure Stack Hub known issues)."""

SERVICE_CIDR = "10.0.0.0/16"
"""The cluster's Service address range: AKS Engine's default `serviceCidr`, which the apimodel leaves unset
(aks-engine-azurestack `pkg/api/const.go` DefaultKubernetesServiceCIDR). Service addresses never leave a node, so a
VNet, a subnet or an admin network that overlaps them is unreachable from pods."""

DNS_SERVICE_IP = "10.0.0.10"
"""The cluster DNS Service's address: AKS Engine's default (`DefaultKubernetesDNSServiceIP`, same file)."""

MAX_MANAGED_DISK_GIB = 1023
"""The largest managed disk a hub offers: M30, 1,023 GiB (azure-stack-docs `user/azure-stack-managed-disk-
considerations.md`, "Disk size": M4 32 GiB to M30 1023 GiB)."""

MAX_TAGS_PER_RESOURCE = 15
"""Tags one hub resource may carry. Resource Manager allowed 15 before public Azure raised it to 50; a hub's
Resource Manager (API profile 2020-09-01-hybrid) is not documented to have the newer limit, so the older one holds."""

TAG_NAME_MAX = 512
"""Characters in a tag name (Resource Manager; public Azure and hubs alike)."""

TAG_VALUE_MAX = 256
"""Characters in a tag value."""

TAG_NAME_FORBIDDEN = "<>%&\\?/"
"""Characters Resource Manager refuses in a tag name."""


# --- Kubernetes quantities -------------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_BYTES = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "k": 10**3, "M": 10**6,
          "G": 10**9, "T": 10**12, "P": 10**15}  # fmt: skip


def disk_gb(quantity: str) -> int:
    """A storage request as the GB a managed disk of that size is counted in, rounded up.

    Azure sizes managed disks in GiB (what its API and quotas call GB), so `16Gi` is 16 and `16G` is 15.
    """
    match = _QUANTITY.match(quantity.strip())
    if match is None:
        raise ValueError(f"{quantity!r} is not a Kubernetes storage quantity")
    number, unit = match.groups()
    return math.ceil(float(number) * _BYTES[unit] / 2**30)


def disk_tier_of_sku(sku: str) -> DiskTier | None:
    """The quota a managed disk SKU counts against (`Premium_LRS` -> premium); None for a SKU the hub lacks."""
    lowered = sku.lower()
    if lowered.startswith("premium"):
        return "premium"
    if lowered.startswith("standard"):
        return "standard"
    return None
