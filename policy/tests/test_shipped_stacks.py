"""The shipped stacks under the pack, in the three situations the engine analyzes them: after an update (every
value known), in an update's preview from that state, and in a first preview (values unknown, and no planned state
for Kubernetes objects until the cluster exists)."""

from __future__ import annotations

from typing import Any

import pytest

from policy.stackhub_policies import mandatory
from policy.stackhub_policies.wire import UNKNOWN
from preview.engine import run_stack_with_references
from preview.providers import HELM_RELEASE_TYPE

from .stacks import _DEPLOYED, detail, evaluate_registrations, mutated, of_policy, shipped, stack_config

SHIPPED = ("hub-seattle", "hub-denver", "shared", "global")


@pytest.mark.parametrize("stack", SHIPPED)
def test_a_shipped_stack_after_an_update_breaks_no_policy(stack: str) -> None:
    found = evaluate_registrations(shipped(stack).resources, stack_config(stack))
    assert [(e.policy_name, detail(e)) for e in found] == []


@pytest.mark.parametrize("stack", SHIPPED)
def test_an_update_preview_of_a_shipped_stack_breaks_no_policy(stack: str) -> None:
    deployed = shipped(stack)
    run = run_stack_with_references(stack, mode="preview", prior=deployed.state(), deployed=_DEPLOYED)
    assert set(run.steps()) == {"same"}
    assert evaluate_registrations(run.resources, stack_config(stack)) == []


def test_the_denver_config_is_what_lets_its_mirror_through() -> None:
    # Without its config, the hub's mirror is not an allowed registry: the config file is doing real work.
    found = of_policy(evaluate_registrations(shipped("hub-denver").resources), "workload-image-registries")
    assert sorted(e.urn.rsplit("::", 1)[1] for e in found) == [
        "hub-denver-cert-manager",
        "hub-denver-ingress",
        "hub-denver-kured",
    ]
    assert all("registry.denver.hub.contoso.local" in detail(e) for e in found)


FIRST_PREVIEW_CANNOT_VERIFY = {
    # Per-resource policies: the ingress release's values are known but for the hub's address, which no policy
    # needs, so nothing is left to "cannot verify" there.
    # The backup CronJobs' namespace is the app namespace's output, unknown before the cluster exists: whether the
    # namespace's service account mounts a token cannot be told yet.
    ("workload-service-account-token", "hub-seattle-backup-backup-cronjob"),
    ("workload-service-account-token", "hub-seattle-backup-verification-cronjob"),
    ("workload-service-account-token", "hub-seattle-backup-restore-cronjob"),
    # Stack policies over Kubernetes objects: the engine plans nothing for them before the cluster exists.
    ("hub-quotas", ""),
    ("lb-frontend-ips", ""),
    ("pod-security-restricted", ""),
    ("workload-replicas", ""),
    ("workload-disruption-budgets", ""),
}


def test_a_first_preview_reports_what_it_cannot_verify_at_the_policies_own_level() -> None:
    run = shipped("hub-seattle", "preview")
    found = evaluate_registrations(run.resources, stack_config("hub-seattle"))
    assert {(e.policy_name, e.urn.rsplit("::", 1)[1] if e.urn else "") for e in found} == FIRST_PREVIEW_CANNOT_VERIFY
    assert all(detail(e).startswith("cannot verify") for e in found)
    # Never the SDK's advisory "can't run policy during preview": at each policy's level, here mandatory.
    assert mandatory(found) == found
    # The ingress release's values are readable but for the address: its images, resources and literals verify.
    assert not [e for e in found if e.urn.endswith("::hub-seattle-ingress")]
    quotas = next(e for e in found if e.policy_name == "hub-quotas")
    assert "'hub-seattle-mongodb'" in detail(quotas)
    assert "no planned state in this preview" in detail(quotas)


def test_a_first_preview_reads_the_cluster_from_its_settings_guard() -> None:
    # AKSENGINE_DESIRED is unknown in a first preview; the guard's settings are known: the cluster policies verify.
    run = shipped("hub-seattle", "preview")
    command = run.named("hub-seattle-aks-engine")
    assert command.inputs["environment"]["AKSENGINE_DESIRED"].__class__.__name__ == "Unknown"
    grown = mutated(run.resources, "hub-seattle-settings-guard", lambda i: i["settings"].update(agent_count=48))
    found = evaluate_registrations(grown, stack_config("hub-seattle"))
    nodes = of_policy(found, "hub-nodes-per-subscription")
    assert len(nodes) == 1
    assert detail(nodes[0]).startswith(
        "52 Kubernetes nodes in the subscription ('hub-seattle-aks-engine': 3 masters + 48 workers (from the "
        "settings guard 'hub-seattle-settings-guard'); 1 upgrade node per cluster) but Azure Stack Hub supports "
        "at most 50 per subscription"
    )


def _values_with_only_the_address_unknown(values: dict[str, Any]) -> None:
    service = values["controller"]["service"]
    service["loadBalancerIP"] = UNKNOWN
    service["annotations"]["service.beta.kubernetes.io/azure-load-balancer-ipv4"] = UNKNOWN


def test_once_only_the_ingress_address_is_unknown_its_release_is_verified_in_a_first_preview() -> None:
    # What the recommended project change gives: the ingress values built with the address as an Output leaf
    # instead of one `apply` over the whole map. The per-resource policies then read everything but the address.
    known = shipped("hub-seattle").named("hub-seattle-ingress").inputs["values"]
    first = shipped("hub-seattle", "preview")
    assert first.named("hub-seattle-ingress").type == HELM_RELEASE_TYPE

    def with_values(inputs: dict[str, Any]) -> None:
        inputs["values"] = {
            **known,
            "controller": {**known["controller"], "service": dict(known["controller"]["service"])},
        }
        inputs["values"]["controller"]["service"]["annotations"] = dict(known["controller"]["service"]["annotations"])
        _values_with_only_the_address_unknown(inputs["values"])

    fixed = mutated(first.resources, "hub-seattle-ingress", with_values)
    found = evaluate_registrations(fixed, stack_config("hub-seattle"))
    assert [(e.policy_name, detail(e)) for e in found if e.urn.endswith("::hub-seattle-ingress")] == []
