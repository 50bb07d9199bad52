"""Address planning and NSG rules, as plain functions."""

from __future__ import annotations

import pytest

from planning.network import (
    Overlap,
    SecurityRule,
    admin_and_deny_rules,
    master_block,
    node_capacity,
    overlaps,
    subnet_problems,
    web_to_ingress_rule,
)


@pytest.mark.parametrize(
    ("subnet", "first", "cidr"),
    [
        # Microsoft's custom-VNet guide: a /24 puts the masters at .224.
        ("10.1.0.0/24", "10.1.0.224", "10.1.0.224/28"),
        ("10.10.0.0/22", "10.10.3.224", "10.10.3.224/28"),
        ("10.20.64.0/26", "10.20.64.32", "10.20.64.32/28"),
    ],
)
def test_master_block_sits_16_addresses_before_the_end(subnet: str, first: str, cidr: str) -> None:
    block = master_block(subnet)
    assert (block.first_ip, block.cidr) == (first, cidr)


def test_master_block_needs_a_26_or_larger() -> None:
    with pytest.raises(ValueError, match="too small for the master block"):
        master_block("10.1.0.0/27")


CAPACITY = [("10.1.0.0/24", 30, 7), ("10.1.0.0/22", 30, 31), ("10.1.0.0/21", 30, 64), ("10.1.0.0/24", 10, 19)]


@pytest.mark.parametrize(("subnet", "max_pods", "nodes"), CAPACITY)
def test_node_capacity_counts_one_address_per_pod_plus_the_node(subnet: str, max_pods: int, nodes: int) -> None:
    assert node_capacity(subnet, max_pods) == nodes


def test_subnet_must_be_inside_the_vnet_and_big_enough() -> None:
    assert subnet_problems("10.10.0.0/16", "10.10.0.0/22") == []
    assert subnet_problems("10.10.0.0/16", "10.11.0.0/22") == ["must lie inside the VNet address space 10.10.0.0/16"]
    assert "must be /26 or larger" in subnet_problems("10.10.0.0/16", "10.10.0.0/27")[0]


def test_overlaps_lists_every_overlapping_pair_once() -> None:
    spaces = {
        "hub-a": ["10.10.0.0/16"],
        "hub-b": ["10.20.0.0/16", "10.10.128.0/17"],
        "hub-c": ["10.30.0.0/16"],
    }
    assert overlaps(spaces) == [Overlap("hub-a", "10.10.0.0/16", "hub-b", "10.10.128.0/17")]
    assert overlaps({"hub-a": ["10.10.0.0/16"], "hub-b": ["10.20.0.0/16"]}) == []


def subnet_rules(admins: list[str], ingress_ip: str, masters: str) -> list[SecurityRule]:
    """The rule list as HubNetwork declares it: the web rule first, then the admin and deny rules."""
    return [web_to_ingress_rule(ingress_ip), *admin_and_deny_rules(admins, masters)]


def test_security_rules_open_web_to_the_ingress_only_and_admin_ports_to_the_masters_only() -> None:
    rules = {r.name: r for r in subnet_rules(["10.250.0.0/24", "10.251.0.0/24"], "203.0.113.7", "10.1.0.224/28")}
    web, api, ssh, deny = (rules[n] for n in ("allow-web-to-ingress", "allow-admin-kube-api", "allow-admin-ssh",
                                              "deny-internet-inbound"))  # fmt: skip
    assert (web.sources, web.destinations, web.ports, web.protocol) == (
        ("Internet",),
        ("203.0.113.7/32",),
        ("80", "443"),
        "Tcp",
    )
    assert (api.sources, api.destinations, api.ports) == (
        ("10.250.0.0/24", "10.251.0.0/24"),
        ("10.1.0.224/28",),
        ("443",),
    )
    assert (ssh.sources, ssh.destinations, ssh.ports) == (
        ("10.250.0.0/24", "10.251.0.0/24"),
        ("10.1.0.224/28",),
        ("22",),
    )
    assert (deny.access, deny.sources, deny.priority) == ("Deny", ("Internet",), 4096)
    # Allows must win over the deny; hubs accept no ICMP.
    assert max(r.priority for r in rules.values() if r.access == "Allow") < deny.priority
    assert {r.protocol for r in rules.values()} <= {"Tcp", "Udp", "*"}
    assert len({r.priority for r in rules.values()}) == len(rules)


def test_rule_to_arm_uses_singular_or_plural_fields_never_both() -> None:
    web, api, *_ = subnet_rules(["10.250.0.0/24"], "203.0.113.7", "10.1.0.224/28")
    web_props = web.to_arm()["properties"]
    assert web_props["destinationPortRanges"] == ["80", "443"]
    assert "destinationPortRange" not in web_props
    assert web_props["sourceAddressPrefix"] == "Internet"
    assert "sourceAddressPrefixes" not in web_props
    assert api.to_arm() == {
        "name": "allow-admin-kube-api",
        "properties": {
            "description": "Kubernetes API from the admin networks",
            "priority": 110,
            "direction": "Inbound",
            "access": "Allow",
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "sourceAddressPrefix": "10.250.0.0/24",
            "destinationAddressPrefix": "10.1.0.224/28",
            "destinationPortRange": "443",
        },
    }
