"""The offline run as Pulumi's preview digest (`pulumi preview --json`), and what it adds for reviewers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from preview.digest import Commit, build_digest, value_at
from preview.engine import StackRun, run_stack
from preview.state import StackState
from tests.conftest import config_of, run_with, shared_outputs

HUB = "hub-seattle"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@pytest.fixture(scope="module")
def deployed() -> StackState:
    return run_with(HUB, config_of(HUB)).state()


def change(prior: StackState, **overrides: Any) -> StackRun:
    return run_with(HUB, config_of(HUB, **overrides), mode="preview", prior=prior)


def step(digest: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [s for s in digest["steps"] if s["urn"].endswith(f"::{name}")]
    return dict(found)


def test_a_first_preview_creates_every_resource_with_unknown_computed_outputs() -> None:
    digest = build_digest(run_stack(HUB, stack_outputs={"shared": shared_outputs()}, mode="preview"))
    assert set(digest) == {
        "config", "steps", "diagnostics", "duration", "changeSummary", "maybeCorrupt", "policyEvents", "stackhubHa",
    }  # fmt: skip
    assert digest["changeSummary"] == {"create": 76}
    custom_steps = digest["steps"]
    assert {s["op"] for s in custom_steps} == {"create"}
    assert all(s["oldState"] is None for s in custom_steps)
    provider = step(digest, "hub-seattle-k8s")
    assert provider["newState"]["inputs"]["kubeconfig"] == "[secret]"
    assert provider["newState"]["inputs"]["clusterIdentifier"].startswith("aks-engine:")
    nsg_rules = step(digest, "hub-seattle-nsg")["newState"]["inputs"]["properties"]["securityRules"]
    assert nsg_rules[0] == UNKNOWN
    assert "__provider" not in step(digest, "hub-seattle-vnet")["newState"]["inputs"]
    assert digest["config"]["stackhub-ha:armClientSecret"] == "[secret]"
    assert "offline-secret" not in json.dumps(digest)


def test_a_replaced_protected_resource_is_refused_with_its_property_diff(deployed: StackState) -> None:
    digest = build_digest(change(deployed, databaseVolumeSize="32Gi"))
    database = step(digest, "hub-seattle-mongodb")
    assert database["op"] == "replace"
    assert database["replaceReasons"] == ["spec"]
    path = "spec.volumeClaimTemplates[0].spec.resources.requests.storage"
    assert database["detailedDiff"] == {path: {"kind": "update-replace", "inputDiff": True}}
    assert value_at(database["oldState"]["inputs"], path) == (True, "16Gi")
    assert value_at(database["newState"]["inputs"], path) == (True, "32Gi")
    extra = digest["stackhubHa"]
    assert database["urn"] in extra["refused"]
    assert database["urn"] in extra["dataBearing"]
    assert {d["urn"] for d in digest["diagnostics"]} >= {database["urn"]}
    assert digest["changeSummary"]["replace"] == 1


def test_a_guard_refusal_is_a_diagnostic_on_the_guard(deployed: StackState) -> None:
    digest = build_digest(change(deployed, masterCount=5))
    (diagnostic,) = digest["diagnostics"]
    assert diagnostic["urn"].endswith("::hub-seattle-settings-guard")
    assert (diagnostic["severity"], diagnostic["prefix"]) == ("error", "error: ")
    assert "masterCount cannot change from 3 to 5" in diagnostic["message"]


def test_a_rotated_secret_is_a_change_whose_values_stay_secret(deployed: StackState) -> None:
    digest = build_digest(change(deployed, armClientSecret="rotated-value"))
    network = step(digest, "hub-seattle-vnet")
    assert network["op"] == "update"
    assert network["detailedDiff"]["client_secret"] == {"kind": "update", "inputDiff": True}
    assert (
        network["oldState"]["inputs"]["client_secret"] == network["newState"]["inputs"]["client_secret"] == ("[secret]")
    )
    assert "rotated-value" not in json.dumps(digest)


def test_an_added_rule_is_an_add_and_unchanged_resources_are_not_steps(deployed: StackState) -> None:
    digest = build_digest(change(deployed, adminSourceCidrs=["10.250.10.0/24", "10.250.20.0/24"]))
    (nsg,) = digest["steps"]
    kinds = {v["kind"] for v in nsg["detailedDiff"].values()}
    assert kinds <= {"update", "add", "delete"}
    assert "add" in kinds
    assert digest["changeSummary"] == {"same": 75, "update": 1}


def test_the_base_head_and_top_level_components(deployed: StackState) -> None:
    run = change(deployed, tags={"environment": "production"})
    digest = build_digest(run, base=Commit("main", "a" * 40), head=Commit("HEAD", "b" * 40, dirty=True))
    extra = digest["stackhubHa"]
    assert extra["base"] == {"ref": "main", "commit": "a" * 40}
    assert extra["head"] == {"commit": "b" * 40, "dirty": True}
    urns = {r.type + "::" + r.name: r.urn for r in run.resources}
    vnet = urns["pulumi-python:dynamic:Resource::hub-seattle-vnet"]
    assert extra["components"][vnet] == urns["stackhub-ha:index:HubNetwork::hub-seattle"]
    ingress = urns["kubernetes:helm.sh/v3:Release::hub-seattle-ingress"]
    assert extra["components"][ingress] == urns["stackhub-ha:index:ClusterPlatform::hub-seattle"]


def settings_maps(data: str) -> Callable[[], None]:
    def declare() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}", cluster_identifier="c")
        options = pulumi.ResourceOptions(provider=provider)
        first = k8s.core.v1.ConfigMap(
            "first", metadata={"name": "first", "namespace": "default"}, data={"v": data}, opts=options
        )
        k8s.core.v1.ConfigMap(
            "second",
            metadata={"name": "second", "namespace": "default"},
            data={"v": "fixed"},
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[first]),
        )

    return declare


def test_unchanged_resources_that_depend_on_a_replaced_one_are_listed() -> None:
    prior = run_stack("shared", program=settings_maps("a")).state()
    run = run_stack("shared", program=settings_maps("b"), mode="preview", prior=prior)
    first, second = (r.urn for r in run.resources if r.name in ("first", "second"))
    assert build_digest(run)["stackhubHa"]["dependentsOfReplaced"] == {first: [second]}


def test_deleting_protected_resources_is_refused_for_each_of_them(deployed: StackState) -> None:
    # The program declares nothing any more: every resource is deleted, and the engine refuses each protected one.
    run = run_stack(HUB, program=lambda: None, mode="preview", prior=deployed)
    protected = [r.urn for r in deployed.resources if r.protect]
    assert len(protected) >= 3  # the cluster, its SSH key, the database among them
    extra = build_digest(run)["stackhubHa"]
    assert sorted(extra["refused"]) == sorted(protected)
    assert len(run.errors) == len(protected)
