"""HubNetwork as the hub stack composes it: what is created, at which API versions, wired how."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from preview.engine import StackRun, is_secret, is_unknown, offline_ip, run_stack
from tests.conftest import shared_outputs

SUB = "/subscriptions/3b8e4d2a-1c9f-4a7e-b6d5-0e1f2a3b4c5d/resourceGroups/hub-seattle-network"
NET = f"{SUB}/providers/Microsoft.Network"
INGRESS_IP_ID = f"{NET}/publicIPAddresses/hub-seattle-ingress-ip"
# What ARM answers for the ingress IP (computed from its id, not read from anything the program exported).
INGRESS_ADDRESS = offline_ip(INGRESS_IP_ID)
# <hubName>-ingress.<region>.cloudapp.<fqdn>, from hubName, location and armEndpoint of Pulumi.hub-seattle.yaml.
INGRESS_FQDN = "hub-seattle-ingress.seattle.cloudapp.azurestack.contoso.com"


@pytest.fixture(scope="module")
def first_preview() -> StackRun:
    """A first `pulumi preview` of hub-seattle: nothing exists yet, so ARM has assigned no address."""
    return run_stack("hub-seattle", stack_outputs={"shared": shared_outputs()}, mode="preview")


def arm_by_name(run: StackRun) -> dict[str, dict[str, Any]]:
    return {r.name: r.plain_inputs for r in run.arm()}


def test_network_resources_and_their_hybrid_profile_api_versions(seattle: StackRun) -> None:
    created = {name: (i["resource_id"], i["api_version"]) for name, i in arm_by_name(seattle).items()}
    assert created == {
        "hub-seattle-rg": (SUB, "2019-10-01"),
        "hub-seattle-ingress-ip": (f"{NET}/publicIPAddresses/hub-seattle-ingress-ip", "2018-11-01"),
        "hub-seattle-nsg": (f"{NET}/networkSecurityGroups/hub-seattle-cluster-nsg", "2018-11-01"),
        "hub-seattle-vnet": (f"{NET}/virtualNetworks/hub-seattle-vnet", "2018-11-01"),
    }


def test_every_arm_resource_is_a_child_of_the_component_and_in_the_hub_region(seattle: StackRun) -> None:
    (component,) = seattle.by_type("stackhub-ha:index:HubNetwork")
    for resource in seattle.arm():
        assert resource.parent == component.urn
        assert resource.plain_inputs["location"] == "seattle"
        assert resource.plain_inputs["tags"]["hub"] == "hub-seattle"
        assert resource.plain_inputs["connection"] == {
            "arm_endpoint": "https://management.seattle.azurestack.contoso.com",
            "tenant_id": "6f1c2a4e-8b7d-4e53-9a0f-2d3c4b5a6e7f",
            "subscription_id": "3b8e4d2a-1c9f-4a7e-b6d5-0e1f2a3b4c5d",
            "client_id": "9a7b6c5d-4e3f-4a1b-8c2d-7e6f5a4b3c2d",
            "identity_system": "azure_ad",
        }


def test_the_client_secret_is_registered_as_a_secret_everywhere(seattle: StackRun) -> None:
    for resource in seattle.arm():
        assert is_secret(resource.inputs["client_secret"]), resource.name


def test_vnet_declares_the_cluster_subnet_inline_with_the_nsg(seattle: StackRun) -> None:
    vnet = arm_by_name(seattle)["hub-seattle-vnet"]
    assert vnet["properties"] == {
        "addressSpace": {"addressPrefixes": ["10.10.0.0/16"]},
        "subnets": [
            {
                "name": "cluster",
                "properties": {
                    "addressPrefix": "10.10.0.0/22",
                    "networkSecurityGroup": {"id": f"{NET}/networkSecurityGroups/hub-seattle-cluster-nsg"},
                },
            }
        ],
    }
    assert "routeTable" not in vnet["properties"]["subnets"][0]["properties"]


def test_nsg_rules_target_the_ingress_address_and_the_admin_networks(seattle: StackRun) -> None:
    rules = {r["name"]: r["properties"] for r in arm_by_name(seattle)["hub-seattle-nsg"]["properties"]["securityRules"]}
    assert rules["allow-web-to-ingress"]["destinationAddressPrefix"] == f"{INGRESS_ADDRESS}/32"
    assert rules["allow-web-to-ingress"]["destinationPortRanges"] == ["80", "443"]
    assert rules["allow-admin-ssh"]["sourceAddressPrefix"] == "10.250.10.0/24"
    assert rules["allow-admin-kube-api"]["destinationAddressPrefix"] == "10.10.3.224/28"
    assert rules["deny-internet-inbound"]["access"] == "Deny"


def test_a_first_preview_leaves_the_ingress_address_and_what_uses_it_unknown(first_preview: StackRun) -> None:
    # The dynamic provider echoes the inputs as the state of a resource it would create, and `server_properties`
    # is never an input: nothing ARM assigns may preview as a known (and wrong) value, such as an empty address.
    ip = first_preview.named("hub-seattle-ingress-ip")
    assert ip.op == "create"
    assert "server_properties" not in ip.state
    assert "ipAddress" not in ip.state["properties"]
    outputs = first_preview.outputs
    assert is_unknown(outputs["ingressIp"])
    assert is_unknown(outputs["ingressFqdn"])
    # The NSG's rules hold the address: they are unknown until ARM has assigned it.
    nsg = arm_by_name(first_preview)["hub-seattle-nsg"]
    assert is_unknown(nsg["properties"]["securityRules"])
    # What the program decides alone is known: every resource id, the VNet with its subnet and NSG association.
    created = {name: i["resource_id"] for name, i in arm_by_name(first_preview).items()}
    assert created == {
        "hub-seattle-rg": SUB,
        "hub-seattle-ingress-ip": INGRESS_IP_ID,
        "hub-seattle-nsg": f"{NET}/networkSecurityGroups/hub-seattle-cluster-nsg",
        "hub-seattle-vnet": f"{NET}/virtualNetworks/hub-seattle-vnet",
    }
    assert outputs["ingressIpId"] == INGRESS_IP_ID
    assert outputs["vnetId"] == f"{NET}/virtualNetworks/hub-seattle-vnet"
    assert outputs["clusterSubnetId"] == f"{NET}/virtualNetworks/hub-seattle-vnet/subnets/cluster"
    assert arm_by_name(first_preview)["hub-seattle-vnet"]["properties"]["subnets"][0]["properties"] == {
        "addressPrefix": "10.10.0.0/22",
        "networkSecurityGroup": {"id": f"{NET}/networkSecurityGroups/hub-seattle-cluster-nsg"},
    }


def test_computed_values_are_read_from_an_output_that_is_never_an_input(seattle: StackRun) -> None:
    # A real preview echoes a dynamic resource's inputs as its state: anything read from an input key would
    # preview as a wrong value instead of an unknown one.
    for resource in seattle.arm():
        assert "server_properties" not in resource.inputs


def test_ingress_ip_is_static_basic_ipv4_and_protected(seattle: StackRun) -> None:
    ip = seattle.named("hub-seattle-ingress-ip")
    assert ip.plain_inputs["sku"] == {"name": "Basic"}
    assert ip.plain_inputs["properties"]["publicIPAllocationMethod"] == "Static"
    assert ip.plain_inputs["properties"]["publicIPAddressVersion"] == "IPv4"
    assert ip.protect


def test_resources_that_carry_the_cluster_are_protected_and_the_rest_is_not(seattle: StackRun) -> None:
    protected = sorted(r.name for r in seattle.arm() if r.protect)
    assert protected == ["hub-seattle-ingress-ip", "hub-seattle-rg", "hub-seattle-vnet"]


def test_creation_order_comes_from_real_dependencies(seattle: StackRun) -> None:
    urn = {r.name: r.urn for r in seattle.resources}
    deps = {r.name: set(r.dependencies) for r in seattle.arm()}
    assert deps["hub-seattle-rg"] == set()
    assert urn["hub-seattle-rg"] in deps["hub-seattle-ingress-ip"]
    assert urn["hub-seattle-ingress-ip"] in deps["hub-seattle-nsg"]
    assert urn["hub-seattle-nsg"] in deps["hub-seattle-vnet"]


def test_exported_contract(seattle: StackRun) -> None:
    outputs = seattle.plain_outputs
    assert set(outputs) >= {
        "contractVersion", "hubName", "location", "resourceGroup", "vnetId", "addressSpaces", "clusterSubnetId",
        "firstConsecutiveStaticIp", "ingressIpId", "ingressIp", "ingressFqdn",
    }  # fmt: skip
    assert outputs["clusterSubnetId"] == f"{NET}/virtualNetworks/hub-seattle-vnet/subnets/cluster"
    assert outputs["firstConsecutiveStaticIp"] == "10.10.3.224"
    assert ipaddress.ip_address(outputs["firstConsecutiveStaticIp"]) in ipaddress.ip_network("10.10.0.0/22")
    assert outputs["addressSpaces"] == ["10.10.0.0/16"]
    assert outputs["ingressIpId"] == INGRESS_IP_ID
    assert outputs["ingressIp"] == INGRESS_ADDRESS
    assert outputs["ingressFqdn"] == INGRESS_FQDN
    assert (outputs["hubName"], outputs["location"], outputs["resourceGroup"]) == (
        "hub-seattle", "seattle", "hub-seattle-network")  # fmt: skip


def test_a_first_preview_knows_the_admin_network_rules(first_preview: StackRun) -> None:
    rules = arm_by_name(first_preview)["hub-seattle-nsg"]["properties"]["securityRules"]
    # Only the web rule waits for the address the hub allocates.
    assert isinstance(rules, list)
    assert is_unknown(rules[0])
    known = {r["name"]: r["properties"] for r in rules[1:]}
    assert known["allow-admin-ssh"]["sourceAddressPrefix"] == "10.250.10.0/24"
    assert known["allow-admin-kube-api"]["sourceAddressPrefix"] == "10.250.10.0/24"
    assert known["allow-admin-kube-api"]["destinationAddressPrefix"] == "10.10.3.224/28"
    assert known["deny-internet-inbound"]["access"] == "Deny"
