"""hub_facts against the project's own copies, and policy settings: checked, completed, refused clearly."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2

from policy.stackhub_policies import POLICIES, evaluate, hub_facts
from policy.stackhub_policies.configuration import PolicyConfigError, read_settings
from policy.stackhub_policies.wire import configure_request

from .fixtures import deployment


@pytest.mark.parametrize(
    ("size", "tier"),
    [("Standard_DS2_v2", "premium"), ("Standard_D2_v2", "standard"), ("Standard_F4s_v2", "premium"),
     ("Standard_DS11-1_v2", "premium"), ("Standard_A2m_v2", "standard"), ("Standard_E4_v3", "standard")],
)  # fmt: skip
def test_a_sizes_disks_are_premium_when_its_family_has_an_s(size: str, tier: str) -> None:
    assert hub_facts.VM_SIZES[size].disk_tier == tier


@pytest.mark.parametrize(("nodes", "gb"), [(3, 256), (4, 512), (10, 512), (11, 1023), (21, 1023)])
def test_the_etcd_disk_follows_aks_engines_node_thresholds_on_a_hub(nodes: int, gb: int) -> None:
    assert hub_facts.etcd_disk_size_gb(nodes) == gb


@pytest.mark.parametrize(("quantity", "gb"), [("16Gi", 16), ("16G", 15), ("1Ti", 1024), ("500Mi", 1), ("0.5Gi", 1)])
def test_a_storage_request_is_counted_in_whole_gb(quantity: str, gb: int) -> None:
    assert hub_facts.disk_gb(quantity) == gb


def test_a_bad_storage_request_is_refused() -> None:
    with pytest.raises(ValueError, match="'lots' is not a Kubernetes storage quantity"):
        hub_facts.disk_gb("lots")


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_every_policy_documents_its_settings_and_its_defaults_pass_its_schema(policy: Any) -> None:
    assert policy.description.endswith(".")
    assert policy.enforcement_level is not None
    assert policy.config_schema is not None
    properties = policy.config_schema.properties
    for key, schema in properties.items():
        assert schema.get("description"), key
        assert "default" in schema, key
    defaults = {key: schema["default"] for key, schema in properties.items()}
    assert read_settings(policy.name, properties, defaults) == defaults


SCHEMA: dict[str, dict[str, Any]] = {
    "count": {"type": "integer", "minimum": 1, "default": 2, "description": "d"},
    "kinds": {"type": "array", "items": {"enum": ["a", "b"]}, "default": ["a"], "description": "d"},
    "limits": {"type": "object", "properties": {"cores": {"type": "integer"}}, "additionalProperties": False,
               "default": {}, "description": "d"},
}  # fmt: skip


def test_settings_are_completed_with_defaults_and_numbers_from_the_wire_become_integers() -> None:
    assert read_settings("p", SCHEMA, {"count": 3.0}) == {"count": 3, "kinds": ["a"], "limits": {}}
    assert read_settings("p", SCHEMA, None) == {"count": 2, "kinds": ["a"], "limits": {}}


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"cont": 3}, "cont: not a setting of this policy (did you mean 'count'?)"),
        ({"count": 0}, "count: 0 is below the minimum 1"),
        ({"count": 2.5}, "count: expected an integer, got 2.5"),
        ({"kinds": ["c"]}, "kinds[0]: 'c' is not one of 'a', 'b'"),
        ({"limits": {"core": 1}}, "limits.core: not allowed here (did you mean 'cores'?)"),
        ({"limits": {"cpus": 1}}, "limits.cpus: not allowed here (settings: cores)"),
        ({"limits": {"cores": "x"}}, "limits.cores: expected an integer, got 'x'"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_policy_key_value_and_rule(given: dict[str, Any], problem: str) -> None:
    with pytest.raises(PolicyConfigError) as raised:
        read_settings("p", SCHEMA, given)
    assert str(raised.value) == f"policy 'p' config: {problem}"


def _levels(request: analyzer_pb2.ConfigureAnalyzerRequest) -> dict[str, int]:
    return {name: entry.enforcementLevel for name, entry in request.policyConfig.items()}


def test_the_config_file_format_sets_levels_per_policy_or_for_all() -> None:
    levels = _levels(configure_request({"all": "advisory", "hub-quotas": "mandatory"}, POLICIES))
    assert levels["hub-quotas"] == analyzer_pb2.MANDATORY
    assert {v for k, v in levels.items() if k != "hub-quotas"} == {analyzer_pb2.ADVISORY}
    levels = _levels(configure_request({"ingress-class": {"enforcementLevel": "disabled"}}, POLICIES))
    assert levels["ingress-class"] == analyzer_pb2.DISABLED
    assert levels["hub-quotas"] == analyzer_pb2.MANDATORY  # every other policy keeps its own level


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"hub-quota": {}}, "policy config names no policy of this pack: hub-quota"),
        ({"all": "strict"}, "all: 'strict' is not an enforcement level (advisory, mandatory, remediate, disabled)"),
        (
            {"hub-quotas": {"quota": {"cores": -1}}},
            "policy 'hub-quotas' config: quota.cores: -1 is below the minimum 0",
        ),
    ],
)
def test_a_bad_config_file_is_refused_before_anything_runs(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyConfigError) as raised:
        evaluate([deployment()], config)
    assert str(raised.value) == message
