"""hub-nodes-per-subscription and cluster-shape: the cluster as the desired document (or its guard) states it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions
from pulumi_policy.proxy import unknown_checking_proxy

from policy.stackhub_policies.clusters import Cluster, find_clusters
from policy.stackhub_policies.reporting import Subject
from policy.stackhub_policies.wire import UNKNOWN

from .fixtures import resource, run
from .stacks import detail, evaluate_registrations, mutated, of_policy, shipped, stack_config


def command(settings: dict[str, Any], other_nodes: int = 0, name: str = "hub-aks-engine") -> Any:
    document = {"settings": settings, "otherNodesInSubscription": other_nodes}
    return resource("command:local:Command", name, {"environment": {"AKSENGINE_DESIRED": json.dumps(document)}},
                    parent="urn:cluster", protect=True)  # fmt: skip


GOOD = {"master_count": 3, "master_vm_size": "Standard_DS2_v2", "agent_count": 3, "agent_vm_size": "Standard_DS3_v2",
        "agent_pool_name": "linuxpool", "kubernetes_version": "1.33.10"}  # fmt: skip


def test_a_cluster_within_the_node_limit_passes() -> None:
    assert run("hub-nodes-per-subscription", command(GOOD)) == []


@pytest.mark.parametrize(
    ("agents", "other", "config", "total"),
    [
        (46, 0, {}, 50),  # 3 + 46 + 1 upgrade node = 50: at the limit
        (47, 0, {}, 51),
        (30, 17, {}, 51),  # other clusters, as the project's config states them
        (30, 0, {"otherClusterNodes": 17}, 51),  # ... or as the policy config does
    ],
)
def test_nodes_beyond_the_subscription_limit_are_counted_with_masters_and_the_upgrade(
    agents: int, other: int, config: dict[str, Any], total: int
) -> None:
    found = run("hub-nodes-per-subscription", command({**GOOD, "agent_count": agents}, other),
                config={"hub-nodes-per-subscription": config})  # fmt: skip
    if total <= 50:
        assert found == []
    else:
        (event,) = found
        assert detail(event).startswith(f"{total} Kubernetes nodes in the subscription")
        assert detail(event).endswith("but Azure Stack Hub supports at most 50 per subscription, masters included")


def test_the_upgrade_node_may_be_left_out_by_config() -> None:
    config = {"hub-nodes-per-subscription": {"countUpgradeSurge": False}}
    assert run("hub-nodes-per-subscription", command({**GOOD, "agent_count": 47}), config=config) == []


def test_a_good_shape_passes() -> None:
    assert run("cluster-shape", command(GOOD)) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"master_count": 1}, "1 masters; allowed: 3 or 5"),
        ({"agent_count": 1}, "1 workers; at least 2 are needed"),
        (
            {"master_vm_size": "Standard_A2_v2"},
            "master VM size Standard_A2_v2 has 2 vCPU and 4 GiB; a master needs at least 2 vCPU and 7 GiB",
        ),
        (
            {"agent_vm_size": "Standard_D2s_v3"},
            "pool linuxpool VM size Standard_D2s_v3 is not a VM size Azure Stack Hub offers",
        ),
        (
            {"kubernetes_version": "1.30.4"},
            "Kubernetes 1.30.4 is not one AKS Engine v0.85.0 installs on a hub; allowed: 1.33.10, 1.34.4, 1.35.0",
        ),
    ],
)
def test_a_bad_shape_is_reported_with_the_value_and_what_is_allowed(change: dict[str, Any], message: str) -> None:
    (event,) = run("cluster-shape", command({**GOOD, **change}))
    assert message in detail(event)
    assert "(read from environment.AKSENGINE_DESIRED)" in detail(event)


def test_the_config_can_allow_a_size_the_hub_offers_beyond_the_table() -> None:
    config = {"cluster-shape": {"agentVmSizes": ["Standard_D4s_v3", "Standard_DS3_v2"]}}
    assert run("cluster-shape", command({**GOOD, "agent_vm_size": "Standard_D4s_v3"}), config=config) == []
    (event,) = run("cluster-shape", command(GOOD), config={"cluster-shape": {"agentVmSizes": ["Standard_DS4_v2"]}})
    assert detail(event).endswith("is not in the allowed worker sizes (Standard_DS4_v2)")


def test_an_unreadable_desired_document_is_reported_not_skipped() -> None:
    broken = resource("command:local:Command", "hub-aks-engine", {"environment": {"AKSENGINE_DESIRED": "{not json"}})
    (event,) = run("cluster-shape", broken)
    assert detail(event) == (
        "cannot verify the cluster's settings of command:local:Command 'hub-aks-engine': AKSENGINE_DESIRED is not "
        "a JSON document"
    )


def _desired(**settings: Any) -> Any:
    def change(inputs: dict[str, Any]) -> None:
        document = json.loads(inputs["environment"]["AKSENGINE_DESIRED"])
        document["settings"].update(settings)
        inputs["environment"]["AKSENGINE_DESIRED"] = json.dumps(document)

    return change


def test_a_shipped_hub_changed_to_one_master_and_a_bad_version_breaks_the_shape() -> None:
    registrations = mutated(shipped("hub-denver").resources, "hub-denver-aks-engine",
                            _desired(master_count=1, kubernetes_version="1.32.0"))  # fmt: skip
    found = of_policy(evaluate_registrations(registrations, stack_config("hub-denver")), "cluster-shape")
    assert [detail(e).split(": ", 1)[1] for e in found] == [
        "1 masters; allowed: 3 or 5",
        "Kubernetes 1.32.0 is not one AKS Engine v0.85.0 installs on a hub; allowed: 1.33.10, 1.34.4, 1.35.0",
    ]


def test_a_shipped_hub_changed_beyond_the_node_limit_breaks_it() -> None:
    registrations = mutated(shipped("hub-denver").resources, "hub-denver-aks-engine", _desired(agent_count=47))
    (event,) = of_policy(
        evaluate_registrations(registrations, stack_config("hub-denver")), "hub-nodes-per-subscription"
    )
    assert event.urn.endswith("::hub-denver-aks-engine")
    assert detail(event).startswith("51 Kubernetes nodes in the subscription ('hub-denver-aks-engine': 3 masters + "
                                    "47 workers (from environment.AKSENGINE_DESIRED)")  # fmt: skip


def _stack_resource(type_: str, urn: str, props: dict[str, Any], parent: PolicyResource | None) -> PolicyResource:
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    return PolicyResource(type_, unknown_checking_proxy(props), urn, urn.rsplit("::", 1)[1], options, None, parent,
                          [], {})  # fmt: skip


def test_each_cluster_reads_its_own_guard_when_the_engine_gives_parents_beside_the_options() -> None:
    # Two clusters whose desired documents are unknown; the parent comes only as AnalyzeStack's `parent`.
    subjects = []
    for letter, workers in (("a", 3), ("b", 7)):
        component = _stack_resource("stackhub-ha:index:AksEngineCluster", f"urn::{letter}", {}, None)
        guard = _stack_resource("pulumi-python:dynamic:Resource", f"urn::{letter}-guard",
                                {"settings": {**GOOD, "agent_count": workers}}, component)  # fmt: skip
        command_ = _stack_resource("command:local:Command", f"urn::{letter}-aks-engine",
                                   {"environment": {"AKSENGINE_DESIRED": UNKNOWN}}, component)  # fmt: skip
        subjects += [Subject.of_stack(r) for r in (component, guard, command_)]
    clusters = find_clusters(subjects)
    assert [(c.subject.name, c.agent_count, c.source) for c in clusters if isinstance(c, Cluster)] == [
        ("a-aks-engine", 3, "the settings guard 'a-guard'"),
        ("b-aks-engine", 7, "the settings guard 'b-guard'"),
    ]
