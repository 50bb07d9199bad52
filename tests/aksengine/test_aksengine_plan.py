"""What a change of settings takes on a running cluster: scale, upgrade, nothing, or a refusal."""

import dataclasses
from typing import Any

import pytest

from aksengine.apimodel import ChangePlan, ClusterSettings, ScaleStep, UpgradeStep, plan_change
from tests.aksengine.testkit import make_settings


def plan(old: dict[str, Any], new: dict[str, Any]) -> ChangePlan:
    return plan_change(make_settings(**old), make_settings(**new))


def test_no_change_means_no_step() -> None:
    result = plan({}, {})
    assert result == ChangePlan()
    assert not result.refused


def test_scale_up_adds_workers_without_the_api_server() -> None:
    assert plan({"agent_count": 3}, {"agent_count": 5}).steps == (ScaleStep("linuxpool", 5, needs_apiserver=False),)


def test_scale_down_drains_through_the_api_server() -> None:
    assert plan({"agent_count": 5}, {"agent_count": 2}).steps == (ScaleStep("linuxpool", 2, needs_apiserver=True),)


@pytest.mark.parametrize(
    ("old", "new"),
    [("1.33.10", "1.34.4"), ("1.34.4", "1.35.0"), ("1.32.9", "1.33.10")],
)
def test_upgrade_one_minor_release(old: str, new: str) -> None:
    assert plan({"kubernetes_version": old}, {"kubernetes_version": new}).steps == (UpgradeStep(new),)


def test_patch_upgrade_within_a_release() -> None:
    assert plan({"kubernetes_version": "1.33.5"}, {"kubernetes_version": "1.33.10"}).steps == (UpgradeStep("1.33.10"),)


def test_skipping_a_minor_release_is_refused_naming_the_step_between() -> None:
    result = plan({"kubernetes_version": "1.33.10"}, {"kubernetes_version": "1.35.0"})
    assert result.refused
    assert result.steps == ()
    (refusal,) = result.refusals
    assert refusal.field == "kubernetes_version"
    assert "upgrade to 1.34.4 first" in refusal.allowed


def test_downgrade_is_refused() -> None:
    result = plan({"kubernetes_version": "1.34.4"}, {"kubernetes_version": "1.33.10"})
    assert [r.field for r in result.refusals] == ["kubernetes_version"]
    assert "only upgrades" in result.refusals[0].allowed


def test_scale_down_comes_before_and_scale_up_after_the_upgrade() -> None:
    down = plan({"agent_count": 4, "kubernetes_version": "1.33.10"}, {"agent_count": 2, "kubernetes_version": "1.34.4"})
    assert down.steps == (ScaleStep("linuxpool", 2, needs_apiserver=True), UpgradeStep("1.34.4"))
    up = plan({"agent_count": 2, "kubernetes_version": "1.33.10"}, {"agent_count": 4, "kubernetes_version": "1.34.4"})
    assert up.steps == (UpgradeStep("1.34.4"), ScaleStep("linuxpool", 4, needs_apiserver=False))


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("master_count", 5, "cannot add or remove control-plane VMs"),
        ("dns_prefix", "ratings-west", "names the VMs, the certificates and the API server FQDN"),
        ("location", "redmond", "cannot move to another region"),
        ("resource_group", "other-rg", "cannot move to another resource group"),
        (
            "subnet_id",
            "/subscriptions/x/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
            "subnet",
        ),
        ("agent_pool_name", "workers", "orphan"),
        ("agent_vm_size", "Standard_DS4_v2", "resizes"),
        ("master_vm_size", "Standard_DS3_v2", "resizes"),
        ("admin_username", "opsuser", "admin account"),
        ("ssh_public_key", "ssh-rsa AAAAother ops@example", "SSH key"),
        ("network_plugin", "kubenet", "fixed at deploy"),
        ("identity_system", "adfs", "identity system"),
        ("client_id", "00000000-0000-0000-0000-000000000001", "service principal"),
        ("max_pods", 60, "only VMs created later"),
    ],
)
def test_changes_aks_engine_cannot_make_are_refused(field: str, value: Any, reason: str) -> None:
    result = plan({}, {field: value, "agent_count": 5})
    assert result.refused
    assert result.steps == (), "nothing may run when any change is refused"
    (refusal,) = result.refusals
    assert refusal.field == field
    assert refusal.value == value
    assert reason in refusal.allowed
    assert "deploy a new cluster" in refusal.allowed


def test_all_refusals_are_reported_together() -> None:
    result = plan({}, {"master_count": 5, "dns_prefix": "other", "location": "redmond", "kubernetes_version": "1.35.0"})
    assert sorted(r.field for r in result.refusals) == ["dns_prefix", "kubernetes_version", "location", "master_count"]


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return {"azure_ad": "adfs", "adfs": "azure_ad"}.get(value, f"{value}x")


def test_every_other_setting_is_refused_so_no_field_can_change_unnoticed() -> None:
    old = make_settings()
    for spec in dataclasses.fields(ClusterSettings):
        if spec.name in {"agent_count", "kubernetes_version"}:
            continue
        new = dataclasses.replace(old, **{spec.name: _changed(getattr(old, spec.name))})
        result = plan_change(old, new)
        assert [r.field for r in result.refusals] == [spec.name], spec.name
