"""Every global-stack config rule: Traffic Manager's limits and the rules between hub entries."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, validate
from stacks.global_stack import GlobalConfig
from tests.conftest import config_of


def global_config(**overrides: Any) -> dict[str, Any]:
    """The global stack file's project keys (the provider's `azure-native:` keys are not the program's)."""
    return {k: v for k, v in config_of("global", **overrides).items() if ":" not in k}


def hubs(*entries: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"stack": f"hub-{i}", "endpointLocation": "West Europe", **e} for i, e in enumerate(entries)]


def problems_for(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate(GlobalConfig, "global-test", values, set())
    return [str(p) for p in caught.value.problems]


def test_the_stack_file_is_valid() -> None:
    config = validate(GlobalConfig, "global", global_config(), set())
    assert [h.stack for h in config.hubs] == ["hub-seattle", "hub-denver"]
    assert config.routing_method == "Performance"
    assert config.probe().host == "www.ratings.contoso.com"
    assert config.probe().expected_status_ranges == [(200, 299)]


def test_defaults_are_performance_routing_and_an_https_probe_every_30_seconds() -> None:
    values = {
        "role": "global",
        "location": "westus2",
        "resourceGroup": "g",
        "appHostname": "app.example.com",
        "dnsRelativeName": "app-example",
        "hubs": [{"stack": "hub-a", "endpointLocation": "West US 2"}],
    }
    config = validate(GlobalConfig, "global", values, set())
    probe = config.probe()
    assert config.routing_method == "Performance"
    assert (probe.protocol, probe.port, probe.path) == ("HTTPS", 443, "/")
    assert (probe.interval_seconds, probe.timeout_seconds, probe.tolerated_failures) == (30, 10, 3)
    assert config.dns_ttl_seconds == 30
    assert config.hubs[0].target == "ip"
    assert config.hubs[0].replicates_over_vpn is True
    assert config.use_shared_dns_zone is False


# (interval, timeout, tolerated failures) -> the problem Azure's limits give, or None when Azure accepts it.
# Values arrive from the stack file as strings, as Pulumi hands them over.
MONITOR_LIMITS = [
    (10, 5, 0, None),
    (10, 9, 9, None),
    (10, 10, 3, "stackhub-ha:monitorTimeoutSeconds = 10: must be 5-9 when monitorIntervalSeconds is 10"),
    (30, 5, 3, None),
    (30, 10, 3, None),
    (30, 4, 3, "stackhub-ha:monitorTimeoutSeconds = '4': Input should be greater than or equal to 5"),
    (30, 11, 3, "stackhub-ha:monitorTimeoutSeconds = '11': Input should be less than or equal to 10"),
    (20, 5, 3, "stackhub-ha:monitorIntervalSeconds = '20': must be 10 or 30 (seconds between probes)"),
    (30, 10, -1, "stackhub-ha:monitorToleratedFailures = '-1': Input should be greater than or equal to 0"),
    (30, 10, 10, "stackhub-ha:monitorToleratedFailures = '10': Input should be less than or equal to 9"),
]


@pytest.mark.parametrize(
    ("interval", "timeout", "failures", "expected"),
    MONITOR_LIMITS,
    ids=[f"{i}s-{t}s-{f}" for i, t, f, _ in MONITOR_LIMITS],
)
def test_monitor_limits(interval: int, timeout: int, failures: int, expected: str | None) -> None:
    values = global_config(
        monitorIntervalSeconds=str(interval),
        monitorTimeoutSeconds=str(timeout),
        monitorToleratedFailures=str(failures),
    )
    if expected is None:
        probe = validate(GlobalConfig, "global", values, set()).probe()
        assert (probe.interval_seconds, probe.timeout_seconds, probe.tolerated_failures) == (
            interval, timeout, failures)  # fmt: skip
    else:
        assert problems_for(values) == [expected]


BAD_VALUES = [
    ("dnsTtlSeconds", -1, "stackhub-ha:dnsTtlSeconds = -1: Input should be greater than or equal to 0"),
    ("dnsTtlSeconds", 2_147_483_648, "Input should be less than or equal to 2147483647"),
    ("dnsRelativeName", "Contoso_Ratings", "stackhub-ha:dnsRelativeName = 'Contoso_Ratings': String should match"),
    ("dnsRelativeName", "-ratings", "stackhub-ha:dnsRelativeName = '-ratings': String should match"),
    ("routingMethod", "MultiValue", "stackhub-ha:routingMethod = 'MultiValue': Input should be 'Performance'"),
    ("appHostname", "ratings", "stackhub-ha:appHostname = 'ratings': must be a fully qualified DNS name"),
    ("monitorProtocol", "TCP", "stackhub-ha:monitorProtocol = 'TCP': Input should be 'HTTPS' or 'HTTP'"),
    ("monitorPort", 0, "stackhub-ha:monitorPort = 0: Input should be greater than or equal to 1"),
    ("monitorPath", "healthz", "stackhub-ha:monitorPath = 'healthz': String should match pattern"),
    ("monitorExpectedStatusRanges", ["99-200"], "monitorExpectedStatusRanges[0] = '99-200': must be HTTP status"),
    ("monitorExpectedStatusRanges", ["300-200"], "monitorExpectedStatusRanges[0] = '300-200': must be HTTP status"),
    ("monitorExpectedStatusRanges", ["2xx"], "monitorExpectedStatusRanges[0] = '2xx': must be a status code"),
    ("monitorExpectedStatusRanges", [f"{c}" for c in range(200, 209)], "List should have at most 8 items"),
    ("monitorExpectedStatusRanges", [], "List should have at least 1 item"),
    ("hubs", [], "stackhub-ha:hubs = []: List should have at least 1 item"),
    ("hubs", hubs({"weight": 0}), "stackhub-ha:hubs[0].weight = 0: Input should be greater than or equal to 1"),
    ("hubs", hubs({"weight": 1001}), "stackhub-ha:hubs[0].weight = 1001: Input should be less than or equal to"),
    ("hubs", hubs({"priority": 0}), "stackhub-ha:hubs[0].priority = 0: Input should be greater than or equal to"),
    ("hubs", hubs({"priority": 1001}), "stackhub-ha:hubs[0].priority = 1001: Input should be less than or equal"),
    ("hubs", hubs({"target": "name"}), "stackhub-ha:hubs[0].target = 'name': Input should be 'ip' or 'fqdn'"),
    ("hubs", hubs({"stack": "hub seattle"}), "stackhub-ha:hubs[0].stack = 'hub seattle': String should match"),
    ("hubs", hubs({"wieght": 5}), "unknown hub setting 'wieght'; did you mean 'weight'?"),
    ("hubs", hubs({"endpointLocation": "west-us-2!"}), "stackhub-ha:hubs[0].endpointLocation = 'west-us-2!'"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES, ids=[f"{k}={v!r}"[:60] for k, v, _ in BAD_VALUES])
def test_bad_value_is_reported_with_key_value_and_rule(key: str, value: Any, expected: str) -> None:
    problems = problems_for(global_config(**{key: value}))
    assert any(expected in p for p in problems), problems


def test_status_ranges_accept_single_codes_and_ranges() -> None:
    config = validate(GlobalConfig, "global", global_config(monitorExpectedStatusRanges=["200", "301-302"]), set())
    assert config.probe().expected_status_ranges == [(200, 200), (301, 302)]


CROSS_RULES = [
    (
        {"hubs": hubs({}, {"stack": "hub-0"})},
        ["stackhub-ha:hubs[1].stack = 'hub-0': names the same stack as hubs[0]"],
    ),
    (
        {"hubs": hubs({"stack": "acme/stackhub-ha/hub-a"}, {"stack": "hub-a"})},
        ["stackhub-ha:hubs[1].stack = 'hub-a': names the same stack as hubs[0]"],
    ),
    (
        {"hubs": hubs({"priority": 1}, {"priority": 1})},
        ["stackhub-ha:hubs[1].priority = 1: has the same priority as hubs[0]"],
    ),
    (
        {"routingMethod": "Priority", "hubs": hubs({"priority": 1}, {})},
        ["stackhub-ha:hubs[1].priority = (not set): is required with Priority routing"],
    ),
    (
        {"routingMethod": "Weighted", "hubs": hubs({"priority": 1}, {})},
        ["stackhub-ha:hubs[1].priority = (not set): must be set on every hub once one hub sets it"],
    ),
    (
        {"hubs": [{"stack": "hub-a", "endpointLocation": "West US 2"}, {"stack": "hub-b"}]},
        [
            "stackhub-ha:hubs[1].endpointLocation = (not set): is required with Performance routing: "
            "the Azure region nearest the hub, e.g. 'West US 2'"
        ],
    ),
    (
        {"routingMethod": "Geographic", "hubs": hubs({"geoMapping": ["US", "CA"]}, {})},
        ["stackhub-ha:hubs[1].geoMapping = []: is required with Geographic routing, e.g. ['US', 'CA']"],
    ),
    (
        {"routingMethod": "Geographic", "hubs": hubs({"geoMapping": ["US", "CA"]}, {"geoMapping": ["MX", "US"]})},
        ["stackhub-ha:hubs[1].geoMapping = 'US': is already mapped to hubs[0]"],
    ),
    (
        {"sharedStack": None},
        ["stackhub-ha:sharedStack = (not set): is required when useSharedDnsZone is true: the zone lives there"],
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), CROSS_RULES, ids=[str(o)[:70] for o, _ in CROSS_RULES])
def test_rules_between_hub_entries(overrides: dict[str, Any], expected: list[str]) -> None:
    assert problems_for(global_config(**overrides)) == expected


@pytest.mark.parametrize("method", ["Weighted", "Priority"])
def test_endpoint_location_is_only_required_for_performance_routing(method: str) -> None:
    entries = [{"stack": "hub-a", "priority": 1}, {"stack": "hub-b", "priority": 2}]
    config = validate(GlobalConfig, "global", global_config(routingMethod=method, hubs=entries), set())
    assert [h.endpoint_location for h in config.hubs] == [None, None]


def test_twenty_hubs_with_unique_priorities_are_valid() -> None:
    entries = hubs(*({"priority": i + 1, "weight": 50} for i in range(20)))
    config = validate(GlobalConfig, "global", global_config(hubs=entries, routingMethod="Priority"), set())
    assert len(config.hubs) == 20


def test_every_problem_is_reported_at_once() -> None:
    values = global_config(
        monitorIntervalSeconds="10",
        monitorTimeoutSeconds="10",
        hubs=hubs({"priority": 3}, {"priority": 3}, {"stack": "hub-0", "priority": 4}),
    )
    assert problems_for(values) == [
        "stackhub-ha:monitorTimeoutSeconds = 10: must be 5-9 when monitorIntervalSeconds is 10",
        "stackhub-ha:hubs[2].stack = 'hub-0': names the same stack as hubs[0]",
        "stackhub-ha:hubs[1].priority = 3: has the same priority as hubs[0]",
    ]
