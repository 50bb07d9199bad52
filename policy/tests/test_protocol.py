"""The pack over the real analyzer protocol: started as Pulumi's Python language host starts it, called as the
engine calls it, with each shipped stack's resources marshalled as the engine marshals them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import grpc  # type: ignore[import-untyped]
import pytest
from google.protobuf import empty_pb2, json_format  # type: ignore[import-untyped]
from pulumi.runtime.proto import analyzer_pb2

from policy.stackhub_policies import POLICIES, evaluate, pack_version
from policy.stackhub_policies.wire import configure_request, struct
from preview.policy import stack_resources

from .served_pack import ServedPack, served_pack
from .stacks import detail, mutated, shipped, stack_config

SHIPPED = ("hub-seattle", "hub-denver", "shared", "global")
STACK_POLICIES = {"hub-quotas", "hub-nodes-per-subscription", "cluster-shape", "lb-frontend-ips",
                  "pod-security-restricted", "workload-replicas", "workload-disruption-budgets"}  # fmt: skip


@pytest.fixture(scope="module")
def pack() -> Iterator[ServedPack]:
    with served_pack() as served:
        yield served


def test_the_pack_describes_every_policy_with_its_level_and_documented_settings(pack: ServedPack) -> None:
    info = pack.analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "stackhub-ha"
    assert info.supportsConfig
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]
    assert len(info.policies) == 23
    for policy in info.policies:
        assert policy.description
        assert policy.enforcementLevel == analyzer_pb2.MANDATORY, policy.name
        kind = analyzer_pb2.POLICY_TYPE_STACK if policy.name in STACK_POLICIES else analyzer_pb2.POLICY_TYPE_RESOURCE
        assert policy.policy_type == kind, policy.name
        schema = json_format.MessageToDict(policy.configSchema.properties)
        for key, prop in schema.items():
            assert prop.get("description"), (policy.name, key)
            assert "default" in prop, (policy.name, key)


@pytest.mark.parametrize("stack", SHIPPED)
def test_a_shipped_stack_has_no_mandatory_violation_over_the_protocol(pack: ServedPack, stack: str) -> None:
    pack.configure(configure_request(stack_config(stack), POLICIES))
    found = pack.analyze(stack_resources(shipped(stack).resources))
    assert [(e.policy_name, detail(e)) for e in found] == []


def test_the_served_pack_and_the_in_process_evaluation_answer_alike(pack: ServedPack) -> None:
    # A first preview: unknown values and unplanned Kubernetes objects, where the two could most easily differ.
    resources = stack_resources(shipped("hub-denver", "preview").resources)
    config = stack_config("hub-denver")
    pack.configure(configure_request(config, POLICIES))
    served = pack.analyze(resources)
    assert served
    # pulumi_policy always reports version 0.0.1 (policy.py); the CLI and `evaluate` report PulumiPolicy.yaml's.
    assert {e.policy_pack_version for e in served} == {"0.0.1"}
    assert [dataclasses.replace(e, policy_pack_version=pack_version()) for e in served] == evaluate(resources, config)


def test_a_violation_travels_back_with_its_policy_level_and_figures(pack: ServedPack) -> None:
    def one_master(inputs: dict[str, object]) -> None:
        environment = inputs["environment"]
        assert isinstance(environment, dict)
        document = json.loads(environment["AKSENGINE_DESIRED"])
        document["settings"]["master_count"] = 1
        environment["AKSENGINE_DESIRED"] = json.dumps(document)

    registrations = mutated(shipped("hub-seattle").resources, "hub-seattle-aks-engine", one_master)
    pack.configure(configure_request(stack_config("hub-seattle"), POLICIES))
    found = pack.analyze(stack_resources(registrations))
    assert [(e.policy_name, e.enforcement_level) for e in found] == [("cluster-shape", "mandatory")]
    assert found[0].urn.endswith("::hub-seattle-aks-engine")
    assert detail(found[0]).endswith("(read from environment.AKSENGINE_DESIRED): 1 masters; allowed: 3 or 5")


def test_a_resource_violation_is_reported_for_the_resource_analyzed(pack: ServedPack) -> None:
    registrations = mutated(shipped("hub-seattle").resources, "hub-seattle-shared-ingress",
                            lambda i: i["spec"].pop("tls"))  # fmt: skip
    pack.configure(configure_request(stack_config("hub-seattle"), POLICIES))
    found = pack.analyze(stack_resources(registrations))
    assert [(e.policy_name, e.urn.rsplit("::", 1)[1]) for e in found] == [("ingress-tls", "hub-seattle-shared-ingress")]


def test_a_level_from_the_config_file_applies_to_every_policy(pack: ServedPack) -> None:
    pack.configure(configure_request({"all": "advisory"}, POLICIES))
    found = pack.analyze(stack_resources(shipped("hub-denver").resources))
    assert {(e.policy_name, e.enforcement_level) for e in found} == {("workload-image-registries", "advisory")}


def test_a_bad_policy_config_fails_the_call_with_each_problem_named(pack: ServedPack) -> None:
    # The engine checks the file against the schemas first; the pack checks again, for every other way in.
    bad = analyzer_pb2.ConfigureAnalyzerRequest(
        policyConfig={
            "hub-quotas": analyzer_pb2.PolicyConfig(
                enforcementLevel=analyzer_pb2.MANDATORY,
                properties=struct({"quota": {"cores": "many"}, "usd": {}}),
            )
        }
    )
    pack.configure(bad)
    with pytest.raises(grpc.RpcError) as raised:
        pack.analyze(stack_resources(shipped("hub-seattle").resources))
    assert raised.value.code() == grpc.StatusCode.UNKNOWN
    assert (
        "policy 'hub-quotas' config: usd: not a setting of this policy (did you mean 'used'?); "
        "quota.cores: expected an integer, got 'many'"
    ) in str(raised.value.details())


def test_the_pack_never_calls_the_engine(pack: ServedPack) -> None:
    pack.configure(configure_request({}, POLICIES))
    pack.analyze(stack_resources(shipped("global").resources))
    assert pack.engine.logged == []
