"""HubNetwork: the network on one Azure Stack Hub that the cluster is deployed into.

Ownership (each ARM property has exactly one owner):
- this component owns the resource group, the VNet with its cluster subnet (subnets are declared inline, so a VNet
  update never drops them), the subnet's NSG association and rules, and the ingress public IP;
- AKS Engine owns everything in the cluster's own resource group, including the NSG it creates. With a custom VNet
  that NSG stays unattached: the subnet's effective rules are this component's;
- with Azure CNI there is no route table to attach, so nobody else writes to the subnet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from arm import ArmResource, HubConnection
from planning.network import CLUSTER_SUBNET_NAME, admin_and_deny_rules, master_block, web_to_ingress_rule


@dataclass(frozen=True)
class HubNetworkArgs:
    """Inputs of a HubNetwork."""

    connection: HubConnection
    """The hub's ARM endpoint, tenant, subscription and client id."""
    client_secret: pulumi.Input[str]
    """The service principal's secret (kept secret in state)."""
    location: str
    """The hub region, e.g. `seattle` (`local` on a development kit)."""
    resource_group: str
    """Resource group for the network and the ingress address (not the cluster's own group)."""
    name_prefix: str
    """Prefix of every resource name, usually the hub name."""
    vnet_cidr: str
    """The VNet address space."""
    cluster_subnet_cidr: str
    """The subnet masters and nodes live in."""
    admin_source_cidrs: Sequence[str]
    """Networks allowed to reach SSH and the Kubernetes API."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every resource."""


class HubNetwork(pulumi.ComponentResource):
    """Resource group, VNet, cluster subnet with its NSG, and a static ingress address on one hub."""

    resource_group_name: pulumi.Output[str]
    """The network resource group's name."""
    vnet_id: pulumi.Output[str]
    """ARM id of the VNet."""
    vnet_cidr: pulumi.Output[str]
    """The VNet address space (AKS Engine's `vnetCidr`)."""
    subnet_id: pulumi.Output[str]
    """ARM id of the cluster subnet (AKS Engine's `vnetSubnetID`)."""
    subnet_cidr: pulumi.Output[str]
    """The cluster subnet's address range."""
    first_consecutive_static_ip: pulumi.Output[str]
    """First of the 16 addresses reserved for masters (AKS Engine's `firstConsecutiveStaticIP`)."""
    ingress_ip_id: pulumi.Output[str]
    """ARM id of the ingress controller's static public IP."""
    ingress_ip_address: pulumi.Output[str]
    """The ingress controller's public address."""
    ingress_fqdn: pulumi.Output[str]
    """DNS name of the ingress address on the hub (`<label>.<region>.cloudapp.<fqdn>`)."""

    def __init__(self, name: str, args: HubNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("stackhub-ha:index:HubNetwork", name, None, opts)
        self._args = args
        sub = args.connection.subscription_id
        group_id = f"/subscriptions/{sub}/resourceGroups/{args.resource_group}"
        network_ns = f"{group_id}/providers/Microsoft.Network"
        block = master_block(args.cluster_subnet_cidr)

        group = self._arm(f"{name}-rg", group_id, protect=True)
        ingress_ip = self._create_ingress_ip(
            name, f"{network_ns}/publicIPAddresses/{args.name_prefix}-ingress-ip", group
        )
        nsg = self._create_nsg(
            name,
            f"{network_ns}/networkSecurityGroups/{args.name_prefix}-cluster-nsg",
            ingress_ip,
            block.cidr,
            group,
        )
        vnet_id = f"{network_ns}/virtualNetworks/{args.name_prefix}-vnet"
        vnet = self._arm(
            f"{name}-vnet",
            vnet_id,
            properties=nsg.resource_id.apply(lambda nsg_id: {
                "addressSpace": {"addressPrefixes": [args.vnet_cidr]},
                "subnets": [{
                    "name": CLUSTER_SUBNET_NAME,
                    "properties": {"addressPrefix": args.cluster_subnet_cidr, "networkSecurityGroup": {"id": nsg_id}},
                }],
            }),
            depends_on=[group],
            # The cluster's VMs live in this VNet: replacing it would take the cluster down.
            protect=True,
        )  # fmt: skip

        self.resource_group_name = pulumi.Output.from_input(args.resource_group)
        self.vnet_id = vnet.resource_id
        self.vnet_cidr = pulumi.Output.from_input(args.vnet_cidr)
        self.subnet_id = vnet.resource_id.apply(lambda vid: f"{vid}/subnets/{CLUSTER_SUBNET_NAME}")
        self.subnet_cidr = pulumi.Output.from_input(args.cluster_subnet_cidr)
        self.first_consecutive_static_ip = pulumi.Output.from_input(block.first_ip)
        self.ingress_ip_id = ingress_ip.resource_id
        self.ingress_ip_address = ingress_ip.server_properties.apply(lambda p: str(p.get("ipAddress", "")))
        self.ingress_fqdn = ingress_ip.server_properties.apply(lambda p: str(p.get("dnsSettings", {}).get("fqdn", "")))
        self.register_outputs({
            "resource_group_name": self.resource_group_name,
            "vnet_id": self.vnet_id,
            "vnet_cidr": self.vnet_cidr,
            "subnet_id": self.subnet_id,
            "subnet_cidr": self.subnet_cidr,
            "first_consecutive_static_ip": self.first_consecutive_static_ip,
            "ingress_ip_id": self.ingress_ip_id,
            "ingress_ip_address": self.ingress_ip_address,
            "ingress_fqdn": self.ingress_fqdn,
        })  # fmt: skip

    def _arm(
        self,
        name: str,
        resource_id: str,
        *,
        properties: pulumi.Input[Mapping[str, Any]] | None = None,
        sku: Mapping[str, Any] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        protect: bool = False,
    ) -> ArmResource:
        return ArmResource(
            name,
            connection=self._args.connection,
            client_secret=self._args.client_secret,
            resource_id=resource_id,
            location=self._args.location,
            tags=self._args.tags,
            sku=sku,
            properties=properties,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on), protect=protect),
        )

    def _create_ingress_ip(self, name: str, resource_id: str, group: ArmResource) -> ArmResource:
        # Static and outside the cluster's resource group, so the address (and the DNS records and Traffic
        # Manager endpoints that point at it) survives a cluster rebuild. Hubs offer Basic SKU and IPv4 only.
        return self._arm(
            f"{name}-ingress-ip",
            resource_id,
            sku={"name": "Basic"},
            properties={
                "publicIPAllocationMethod": "Static",
                "publicIPAddressVersion": "IPv4",
                "dnsSettings": {"domainNameLabel": f"{self._args.name_prefix}-ingress"},
            },
            depends_on=[group],
            protect=True,
        )

    def _create_nsg(
        self, name: str, resource_id: str, ingress_ip: ArmResource, masters_cidr: str, group: ArmResource
    ) -> ArmResource:
        # Only the web rule waits for the address the hub allocates; the others stay readable in a first preview.
        web = ingress_ip.server_properties.apply(lambda p: web_to_ingress_rule(str(p.get("ipAddress"))).to_arm())
        rules = [web, *(r.to_arm() for r in admin_and_deny_rules(self._args.admin_source_cidrs, masters_cidr))]
        return self._arm(f"{name}-nsg", resource_id, properties={"securityRules": rules}, depends_on=[group])
