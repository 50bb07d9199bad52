"""protect-data-resources, traffic-manager-profile, backup-storage-account, registry-admin-user-disabled,
workspace-local-auth-disabled, required-tags."""

from __future__ import annotations

from typing import Any

import pytest

from .fixtures import resource, run
from .stacks import detail, evaluate_registrations, mutated, of_policy, shipped, stack_config

DATA_RESOURCES = {
    "hub-seattle": ["hub-seattle-rg", "hub-seattle-vnet", "hub-seattle-ingress-ip", "hub-seattle-aks-engine",
                    "hub-seattle-ssh", "hub-seattle-database-storage", "hub-seattle-mongodb",
                    "hub-seattle-mongodb-root-password", "hub-seattle-mongodb-app-password",
                    "hub-seattle-mongodb-keyfile"],
    "shared": ["shared-rg", "registry-registry", "logs-workspace", "backups-account", "app-zone"],
    "global": ["global-rg", "traffic-profile"],
}  # fmt: skip


@pytest.mark.parametrize(("stack", "name"), [(s, n) for s, names in DATA_RESOURCES.items() for n in names])
def test_an_unprotected_data_resource_of_a_shipped_stack_is_reported(stack: str, name: str) -> None:
    registrations = mutated(shipped(stack).resources, name, protect=False)
    (event,) = evaluate_registrations(registrations, stack_config(stack))
    assert event.policy_name == "protect-data-resources"
    assert event.urn.endswith(f"::{name}")
    assert detail(event).endswith("and is not protected (protect: false; it must be true)")


def test_resources_without_data_need_no_protection_and_exemptions_apply() -> None:
    assert run("protect-data-resources", resource("azure-native:dns:RecordSet", "cname", {})) == []
    group = resource("azure-native:resources:ResourceGroup", "test-rg", {})
    assert len(run("protect-data-resources", group)) == 1
    assert run("protect-data-resources", group, config={"protect-data-resources": {"exempt": ["test-rg"]}}) == []


PROFILE: dict[str, Any] = {
    "endpoints": [{"name": "a"}, {"name": "b"}],
    "monitorConfig": {"protocol": "HTTPS", "customHeaders": [{"name": "host", "value": "www.example.com"}]},
    "dnsConfig": {"ttl": 30},
}


def profile(**changes: Any) -> Any:
    return resource("azure-native:trafficmanager:Profile", "tm", {**PROFILE, **changes})


def test_a_good_profile_passes() -> None:
    assert run("traffic-manager-profile", profile()) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"endpoints": [{"name": "a"}]}, "1 endpoint(s); at least 2 so that one hub can fail"),
        ({"monitorConfig": {**PROFILE["monitorConfig"], "protocol": "HTTP"}}, "health probe protocol HTTP"),
        ({"monitorConfig": {"protocol": "HTTPS"}}, "0 host headers on the health probe; 1 is needed"),
        ({"dnsConfig": {"ttl": 300}}, "DNS TTL 300 s; at most 60 s"),
    ],
)
def test_a_profile_that_cannot_fail_over_well_is_reported(changes: dict[str, Any], message: str) -> None:
    (event,) = run("traffic-manager-profile", profile(**changes))
    assert message in detail(event)


def test_the_global_stack_with_one_hub_breaks_the_profile_rule() -> None:
    registrations = mutated(shipped("global").resources, "traffic-profile", lambda i: i["endpoints"].pop())
    (event,) = of_policy(evaluate_registrations(registrations, stack_config("global")), "traffic-manager-profile")
    assert detail(event).startswith("azure-native:trafficmanager:Profile 'traffic-profile': 1 endpoint(s)")


ACCOUNT = {"sku": {"name": "Standard_GRS"}, "enableHttpsTrafficOnly": True, "minimumTlsVersion": "TLS1_2",
           "allowBlobPublicAccess": False}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, None),
        ({"sku": {"name": "Standard_LRS"}}, "SKU Standard_LRS is not geo-redundant"),
        ({"enableHttpsTrafficOnly": False}, "enableHttpsTrafficOnly is not true"),
        ({"minimumTlsVersion": "TLS1_0"}, "minimumTlsVersion TLS1_0"),
        ({"allowBlobPublicAccess": True}, "allowBlobPublicAccess is not false"),
    ],
)
def test_backup_storage_is_geo_redundant_and_private(changes: dict[str, Any], message: str | None) -> None:
    found = run("backup-storage-account", resource("azure-native:storage:StorageAccount", "sa", {**ACCOUNT, **changes}))
    if message is None:
        assert found == []
    else:
        (event,) = found
        assert message in detail(event)


def test_the_shared_stack_with_public_blobs_an_admin_user_and_local_auth_breaks_three_rules() -> None:
    registrations = mutated(
        shipped("shared").resources, "backups-account", lambda i: i.update(allowBlobPublicAccess=True)
    )
    registrations = mutated(registrations, "registry-registry", lambda i: i.update(adminUserEnabled=True))
    registrations = mutated(registrations, "logs-workspace", lambda i: i["features"].update(disableLocalAuth=False))
    found = evaluate_registrations(registrations, stack_config("shared"))
    assert sorted((e.policy_name, e.urn.rsplit("::", 1)[1]) for e in found) == [
        ("backup-storage-account", "backups-account"),
        ("registry-admin-user-disabled", "registry-registry"),
        ("workspace-local-auth-disabled", "logs-workspace"),
    ]


def test_required_tags_are_checked_on_hub_and_azure_resources_that_take_tags() -> None:
    group = resource("azure-native:resources:ResourceGroup", "rg", {"tags": {"managed-by": "pulumi"}})
    container = resource("azure-native:storage:BlobContainer", "c", {"containerName": "x"})
    arm = resource("pulumi-python:dynamic:Resource", "vnet", {"resource_id": "/subscriptions/s/resourceGroups/g/"
                   "providers/Microsoft.Network/virtualNetworks/v", "tags": {}})  # fmt: skip
    (event,) = run("required-tags", group, container, arm)
    assert event.urn.endswith("::vnet")
    assert detail(event).endswith("1 required tag(s) missing (managed-by); it carries 0 tag(s) and needs managed-by")


def test_a_shipped_hub_resource_without_its_cost_center_tag_is_reported() -> None:
    registrations = mutated(shipped("hub-seattle").resources, "hub-seattle-nsg", lambda i: i["tags"].pop("cost-center"))
    (event,) = evaluate_registrations(registrations, stack_config("hub-seattle"))
    assert (event.policy_name, event.urn.rsplit("::", 1)[1]) == ("required-tags", "hub-seattle-nsg")
    assert "1 required tag(s) missing (cost-center)" in detail(event)
