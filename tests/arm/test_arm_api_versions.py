"""The version table and ARM id parsing: the one place that decides what a hub is asked for."""

from __future__ import annotations

import pytest

from arm.api_versions import API_PROFILE, API_VERSIONS, api_version_for, resource_type_of, subscription_of

SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
RG = f"{SUB}/resourceGroups/hub-rg"


@pytest.mark.parametrize(
    ("resource_id", "expected"),
    [
        (RG, "Microsoft.Resources/resourceGroups"),
        (f"{SUB}/RESOURCEGROUPS/hub-rg", "Microsoft.Resources/resourceGroups"),
        (f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet", "Microsoft.Network/virtualNetworks"),
        (
            f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/nodes",
            "Microsoft.Network/virtualNetworks/subnets",
        ),
        (f"{RG}/providers/Microsoft.Network/networkSecurityGroups/nsg", "Microsoft.Network/networkSecurityGroups"),
        (f"{RG}/providers/Microsoft.Network/publicIPAddresses/pip", "Microsoft.Network/publicIPAddresses"),
        (f"{RG}/providers/Microsoft.Network/routeTables/rt", "Microsoft.Network/routeTables"),
        (f"{RG}/providers/Microsoft.Network/loadBalancers/lb", "Microsoft.Network/loadBalancers"),
        (f"{RG}/providers/Microsoft.Compute/virtualMachines/vm", "Microsoft.Compute/virtualMachines"),
        (
            f"{RG}/providers/Microsoft.Compute/virtualMachines/vm/extensions/cse",
            "Microsoft.Compute/virtualMachines/extensions",
        ),
        (f"{RG}/providers/Microsoft.Compute/availabilitySets/as", "Microsoft.Compute/availabilitySets"),
        (f"{RG}/providers/Microsoft.Compute/disks/d", "Microsoft.Compute/disks"),
        (f"{RG}/providers/Microsoft.Storage/storageAccounts/sa", "Microsoft.Storage/storageAccounts"),
        (f"{RG}/providers/Microsoft.KeyVault/vaults/kv", "Microsoft.KeyVault/vaults"),
        # Provider namespaces and types are case-insensitive: the table's casing comes back.
        (f"{RG}/providers/microsoft.network/PUBLICIPADDRESSES/pip", "Microsoft.Network/publicIPAddresses"),
        (f"{RG}/providers/MICROSOFT.NETWORK/virtualnetworks/v/SUBNETS/s", "Microsoft.Network/virtualNetworks/subnets"),
        # Types the table does not know come back as written.
        (f"{RG}/providers/Microsoft.Web/sites/app", "Microsoft.Web/sites"),
        (f"{SUB}/providers/Microsoft.Authorization/roleAssignments/ra", "Microsoft.Authorization/roleAssignments"),
        # Extension resources: the type after the last `providers`.
        (
            f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet/providers/Microsoft.Authorization/locks/keep",
            "Microsoft.Authorization/locks",
        ),
    ],
)
def test_resource_type_of(resource_id: str, expected: str) -> None:
    assert resource_type_of(resource_id) == expected


@pytest.mark.parametrize(
    "resource_id",
    [
        "",
        "subscriptions/s/resourceGroups/rg",
        f"{RG}/",
        SUB,
        f"{SUB}/resourceGroups",
        f"{SUB}/resourceGroups/rg/extra",
        f"{RG}/providers/Microsoft.Network",
        f"{RG}/providers/Microsoft.Network/virtualNetworks",
        f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets",
        f"{RG}//providers/Microsoft.Network/virtualNetworks/vnet",
        f"{RG}/providers/Microsoft.Network/virtualNetworks/ /subnets/s",
        "/tenants/t/providers/Microsoft.Network/virtualNetworks/vnet",
        f"{SUB}/bogus/x/providers/Microsoft.Authorization/locks/l",
    ],
)
def test_malformed_ids_are_refused(resource_id: str) -> None:
    with pytest.raises(ValueError, match="not an ARM resource id"):
        resource_type_of(resource_id)


def test_subscription_of() -> None:
    assert subscription_of(f"{RG}/providers/Microsoft.Compute/disks/d") == "00000000-0000-0000-0000-000000000001"


# Written out again from the profile's documentation, so that a typo in the table shows up here.
PROFILE_2020_09_01_HYBRID = {
    "Microsoft.Resources/resourceGroups": "2019-10-01",
    "Microsoft.Network/virtualNetworks": "2018-11-01",
    "Microsoft.Network/virtualNetworks/subnets": "2018-11-01",
    "Microsoft.Network/networkSecurityGroups": "2018-11-01",
    "Microsoft.Network/networkInterfaces": "2018-11-01",
    "Microsoft.Network/publicIPAddresses": "2018-11-01",
    "Microsoft.Network/routeTables": "2018-11-01",
    "Microsoft.Network/loadBalancers": "2018-11-01",
    "Microsoft.Compute/virtualMachines": "2020-06-01",
    "Microsoft.Compute/virtualMachines/extensions": "2020-06-01",
    "Microsoft.Compute/availabilitySets": "2020-06-01",
    "Microsoft.Compute/disks": "2019-07-01",
    "Microsoft.Storage/storageAccounts": "2019-06-01",
    "Microsoft.KeyVault/vaults": "2019-09-01",
}


def test_table_is_the_hybrid_profile() -> None:
    assert API_PROFILE == "2020-09-01-hybrid"
    assert dict(API_VERSIONS) == PROFILE_2020_09_01_HYBRID


@pytest.mark.parametrize(("resource_type", "version"), sorted(PROFILE_2020_09_01_HYBRID.items()))
def test_api_version_for_each_type(resource_type: str, version: str) -> None:
    assert api_version_for(resource_type) == version
    assert api_version_for(resource_type.upper()) == version


def test_disks_stay_below_the_compute_version() -> None:
    # Some stamps serve disks only up to 2019-11-01 although compute is at 2020-06-01.
    assert api_version_for("Microsoft.Compute/disks") <= "2019-11-01"
    assert api_version_for("Microsoft.Compute/virtualMachines") == "2020-06-01"


def test_unknown_type_names_itself_the_profile_and_the_supported_types() -> None:
    with pytest.raises(ValueError, match="supports only these types") as raised:
        api_version_for("Microsoft.Web/sites")
    message = str(raised.value)
    assert "'Microsoft.Web/sites'" in message
    assert "2020-09-01-hybrid" in message
    for known in ("Microsoft.Network/publicIPAddresses", "Microsoft.Resources/resourceGroups"):
        assert known in message
