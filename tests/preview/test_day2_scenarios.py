"""Day-2 changes to a deployed hub, previewed the way Pulumi's engine previews them.

Each scenario deploys hub-seattle offline (an offline `up` leaves a state), changes one thing, and previews the
update from that state: every resource gets the step its provider decides (ARM resources: the real dynamic-provider
host), with the engine's rules on top (a replaced provider replaces its resources; protected resources cannot be
replaced). Allowed changes must preview and apply without replacing anything that holds data; refused changes
must fail the preview with the reason.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

import stacks.hub
from preview.engine import EngineError, Registration, StackRun, run_stack
from preview.state import StackState
from tests.conftest import config_of, run_with, shared_outputs
from workloads.charts import PlatformCharts

HUB = "hub-seattle"
CLUSTER = "command:local:Command"
K8S_PROVIDER = "pulumi:providers:kubernetes"


@functools.cache
def deployed(**overrides: Any) -> StackState:
    """The state an offline `up` of hub-seattle (with overridden config) leaves."""
    return run_with(HUB, config_of(HUB, **overrides)).state()


def preview_change(prior: StackState, **overrides: Any) -> StackRun:
    return run_with(HUB, config_of(HUB, **overrides), mode="preview", prior=prior)


def ops(run: StackRun) -> dict[str, str]:
    """Logical name -> step."""
    steps: dict[str, str] = {r.name: r.op for r in run.resources}
    steps |= {d.urn.rsplit("::", 1)[-1]: "delete" for d in run.deleted}
    return steps


def changed(run: StackRun) -> dict[str, str]:
    return {name: op for name, op in ops(run).items() if op != "same"}


def of_type(run: StackRun, type_: str) -> Registration:
    (found,) = [r for r in run.resources if r.type == type_]
    return found


def assert_nothing_holding_data_replaced(run: StackRun) -> None:
    assert run.errors == []
    replaced = {r.name for r in run.resources if r.op == "replace"}
    protected = {r.name for r in run.resources if r.protect}
    assert not replaced & protected
    assert run.deleted == []


def test_an_unchanged_hub_previews_no_change() -> None:
    run = preview_change(deployed())
    assert changed(run) == {}
    assert run.errors == []


@pytest.mark.parametrize(
    ("before", "after"),
    [({"agentCount": 3}, {"agentCount": 4}), ({"agentCount": 4}, {"agentCount": 3})],
    ids=["scale-up", "scale-down"],
)
def test_scaling_the_workers_updates_the_cluster_and_keeps_every_kubernetes_resource(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    run = preview_change(deployed(**before), **after)
    assert_nothing_holding_data_replaced(run)
    steps = changed(run)
    # pulumi-command leaves stdout unknown while an update is previewed: the kubeconfig is unknown, and the
    # provider, identified by clusterIdentifier, is updated rather than replaced.
    assert steps[of_type(run, CLUSTER).name] == "update"
    assert steps[of_type(run, K8S_PROVIDER).name] == "update"
    assert "kubeconfig" in of_type(run, K8S_PROVIDER).diff.changed
    assert of_type(run, CLUSTER).state.get("stdout") is None  # unknown in the preview
    assert "replace" not in steps.values()
    # What applying it gives: the new count in the outputs, the same cluster.
    up = run_with(HUB, config_of(HUB, **after), prior=deployed(**before))
    assert up.outputs["agentCount"] == after["agentCount"]
    assert type(up.outputs["masterCount"]) is int


def test_a_kubernetes_upgrade_by_one_minor_updates_the_cluster_only_in_place() -> None:
    before = deployed(kubernetesVersion="1.33.10")
    run = preview_change(before, kubernetesVersion="1.34.4")
    assert_nothing_holding_data_replaced(run)
    assert changed(run)[of_type(run, CLUSTER).name] == "update"
    up = run_with(HUB, config_of(HUB, kubernetesVersion="1.34.4"), prior=before)
    assert up.outputs["kubernetesVersion"] == "1.34.4"


def test_rotating_the_service_principal_secret_updates_arm_resources_and_the_cluster() -> None:
    run = preview_change(deployed(), armClientSecret="rotated-secret-value")
    assert_nothing_holding_data_replaced(run)
    steps = changed(run)
    network = {"hub-seattle-rg", "hub-seattle-vnet", "hub-seattle-nsg", "hub-seattle-ingress-ip"}
    assert {name: steps.get(name) for name in network} == dict.fromkeys(network, "update")
    assert steps[of_type(run, CLUSTER).name] == "update"
    assert "rotated-secret-value" not in repr([r.diff for r in run.resources])


def test_changing_tags_updates_every_hub_resource_in_place() -> None:
    tags = {"environment": "production", "cost-center": "platform-2"}
    run = preview_change(deployed(), tags=tags)
    assert_nothing_holding_data_replaced(run)
    steps = changed(run)
    assert {steps.get(n) for n in ("hub-seattle-rg", "hub-seattle-vnet", "hub-seattle-ingress-ip")} == {"update"}
    assert of_type(run, CLUSTER).name not in steps


def test_changing_the_admin_networks_updates_only_the_security_group() -> None:
    run = preview_change(deployed(), adminSourceCidrs=["10.250.10.0/24", "10.250.20.0/24"])
    assert_nothing_holding_data_replaced(run)
    assert changed(run) == {"hub-seattle-nsg": "update"}
    nsg = run.named("hub-seattle-nsg")
    assert nsg.diff.changed
    assert all(path.startswith("properties.securityRules[") for path in nsg.diff.changed)
    assert nsg.diff.replaces == ()


@pytest.fixture
def newer_kured(monkeypatch: pytest.MonkeyPatch) -> StackState:
    """The deployed state with today's charts; from here on the program asks for a newer kured chart."""
    prior = deployed()  # before the patch: the cached deployment must not see the newer chart
    default = PlatformCharts()
    newer = PlatformCharts(kured=dataclasses.replace(default.kured, version="6.2.0"))
    monkeypatch.setattr(stacks.hub, "PlatformCharts", lambda: newer)
    return prior


def test_a_chart_version_updates_its_release(newer_kured: StackState) -> None:
    run = preview_change(newer_kured)
    assert_nothing_holding_data_replaced(run)
    steps = changed(run)
    (kured,) = [name for name in steps if name.endswith("kured")]
    assert steps == {kured: "update"}
    assert run.named(kured).diff.changed == ("version",)


def test_an_image_tag_rolls_the_deployment() -> None:
    run = preview_change(deployed(), ratingsApiTag="v2")
    assert_nothing_holding_data_replaced(run)
    assert changed(run) == {"hub-seattle-ratings-api": "update"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"masterCount": 5}, "masterCount cannot change from 3 to 5"),
        ({"dnsPrefix": "seattle2"}, "dnsPrefix cannot change from 'hub-seattle' to 'seattle2'"),
        ({"agentVmSize": "Standard_DS4_v2"}, "agentVmSize cannot change"),
        ({"masterVmSize": "Standard_DS3_v2"}, "masterVmSize cannot change"),
        ({"kubernetesVersion": "1.35.0"}, "kubernetesVersion cannot change"),
    ],
    ids=["masterCount", "dnsPrefix", "agentVmSize", "masterVmSize", "skipped-minor"],
)
def test_cluster_changes_aks_engine_cannot_make_fail_the_preview_with_the_reason(
    change: dict[str, Any], reason: str
) -> None:
    base = {"kubernetesVersion": "1.33.10"} if "kubernetesVersion" in change else {}
    run = preview_change(deployed(**base), **change)
    guard_errors = [e for e in run.errors if "settings-guard" in e]
    assert len(guard_errors) == 1, run.errors
    assert reason in guard_errors[0]
    with pytest.raises(EngineError, match="settings-guard"):
        run_with(HUB, config_of(HUB, **change), prior=deployed(**base))


def test_moving_the_hub_to_another_location_is_refused() -> None:
    run = preview_change(
        deployed(),
        location="seattle2",
        armEndpoint="https://management.seattle2.azurestack.contoso.com",
        portalUrl="https://portal.seattle2.azurestack.contoso.com",
    )
    assert any("location cannot change from 'seattle' to 'seattle2'" in e for e in run.errors)
    # ARM cannot move a resource: the protected network would be replaced, which the engine refuses too.
    protected_refusals = [e for e in run.errors if "marked for protection" in e]
    assert any("hub-seattle-vnet" in e for e in protected_refusals)


def test_a_database_volume_size_change_is_refused_with_the_reason() -> None:
    run = preview_change(deployed(), databaseVolumeSize="32Gi")
    guard = [e for e in run.errors if "database-guard" in e]
    assert len(guard) == 1
    assert "cannot change from '16Gi' to '32Gi'" in guard[0]
    # Without the guard, pulumi-kubernetes would plan a replacement of the protected StatefulSet.
    assert run.named("hub-seattle-mongodb").op == "replace"
    assert any("hub-seattle-mongodb" in e and "protection" in e for e in run.errors)


def test_the_global_stack_follows_a_hub_whose_ingress_address_changed() -> None:
    hubs = {name: run_stack(name, stack_outputs={"shared": shared_outputs()}).outputs for name in (HUB, "hub-denver")}
    refs = {"shared": shared_outputs(), **hubs}
    before = run_stack("global", stack_outputs=refs).state()
    moved = {**hubs[HUB], "ingressIp": "203.0.113.99"}
    run = run_stack("global", stack_outputs={**refs, HUB: moved}, mode="preview", prior=before)
    assert run.errors == []
    # The profile's endpoint follows the address. azure-native previews an update's outputs as its inputs plus a
    # few immutable ones, so the profile's FQDN is unknown meanwhile; the CNAME takes it from Traffic Manager's
    # naming rule and stays unchanged.
    assert changed(run) == {"traffic-profile": "update"}
    profile = run.named("traffic-profile")
    assert profile.diff.changed == ("endpoints[0].target",)
    assert profile.plain_inputs["endpoints"][0]["target"] == "203.0.113.99"


def test_a_first_preview_of_the_global_stack_points_the_cname_at_the_profiles_name() -> None:
    hubs = {name: run_stack(name, stack_outputs={"shared": shared_outputs()}).outputs for name in (HUB, "hub-denver")}
    run = run_stack("global", stack_outputs={"shared": shared_outputs(), **hubs}, mode="preview")
    relative = run.named("traffic-profile").plain_inputs["dnsConfig"]["relativeName"]
    # The profile's computed fqdn is unknown before it exists; Traffic Manager's naming rule gives it.
    assert "fqdn" not in run.named("traffic-profile").state.get("dnsConfig", {})
    assert run.named("traffic-cname").plain_inputs["cnameRecord"] == {"cname": f"{relative}.trafficmanager.net"}


def test_a_new_cluster_identity_replaces_the_provider_and_so_everything_on_it() -> None:
    run = preview_change(deployed(), dnsPrefix="seattle2")
    provider = of_type(run, K8S_PROVIDER)
    assert (provider.op, provider.diff.replaces) == ("replace", ("clusterIdentifier",))
    on_provider = [r for r in run.resources if r.provider.rsplit("::", 1)[0] == provider.urn]
    assert len(on_provider) > 20
    assert {(r.op, r.diff.replaces) for r in on_provider} == {("replace", ("provider",))}
    protected = {r.urn for r in on_provider if r.protect}
    assert {r.name for r in on_provider if r.protect} >= {"hub-seattle-mongodb", "hub-seattle-database-storage"}
    refused = {e.split("\n")[0].removeprefix("unable to replace resource ") for e in run.errors if "protection" in e}
    assert protected <= refused


def test_switching_log_shipping_off_deletes_its_releases_and_nothing_else() -> None:
    run = preview_change(deployed(), logShipping=False)
    assert run.errors == []
    deleted = {d.urn.rsplit("::", 1)[-1] for d in run.deleted}
    assert deleted
    assert all("fluent" in name or "log" in name for name in deleted), deleted
    assert "replace" not in changed(run).values()


def test_a_protected_resource_the_program_no_longer_declares_is_a_refused_delete() -> None:
    prior = deployed()
    (database,) = [r for r in prior if r.urn.endswith("::hub-seattle-mongodb")]
    renamed = dataclasses.replace(database, urn=database.urn.replace("hub-seattle-mongodb", "hub-seattle-old-mongodb"))
    run = preview_change(dataclasses.replace(prior, resources=(*prior.resources, renamed)))
    assert [d.urn for d in run.deleted] == [renamed.urn]
    assert run.errors == [f"resource {renamed.urn} cannot be deleted\nbecause it is protected"]
