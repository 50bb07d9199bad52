"""Address planning and security rules for a hub's cluster network. Pure functions, no Pulumi."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policy.stackhub_policies.hub_facts import SERVICE_CIDR

# Azure keeps the first four addresses and the last one of every subnet.
AZURE_RESERVED_ADDRESSES = 5
# AKS Engine with a custom VNet needs up to 16 consecutive addresses for the masters: one per master (up to 5),
# 10 of headroom and one for the internal load balancer (Azure Stack Hub docs, "custom virtual network").
MASTER_BLOCK_SIZE = 16
# ... placed near the end of the subnet with a 16-address buffer after it (a /24 starts the block at .224).
MASTER_BLOCK_BUFFER = 16
# Azure CNI gives every node one address for itself and one per pod it may run.
DEFAULT_MAX_PODS = 30


@dataclass(frozen=True)
class NetworkIds:
    """ARM ids of a hub network's resources, named from the hub's prefix."""

    resource_group: str
    vnet: str
    subnet: str
    nsg: str
    ingress_ip: str


CLUSTER_SUBNET_NAME = "cluster"


def network_ids(subscription_id: str, resource_group: str, prefix: str) -> NetworkIds:
    """The ids HubNetwork gives its resources (known before they exist, so config checks can use them)."""
    group = f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
    network = f"{group}/providers/Microsoft.Network"
    vnet = f"{network}/virtualNetworks/{prefix}-vnet"
    return NetworkIds(
        resource_group=group,
        vnet=vnet,
        subnet=f"{vnet}/subnets/{CLUSTER_SUBNET_NAME}",
        nsg=f"{network}/networkSecurityGroups/{prefix}-cluster-nsg",
        ingress_ip=f"{network}/publicIPAddresses/{prefix}-ingress-ip",
    )


@dataclass(frozen=True)
class MasterBlock:
    """The consecutive static addresses AKS Engine gives the masters (`firstConsecutiveStaticIP` onwards)."""

    first_ip: str
    cidr: str


def master_block(subnet_cidr: str) -> MasterBlock:
    """The /28 that ends 16 addresses before the end of the subnet, as Microsoft's custom-VNet guide places it."""
    subnet = ipaddress.ip_network(subnet_cidr)
    needed = MASTER_BLOCK_SIZE + MASTER_BLOCK_BUFFER
    if subnet.num_addresses < needed * 2:
        raise ValueError(f"subnet {subnet_cidr} is too small for the master block: use /26 or larger")
    first = subnet.broadcast_address - (needed - 1)
    return MasterBlock(first_ip=str(first), cidr=str(ipaddress.ip_network(f"{first}/28")))


def node_capacity(subnet_cidr: str, max_pods: int = DEFAULT_MAX_PODS) -> int:
    """How many Azure CNI nodes (masters included) fit in the subnet beside the master block and its buffer."""
    subnet = ipaddress.ip_network(subnet_cidr)
    usable = subnet.num_addresses - AZURE_RESERVED_ADDRESSES - MASTER_BLOCK_SIZE - MASTER_BLOCK_BUFFER
    return max(usable, 0) // (max_pods + 1)


def subnet_problems(vnet_cidr: str, subnet_cidr: str) -> list[str]:
    """Why the cluster subnet cannot be used in this VNet; empty when it can."""
    vnet = ipaddress.IPv4Network(vnet_cidr)
    subnet = ipaddress.IPv4Network(subnet_cidr)
    if not subnet.subnet_of(vnet):
        return [f"must lie inside the VNet address space {vnet_cidr}"]
    if subnet.prefixlen > 26:
        return ["must be /26 or larger: AKS Engine reserves 16 addresses for masters plus a 16-address buffer"]
    return []


def service_range_problem(vnet_cidr: str, service_cidr: str = SERVICE_CIDR) -> str | None:
    """Why the VNet cannot hold the cluster: its addresses overlap the cluster's Service range; None when they don't.

    kube-proxy answers Service addresses on every node, so with Azure CNI a node or pod address inside the
    Service range is unreachable from the pods.
    """
    if not ipaddress.IPv4Network(vnet_cidr).overlaps(ipaddress.IPv4Network(service_cidr)):
        return None
    return (
        f"overlaps the cluster's Service address range {service_cidr} (AKS Engine's serviceCidr): pods could not "
        "reach nodes or pods whose addresses fall in it; use an address space outside it, e.g. 10.10.0.0/16"
    )


WIDEST_PUBLIC_ADMIN_PREFIX = 8
"""An admin network of public addresses may be at most a /8: wider ones open SSH and the Kubernetes API to a large
part of the Internet."""


def admin_cidr_problem(cidr: str) -> str | None:
    """Why one admin network (`adminSourceCidrs` entry) is refused, or None."""
    network = ipaddress.IPv4Network(cidr)
    if network.prefixlen == 0:
        return "must not be 0.0.0.0/0: SSH and the Kubernetes API would be open to everyone"
    if network.prefixlen < WIDEST_PUBLIC_ADMIN_PREFIX and not network.is_private:
        return (
            f"opens SSH and the Kubernetes API to {network.num_addresses:,} public addresses; an admin network of "
            f"public addresses may be at most a /{WIDEST_PUBLIC_ADMIN_PREFIX}"
        )
    return None


def admin_cidrs_problem(cidrs: Sequence[str]) -> str | None:
    """Why the admin networks together are refused (they cover every IPv4 address), or None."""
    networks = [ipaddress.IPv4Network(c) for c in cidrs]
    if any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(networks)):
        return (
            f"together cover every IPv4 address ({', '.join(cidrs)} add up to 0.0.0.0/0): SSH and the Kubernetes "
            "API would be open to everyone"
        )
    return None


@dataclass(frozen=True)
class Overlap:
    """Two hubs whose address spaces share addresses."""

    hub_a: str
    cidr_a: str
    hub_b: str
    cidr_b: str

    def __str__(self) -> str:
        return f"{self.hub_a} {self.cidr_a} overlaps {self.hub_b} {self.cidr_b}"


def overlaps(address_spaces: Mapping[str, Sequence[str]]) -> list[Overlap]:
    """Every pair of hubs whose address spaces overlap (hubs that replicate over VPN must not)."""
    found: list[Overlap] = []
    hubs = sorted(address_spaces)
    for i, hub_a in enumerate(hubs):
        for hub_b in hubs[i + 1 :]:
            for cidr_a in address_spaces[hub_a]:
                for cidr_b in address_spaces[hub_b]:
                    if ipaddress.ip_network(cidr_a).overlaps(ipaddress.ip_network(cidr_b)):
                        found.append(Overlap(hub_a, cidr_a, hub_b, cidr_b))
    return found


@dataclass(frozen=True)
class SecurityRule:
    """An inbound NSG rule. Hubs accept only TCP, UDP or `*` (no ICMP)."""

    name: str
    priority: int
    access: str
    protocol: str
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    ports: tuple[str, ...]
    description: str

    def to_arm(self) -> dict[str, Any]:
        """The rule as an element of `securityRules` (Microsoft.Network 2018-11-01)."""
        props: dict[str, Any] = {
            "description": self.description,
            "priority": self.priority,
            "direction": "Inbound",
            "access": self.access,
            "protocol": self.protocol,
            "sourcePortRange": "*",
        }
        props.update(_one_or_many("sourceAddressPrefix", "sourceAddressPrefixes", self.sources))
        props.update(_one_or_many("destinationAddressPrefix", "destinationAddressPrefixes", self.destinations))
        props.update(_one_or_many("destinationPortRange", "destinationPortRanges", self.ports))
        return {"name": self.name, "properties": props}


def _one_or_many(singular: str, plural: str, values: tuple[str, ...]) -> dict[str, object]:
    # ARM takes one value in the singular field, several in the plural one, never both.
    return {singular: values[0]} if len(values) == 1 else {plural: list(values)}


HTTP_PORTS = ("80", "443")


def web_to_ingress_rule(ingress_ip: str) -> SecurityRule:
    """The cluster subnet's first inbound rule: web traffic reaches only the ingress controller's address.

    The cloud provider's load balancer rules use floating IP, so packets arrive addressed to the public
    frontend. It is the one rule that needs the ingress address, known only once the hub has allocated it.
    """
    return SecurityRule("allow-web-to-ingress", 100, "Allow", "Tcp", ("Internet",), (f"{ingress_ip}/32",), HTTP_PORTS,
                        "HTTP and HTTPS from anywhere to the ingress controller")  # fmt: skip


def admin_and_deny_rules(admin_cidrs: Sequence[str], masters_cidr: str) -> list[SecurityRule]:
    """The cluster subnet's other inbound rules, which config alone decides (known in every preview).

    SSH and the Kubernetes API (443 on the masters behind AKS Engine's master load balancer) are open only to
    the admin networks. The explicit deny of `Internet` documents the default and sits above the platform's own
    allow rules for the VNet and the load balancer probes, which must keep working.
    """
    admins = tuple(admin_cidrs)
    return [
        SecurityRule("allow-admin-kube-api", 110, "Allow", "Tcp", admins, (masters_cidr,), ("443",),
                     "Kubernetes API from the admin networks"),
        SecurityRule("allow-admin-ssh", 120, "Allow", "Tcp", admins, (masters_cidr,), ("22",),
                     "SSH to the masters from the admin networks"),
        SecurityRule("deny-internet-inbound", 4096, "Deny", "*", ("Internet",), ("*",), ("*",),
                     "Everything else from the Internet"),
    ]  # fmt: skip
