"""What a change of declared inputs means for an ARM resource: nothing, an update, or a replacement."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.output import UNKNOWN

from arm.resource import ArmDiff, ArmResourceProvider, check_inputs, decide_diff

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/hub-rg"
PIP = f"{RG}/providers/Microsoft.Network/publicIPAddresses/ingress"
DISK = f"{RG}/providers/Microsoft.Compute/disks/data"
CONNECTION = {
    "arm_endpoint": "https://management.local.azurestack.external",
    "tenant_id": "tenant",
    "subscription_id": SUB,
    "client_id": "client",
    "identity_system": "adfs",
}
DECLARED_PROPERTIES = {"publicIPAllocationMethod": "Static", "idleTimeoutInMinutes": 4}


def inputs(**changes: Any) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "resource_id": PIP,
        "api_version": "2018-11-01",
        "location": "local",
        "tags": {"role": "ingress"},
        "sku": {"name": "Basic"},
        "properties": dict(DECLARED_PROPERTIES),
        "connection": dict(CONNECTION),
        "client_secret": "secret-1",
    }
    declared.update(changes)
    return declared


def previous_outputs() -> dict[str, Any]:
    """What the provider stored last time: ARM's properties (with computed values) and the declared ones."""
    outs = inputs()
    outs["desired_properties"] = outs["properties"]
    outs["properties"] = {**DECLARED_PROPERTIES, "ipAddress": "203.0.113.5", "provisioningState": "Succeeded"}
    outs["etag"] = 'W/"1"'
    return outs


def no_change() -> ArmDiff:
    return ArmDiff(changed=(), replaces=(), delete_before_replace=False, arm_write=False)


def update(*keys: str) -> ArmDiff:
    return ArmDiff(changed=keys, replaces=(), delete_before_replace=False, arm_write=True)


CASES: list[tuple[str, dict[str, Any], ArmDiff]] = [
    ("nothing changed (server-computed ipAddress is not a change)", inputs(), no_change()),
    ("location differs only in spelling", inputs(location="Local"), no_change()),
    (
        "resource id differs only in case",
        inputs(resource_id=PIP.upper().replace("/SUBSCRIPTIONS", "/subscriptions")),
        no_change(),
    ),
    ("dropping every tag", inputs(tags=None), update("tags")),
    ("tags", inputs(tags={"role": "ingress", "cost": "k8s"}), update("tags")),
    ("properties", inputs(properties={**DECLARED_PROPERTIES, "idleTimeoutInMinutes": 10}), update("properties")),
    ("api version (table moved on)", inputs(api_version="2017-10-01"), update("api_version")),
    (
        "location: same ARM id, so the old one goes first",
        inputs(location="otherregion"),
        ArmDiff(changed=("location",), replaces=("location",), delete_before_replace=True, arm_write=True),
    ),
    (
        "resource id: the new one can exist beside the old",
        inputs(resource_id=f"{RG}/providers/Microsoft.Network/publicIPAddresses/ingress2"),
        ArmDiff(changed=("resource_id",), replaces=("resource_id",), delete_before_replace=False, arm_write=True),
    ),
    (
        "public IP sku cannot change in place",
        inputs(sku={"name": "Standard"}),
        ArmDiff(changed=("sku",), replaces=("sku",), delete_before_replace=True, arm_write=True),
    ),
    (
        "create-only property of a public IP",
        inputs(properties={**DECLARED_PROPERTIES, "publicIPAddressVersion": "IPv6"}),
        ArmDiff(changed=("properties",), replaces=("properties",), delete_before_replace=True, arm_write=True),
    ),
    (
        "secret rotation: recorded, nothing sent to ARM",
        inputs(client_secret="secret-2"),
        ArmDiff(changed=("client_secret",), replaces=(), delete_before_replace=False, arm_write=False),
    ),
    (
        "another service principal: recorded, nothing sent to ARM",
        inputs(connection={**CONNECTION, "client_id": "client-2", "tenant_id": "tenant-2"}),
        ArmDiff(changed=("connection",), replaces=(), delete_before_replace=False, arm_write=False),
    ),
    (
        "another hub is another resource, created before the old one goes",
        inputs(connection={**CONNECTION, "arm_endpoint": "https://management.region2.azurestack.external"}),
        ArmDiff(changed=("connection",), replaces=("connection",), delete_before_replace=False, arm_write=True),
    ),
    (
        "an arm endpoint with a trailing slash is the same hub",
        inputs(connection={**CONNECTION, "arm_endpoint": CONNECTION["arm_endpoint"] + "/"}),
        no_change(),
    ),
]


@pytest.mark.parametrize(
    ("new", "expected"), [(new, expected) for _, new, expected in CASES], ids=[c[0] for c in CASES]
)
def test_decide_diff(new: dict[str, Any], expected: ArmDiff) -> None:
    assert decide_diff(previous_outputs(), new) == expected


def test_empty_and_missing_tags_are_the_same() -> None:
    old = {**previous_outputs(), "tags": None}
    assert decide_diff(old, inputs(tags={})) == no_change()


def test_a_resource_declared_without_properties_has_no_diff_against_its_outputs() -> None:
    group = inputs(resource_id=RG, api_version="2019-10-01", sku=None, properties=None)
    # What create returns for it: ARM's properties, and no declared ones (None is left out of outputs).
    outs = {key: value for key, value in group.items() if value is not None}
    outs["properties"] = outs["server_properties"] = {"provisioningState": "Succeeded"}

    assert decide_diff(outs, group) == no_change()
    assert decide_diff(outs, {**group, "properties": {"x": 1}}) == update("properties")


def test_disk_sku_changes_in_place() -> None:
    old = inputs(resource_id=DISK, api_version="2019-07-01", sku={"name": "Standard_LRS"})
    new = inputs(resource_id=DISK, api_version="2019-07-01", sku={"name": "Premium_LRS"})
    assert decide_diff(old, new) == update("sku")


def test_unknown_values_in_a_preview_count_as_changes() -> None:
    subnet_unknown = inputs(properties={**DECLARED_PROPERTIES, "publicIPAddressVersion": UNKNOWN})
    assert decide_diff(previous_outputs(), subnet_unknown).replaces == ("properties",)
    assert decide_diff(previous_outputs(), inputs(resource_id=UNKNOWN)) == ArmDiff(
        changed=("resource_id",), replaces=("resource_id",), delete_before_replace=False, arm_write=True
    )


def test_provider_diff_reports_the_decision() -> None:
    result = ArmResourceProvider().diff(PIP, previous_outputs(), inputs(location="otherregion", tags={}))
    assert result.changes is True
    assert result.replaces == ["location"]
    assert result.delete_before_replace is True
    assert result.stables == []

    result = ArmResourceProvider().diff(PIP, previous_outputs(), inputs(tags={"role": "edge"}))
    assert (result.changes, result.replaces, result.delete_before_replace) == (True, [], False)
    assert result.stables == ["resource_id", "location"]

    assert ArmResourceProvider().diff(PIP, previous_outputs(), inputs()).changes is False


def test_check_accepts_declared_inputs() -> None:
    assert check_inputs(inputs()) == []
    unknowns = inputs(resource_id=UNKNOWN, api_version=UNKNOWN, client_secret=UNKNOWN)
    assert check_inputs(unknowns) == []


@pytest.mark.parametrize(
    ("changes", "property_", "reason"),
    [
        ({"api_version": "2024-07-01"}, "api_version", "2018-11-01"),
        (
            {"resource_id": f"{RG}/providers/Microsoft.Network/publicIPAddresses"},
            "resource_id",
            "not an ARM resource id",
        ),
        ({"resource_id": f"{RG}/providers/Microsoft.Web/sites/app"}, "resource_id", "2020-09-01-hybrid"),
        ({"resource_id": PIP.replace(SUB, "another-subscription")}, "resource_id", "subscription"),
        ({"connection": {**CONNECTION, "identity_system": "ldap"}}, "connection", "identity_system"),
        ({"connection": {"arm_endpoint": "https://management.local"}}, "connection", "tenant_id"),
        ({"client_secret": ""}, "client_secret", "non-empty"),
    ],
)
def test_check_failures(changes: dict[str, Any], property_: str, reason: str) -> None:
    result = ArmResourceProvider().check({}, inputs(**changes))
    assert [(failure.property, reason in failure.reason) for failure in result.failures] == [(property_, True)]
