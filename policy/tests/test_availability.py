"""workload-replicas and workload-disruption-budgets."""

from __future__ import annotations

from typing import Any

import pytest

from policy.stackhub_policies.availability import Workload, disruption_problem
from policy.stackhub_policies.reporting import Subject
from policy.stackhub_policies.wire import UNKNOWN

from .fixtures import deployment, k8s, run
from .stacks import detail, evaluate_registrations, mutated, of_policy, shipped, stack_config


def autoscaler(target: str, minimum: int | str | None) -> Any:
    spec: dict[str, Any] = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                            "maxReplicas": 10}  # fmt: skip
    if minimum is not None:
        spec["minReplicas"] = minimum
    body = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": f"{target}-hpa", "namespace": "app"}, "spec": spec}  # fmt: skip
    return k8s("autoscaling/v2:HorizontalPodAutoscaler", f"{target}-hpa", body)


def budget(name: str = "web", selector: dict[str, Any] | None = None, **spec: Any) -> Any:
    body = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "app"},
        "spec": {"selector": selector or {"matchLabels": {"app": "web"}}, **(spec or {"minAvailable": 1})},
    }
    return k8s("policy/v1:PodDisruptionBudget", name, body)


def test_two_replicas_pass_and_one_fails() -> None:
    assert run("workload-replicas", deployment(replicas=2)) == []
    (event,) = run("workload-replicas", deployment(replicas=1))
    assert detail(event) == (
        "kubernetes:apps/v1:Deployment 'web' (app/web): 1 replica(s) (spec.replicas); at least 2 so that losing or "
        "draining a node keeps it serving"
    )


def test_an_autoscalers_minimum_is_what_counts() -> None:
    assert run("workload-replicas", deployment(replicas=1), autoscaler("web", 2)) == []
    (event,) = run("workload-replicas", deployment(replicas=5), autoscaler("web", None))
    assert "1 replica(s) (HPA web-hpa minReplicas)" in detail(event)


def test_a_matching_budget_that_allows_a_drain_passes() -> None:
    assert run("workload-disruption-budgets", deployment(replicas=2), budget()) == []


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ((), "0 PodDisruptionBudgets select its pods; 1 is needed"),
        ((budget(selector={"matchLabels": {"app": "other"}}),), "0 PodDisruptionBudgets select its pods"),
        ((budget(), budget("web2")), "2 PodDisruptionBudgets select its pods (web, web2); Kubernetes refuses"),
        ((budget(minAvailable=2),), "PodDisruptionBudget web allows 0 disruption(s) of 2 replica(s)"),
        ((budget(maxUnavailable=0),), "PodDisruptionBudget web allows 0 disruption(s) of 2 replica(s)"),
        ((budget(minAvailable="100%"),), "PodDisruptionBudget web allows 0 disruption(s)"),
    ],
)
def test_a_missing_or_blocking_budget_is_reported(resources: tuple[Any, ...], message: str) -> None:
    (event,) = run("workload-disruption-budgets", deployment(replicas=2), *resources)
    assert message in detail(event)


def statefulset(replicas: int) -> Workload:
    return Workload(Subject("kubernetes:apps/v1:StatefulSet", "db", "urn:db", {}), "StatefulSet", "app/db", replicas,
                    "", {"app": "db"})  # fmt: skip


@pytest.mark.parametrize(
    ("replicas", "spec", "problem"),
    [
        (3, {"minAvailable": 2}, None),  # a majority of 3 stays, one may go
        (3, {"maxUnavailable": 1}, None),
        (
            3,
            {"minAvailable": 1},
            "keeps 1 of 3 replicas available; a majority (2) must stay so that the replica set keeps a primary",
        ),
        (5, {"maxUnavailable": 2}, None),
        (
            5,
            {"maxUnavailable": "50%"},
            "keeps 2 of 5 replicas available; a majority (3) must stay so that the replica set keeps a primary",
        ),
        (3, {"minAvailable": 3}, "allows 0 disruption(s) of 3 replica(s); a drain needs at least 1"),
        (3, {}, "sets neither minAvailable nor maxUnavailable"),
    ],
)
def test_a_statefulsets_budget_keeps_a_majority(replicas: int, spec: dict[str, Any], problem: str | None) -> None:
    assert disruption_problem(statefulset(replicas), {"spec": spec}) == problem


def test_a_shipped_hub_with_one_api_replica_and_a_weak_database_budget_breaks_both_rules() -> None:
    registrations = mutated(shipped("hub-seattle").resources, "hub-seattle-ratings-api-hpa",
                            lambda i: i["spec"].update(minReplicas=1))  # fmt: skip
    registrations = mutated(registrations, "hub-seattle-ratings-mongodb-pdb",
                            lambda i: i["spec"].update(minAvailable=1))  # fmt: skip
    found = evaluate_registrations(registrations, stack_config("hub-seattle"))
    (replicas,) = of_policy(found, "workload-replicas")
    assert "(ratingsapp/ratings-api): 1 replica(s) (HPA ratings-api minReplicas)" in detail(replicas)
    # One replica left for the API: its budget (minAvailable 1) now blocks every drain too.
    api, database = of_policy(found, "workload-disruption-budgets")
    assert detail(api).endswith("PodDisruptionBudget ratings-api allows 0 disruption(s) of 1 replica(s); a drain "
                                "needs at least 1")  # fmt: skip
    assert detail(database).endswith(
        "(ratingsapp/ratings-mongodb, 3 replica(s)): PodDisruptionBudget ratings-mongodb keeps 1 of 3 replicas "
        "available; a majority (2) must stay so that the replica set keeps a primary"
    )


def test_an_unknown_minimum_cannot_be_verified_and_is_reported_at_the_policys_level() -> None:
    (event,) = run("workload-replicas", deployment(replicas=2), autoscaler("web", UNKNOWN))
    assert event.enforcement_level == "mandatory"
    assert detail(event).startswith(
        "cannot verify its scale target and minimum of kubernetes:autoscaling/v2:HorizontalPodAutoscaler 'web-hpa': "
        "string value at .spec.minReplicas can't be known during preview"
    )
