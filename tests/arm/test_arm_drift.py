"""What a refresh reads back: the hub's values in the declared shape, and what the next diff makes of it."""

from __future__ import annotations

import copy
from typing import Any

from arm.drift import project, refreshed_inputs
from arm.resource import decide_diff

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/hub-rg"
NSG = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/cluster-nsg"
VNET = f"{RG}/providers/Microsoft.Network/virtualNetworks/cluster-vnet"


def rule(name: str, priority: int, port: str) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "priority": priority,
            "direction": "Inbound",
            "access": "Allow",
            "protocol": "Tcp",
            "sourceAddressPrefix": "*",
            "destinationPortRange": port,
        },
    }


def as_hub_answers(item: dict[str, Any], parent: str, collection: str) -> dict[str, Any]:
    """An item as ARM returns it: read-only fields added, empty plural fields filled in."""
    return {
        **item,
        "id": f"{parent}/{collection}/{item['name']}",
        "etag": 'W/"7"',
        "type": f"Microsoft.Network/networkSecurityGroups/{collection}",
        "properties": {
            **item["properties"],
            "provisioningState": "Succeeded",
            "sourceAddressPrefixes": [],
            "destinationPortRanges": [],
        },
    }


DECLARED_RULES = [rule("allow-http", 100, "80"), rule("allow-https", 110, "443"), rule("allow-ssh", 120, "22")]


def declared_nsg() -> dict[str, Any]:
    return {
        "resource_id": NSG,
        "api_version": "2018-11-01",
        "location": "local",
        "tags": {"owner": "platform"},
        "properties": {"securityRules": copy.deepcopy(DECLARED_RULES)},
        "connection": {"arm_endpoint": "https://management.local"},
        "client_secret": "s",
    }


def hub_nsg(rules: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": NSG,
        "name": "cluster-nsg",
        "type": "Microsoft.Network/networkSecurityGroups",
        "location": "local",
        "etag": 'W/"7"',
        "tags": {"owner": "platform"},
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": "5b1a4c1e-0000-0000-0000-000000000000",
            "securityRules": [as_hub_answers(r, NSG, "securityRules") for r in rules],
            "defaultSecurityRules": [as_hub_answers(rule("DenyAllInBound", 65500, "*"), NSG, "defaultSecurityRules")],
        },
    }
    answer.update(changes)
    return answer


def outputs_after_refresh(declared: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    """How ArmResourceProvider.read stores a refresh: the refreshed declaration under desired_properties."""
    refreshed = refreshed_inputs(declared, server)
    return {**refreshed, "desired_properties": refreshed.get("properties"), "properties": server["properties"]}


def test_an_unchanged_hub_reads_back_as_the_declaration_despite_read_only_fields() -> None:
    declared = declared_nsg()
    server = hub_nsg(DECLARED_RULES)

    assert refreshed_inputs(declared, server) == declared
    assert not decide_diff(outputs_after_refresh(declared, server), declared).changes


def test_a_rule_deleted_on_the_hub_is_missing_and_the_diff_is_an_update() -> None:
    declared = declared_nsg()
    server = hub_nsg([DECLARED_RULES[0], DECLARED_RULES[2]])

    rules = refreshed_inputs(declared, server)["properties"]["securityRules"]

    assert [r["name"] for r in rules] == ["allow-http", "allow-ssh"]
    decision = decide_diff(outputs_after_refresh(declared, server), declared)
    assert (decision.changed, decision.replaces, decision.arm_write) == (("properties",), (), True)


def test_a_rule_added_on_the_hub_is_kept_whole_after_the_declared_ones() -> None:
    declared = declared_nsg()
    extra = as_hub_answers(rule("by-hand", 200, "3389"), NSG, "securityRules")
    server = hub_nsg(DECLARED_RULES)
    server["properties"]["securityRules"].insert(0, extra)

    rules = refreshed_inputs(declared, server)["properties"]["securityRules"]

    assert [r["name"] for r in rules] == ["allow-http", "allow-https", "allow-ssh", "by-hand"]
    assert rules[-1] == extra
    assert decide_diff(outputs_after_refresh(declared, server), declared).changed == ("properties",)


def test_a_changed_value_inside_a_rule_is_read_back() -> None:
    declared = declared_nsg()
    changed = copy.deepcopy(DECLARED_RULES)
    changed[1]["properties"]["destinationPortRange"] = "8443"

    rules = refreshed_inputs(declared, hub_nsg(changed))["properties"]["securityRules"]

    assert rules[1] == {
        **DECLARED_RULES[1],
        "properties": {**DECLARED_RULES[1]["properties"], "destinationPortRange": "8443"},
    }


def test_named_items_match_case_insensitively_and_keep_the_declared_order_and_spelling() -> None:
    declared = declared_nsg()
    reordered = [DECLARED_RULES[2], {**DECLARED_RULES[0], "name": "Allow-HTTP"}, DECLARED_RULES[1]]

    refreshed = refreshed_inputs(declared, hub_nsg(reordered))

    assert refreshed["properties"]["securityRules"] == DECLARED_RULES


def test_a_tag_added_on_the_hub_is_drift_because_a_put_sets_every_tag() -> None:
    declared = declared_nsg()
    server = hub_nsg(DECLARED_RULES, tags={"owner": "platform", "added": "by-policy"})

    assert refreshed_inputs(declared, server)["tags"] == {"owner": "platform", "added": "by-policy"}
    assert decide_diff(outputs_after_refresh(declared, server), declared).changed == ("tags",)


def test_what_the_program_leaves_out_is_not_read_back() -> None:
    declared = {**declared_nsg(), "sku": None, "kind": None}
    server = hub_nsg(DECLARED_RULES, sku={"name": "Standard"}, kind="unexpected")

    refreshed = refreshed_inputs(declared, server)

    assert (refreshed["sku"], refreshed["kind"]) == (None, None)
    assert "defaultSecurityRules" not in refreshed["properties"]


def test_a_declared_key_the_hub_lacks_is_missing_so_the_diff_sees_it() -> None:
    declared = {**declared_nsg(), "properties": {"securityRules": [], "flowLogs": {"enabled": True}}}
    server = hub_nsg([], tags=None)

    refreshed = refreshed_inputs(declared, server)

    assert refreshed["properties"] == {"securityRules": []}
    assert refreshed["tags"] is None
    assert decide_diff(outputs_after_refresh(declared, server), declared).changed == ("tags", "properties")


def test_a_vnet_reads_back_its_address_space_and_inline_subnets() -> None:
    nsg_ref = {"id": NSG}
    declared_properties = {
        "addressSpace": {"addressPrefixes": ["10.240.0.0/16"]},
        "subnets": [
            {"name": "cluster", "properties": {"addressPrefix": "10.240.0.0/24", "networkSecurityGroup": nsg_ref}}
        ],
    }
    server_properties = {
        "provisioningState": "Succeeded",
        "resourceGuid": "guid",
        "addressSpace": {"addressPrefixes": ["10.99.0.0/16"]},
        "subnets": [
            {
                "id": f"{VNET}/subnets/cluster",
                "name": "cluster",
                "etag": 'W/"2"',
                "properties": {
                    "addressPrefix": "10.240.0.0/24",
                    # ARM answers ids in its own case: not drift.
                    "networkSecurityGroup": {"id": NSG.replace("hub-rg", "HUB-RG")},
                    "provisioningState": "Succeeded",
                },
            }
        ],
    }

    assert project(declared_properties, server_properties) == {
        "addressSpace": {"addressPrefixes": ["10.99.0.0/16"]},
        "subnets": declared_properties["subnets"],
    }


def test_lists_of_unnamed_objects_match_by_position() -> None:
    declared = [{"a": 1}, {"a": 2}]
    server = [{"a": 1, "x": "ro"}, {"a": 3, "x": "ro"}, {"a": 4}]

    assert project(declared, server) == [{"a": 1}, {"a": 3}, {"a": 4}]


def test_a_null_the_hub_leaves_out_is_no_drift() -> None:
    assert project({"dnsSettings": None, "idleTimeoutInMinutes": 4}, {"idleTimeoutInMinutes": 4}) == {
        "dnsSettings": None,
        "idleTimeoutInMinutes": 4,
    }
