"""GlobalTrafficManager as the global stack composes it from the hub stacks' real (offline) outputs."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest

from preview.engine import SECRET_SIG, SIG_KEY, StackRun, run_stack, run_stack_with_references, stack_config
from stacks.config import ConfigError
from stacks.contracts import StackOutputError

PREFIX = "stackhub-ha:"
PROFILE = "azure-native:trafficmanager:Profile"
EXTERNAL = "Microsoft.Network/trafficManagerProfiles/externalEndpoints"

Outputs = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def referenced() -> Outputs:
    """The outputs of the stacks the global stack file references, from their own offline runs."""
    return {name: run_stack_with_references(name).outputs for name in ("hub-seattle", "hub-denver", "shared")}


def run_global(stack_outputs: Outputs, **overrides: Any) -> StackRun:
    """The global stack file run offline, with config keys overridden (None removes a key)."""
    values, _ = stack_config("global")
    for key, value in overrides.items():
        if value is None:
            values.pop(PREFIX + key, None)
        else:
            values[PREFIX + key] = value
    return run_stack("global", config=values, secret_keys=set(), stack_outputs=stack_outputs)


def secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def synthetic_hub(i: int) -> dict[str, Any]:
    """What hub stack number i would export, with outputs the global stack does not read."""
    return {
        "contractVersion": "1",
        "hubName": f"hub-{i:02d}",
        "location": f"site{i:02d}",
        "addressSpaces": [f"10.{i}.0.0/16"],
        "ingressIp": f"198.51.100.{10 + i}",
        "ingressFqdn": f"hub-{i:02d}-ingress.site{i:02d}.cloudapp.hubs.example.com",
        "sharedHostname": "www.ratings.contoso.com",
        "clusterSubnetId": f"/subscriptions/x/resourceGroups/hub-{i:02d}/providers/Microsoft.Network/vnets/v",
        "kubeconfig": secret("apiVersion: v1"),
        "healthUrl": f"https://hub-{i:02d}.example.com/healthz",
    }


def endpoints(run: StackRun) -> list[dict[str, Any]]:
    (profile,) = run.by_type(PROFILE)
    return list(profile.plain_inputs["endpoints"])


def test_one_external_endpoint_per_hub_targeting_the_hub_previews_ingress_ip(referenced: Outputs) -> None:
    run = run_global(referenced)
    seattle, denver = referenced["hub-seattle"], referenced["hub-denver"]
    assert endpoints(run) == [
        {
            "name": "hub-seattle",
            "type": EXTERNAL,
            "target": seattle["ingressIp"],
            "endpointStatus": "Enabled",
            "endpointLocation": "West US 2",
            "priority": 1,
            "weight": 100,
        },
        {
            "name": "hub-denver",
            "type": EXTERNAL,
            "target": denver["ingressIp"],
            "endpointStatus": "Enabled",
            "endpointLocation": "West Central US",
            "priority": 2,
            "weight": 100,
        },
    ]
    assert run.plain_outputs["endpointTargets"] == {
        "hub-seattle": seattle["ingressIp"],
        "hub-denver": denver["ingressIp"],
    }


def test_a_hub_may_be_targeted_by_its_dns_name(referenced: Outputs) -> None:
    entries = [
        {"stack": "hub-seattle", "endpointLocation": "West US 2"},
        {"stack": "hub-denver", "endpointLocation": "West Central US", "target": "fqdn"},
    ]
    run = run_global(referenced, hubs=entries)
    targets = {e["name"]: e["target"] for e in endpoints(run)}
    assert targets == {
        "hub-seattle": referenced["hub-seattle"]["ingressIp"],
        "hub-denver": referenced["hub-denver"]["ingressFqdn"],
    }
    assert all("priority" not in e and "weight" not in e for e in endpoints(run))


def test_the_probe_sends_the_application_host_to_every_hub(referenced: Outputs) -> None:
    run = run_global(
        referenced,
        monitorIntervalSeconds=10,
        monitorTimeoutSeconds=7,
        monitorToleratedFailures=2,
        monitorPath="/api/healthz",
        monitorExpectedStatusRanges=["200-299", "301-302"],
    )
    (profile,) = run.by_type(PROFILE)
    assert profile.plain_inputs["monitorConfig"] == {
        "protocol": "HTTPS",
        "port": 443,
        "path": "/api/healthz",
        "intervalInSeconds": 10,
        "timeoutInSeconds": 7,
        "toleratedNumberOfFailures": 2,
        "customHeaders": [{"name": "host", "value": "www.ratings.contoso.com"}],
        "expectedStatusCodeRanges": [{"min": 200, "max": 299}, {"min": 301, "max": 302}],
    }


def test_the_profile_is_global_protected_and_named_by_its_dns_label(referenced: Outputs) -> None:
    run = run_global(referenced, dnsTtlSeconds=60, routingMethod="Weighted")
    (component,) = run.by_type("stackhub-ha:index:GlobalTrafficManager")
    (profile,) = run.by_type(PROFILE)
    inputs = profile.plain_inputs
    assert profile.parent == component.urn
    assert profile.protect
    assert (inputs["profileName"], inputs["location"], inputs["trafficRoutingMethod"]) == (
        "contoso-ratings", "global", "Weighted")  # fmt: skip
    assert inputs["dnsConfig"] == {"relativeName": "contoso-ratings", "ttl": 60}
    assert inputs["resourceGroupName"] == "stackhub-global"
    assert run.plain_outputs["profileFqdn"] == "contoso-ratings.trafficmanager.net"


def test_the_application_name_is_a_cname_to_the_profile_in_the_shared_zone(referenced: Outputs) -> None:
    run = run_global(referenced)
    (profile,) = run.by_type(PROFILE)
    record = run.named("traffic-cname")
    assert record.plain_inputs == {
        "resourceGroupName": referenced["shared"]["dnsZoneResourceGroup"],
        "zoneName": referenced["shared"]["dnsZoneName"],
        "relativeRecordSetName": "www",
        "recordType": "CNAME",
        "ttl": 3600,
        "cnameRecord": {"cname": run.plain_outputs["profileFqdn"]},
    }
    assert profile.urn in record.dependencies
    assert run.plain_outputs["cnameRecord"] == "www.ratings.contoso.com."


def test_without_the_shared_zone_there_is_no_record_and_no_reference_to_the_shared_stack(
    referenced: Outputs,
) -> None:
    hubs_only = {k: v for k, v in referenced.items() if k != "shared"}
    run = run_global(hubs_only, useSharedDnsZone=False)
    assert run.by_type("azure-native:dns:RecordSet") == []
    assert "cnameRecord" not in run.outputs


@pytest.mark.parametrize("count", [2, 20])
def test_n_hubs_give_exactly_n_endpoints(count: int) -> None:
    stack_outputs = {f"hub-{i:02d}": synthetic_hub(i) for i in range(count)}
    entries = [{"stack": f"acme/stackhub-ha/hub-{i:02d}", "priority": count - i} for i in range(count)]
    run = run_global(stack_outputs, hubs=entries, routingMethod="Priority", useSharedDnsZone=False)
    found = endpoints(run)
    assert len(found) == count
    assert [(e["name"], e["target"], e["priority"]) for e in found] == [
        (f"hub-{i:02d}", f"198.51.100.{10 + i}", count - i) for i in range(count)
    ]
    assert {e["type"] for e in found} == {EXTERNAL}
    assert len(run.by_type(PROFILE)) == 1


def test_geographic_routing_maps_regions_to_hubs() -> None:
    stack_outputs = {f"hub-{i:02d}": synthetic_hub(i) for i in range(2)}
    entries = [
        {"stack": "hub-00", "geoMapping": ["US", "CA"]},
        {"stack": "hub-01", "geoMapping": ["WORLD"]},
    ]
    run = run_global(stack_outputs, hubs=entries, routingMethod="Geographic", useSharedDnsZone=False)
    assert [(e["name"], e["geoMapping"]) for e in endpoints(run)] == [("hub-00", ["US", "CA"]), ("hub-01", ["WORLD"])]


def broken(referenced: Outputs, stack: str, **changes: Any) -> Outputs:
    outputs = copy.deepcopy(referenced)
    for key, value in changes.items():
        if value is None:
            del outputs[stack][key]
        else:
            outputs[stack][key] = value
    return outputs


BROKEN_HUB_OUTPUTS = [
    ({"ingressIp": None}, "stackhub-ha:hubs[1].stack = 'hub-denver': output 'ingressIp' is missing"),
    ({"ingressIp": "not-an-ip"}, "output 'ingressIp' = \"not-an-ip\": must be an IPv4 address"),
    ({"ingressIp": "2001:db8::1"}, "output 'ingressIp' = \"2001:db8::1\": must be an IPv4 address"),
    ({"addressSpaces": ["10.20.0.1/16"]}, "output 'addressSpaces[0]' = \"10.20.0.1/16\": not a valid CIDR"),
    ({"addressSpaces": []}, "output 'addressSpaces' = []: List should have at least 1 item"),
    ({"contractVersion": "2"}, "output 'contractVersion' = \"2\": Input should be '1'"),
    ({"hubName": None}, "stackhub-ha:hubs[1].stack = 'hub-denver': output 'hubName' is missing"),
]


@pytest.mark.parametrize(("changes", "expected"), BROKEN_HUB_OUTPUTS, ids=[str(c) for c, _ in BROKEN_HUB_OUTPUTS])
def test_missing_or_malformed_hub_output_names_the_hub_stack_and_the_output(
    referenced: Outputs, changes: dict[str, Any], expected: str
) -> None:
    with pytest.raises(StackOutputError) as caught:
        run_global(broken(referenced, "hub-denver", **changes))
    message = str(caught.value)
    assert message.startswith("Stack 'global' cannot use what the stacks it references export (1 problem(s)):")
    assert "stackhub-ha:hubs[1].stack = 'hub-denver': " in message
    assert expected in message
    # Reported like a config error offline, and as a message without traceback by the Pulumi language host.
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, pulumi.RunError)


def test_every_broken_hub_is_reported_at_once(referenced: Outputs) -> None:
    outputs = broken(broken(referenced, "hub-denver", ingressFqdn=None), "hub-seattle", ingressIp="x")
    with pytest.raises(StackOutputError) as caught:
        run_global(outputs)
    assert [str(p).split(": output ")[0] for p in caught.value.problems] == [
        "stackhub-ha:hubs[0].stack = 'hub-seattle'",
        "stackhub-ha:hubs[1].stack = 'hub-denver'",
    ]


def test_hubs_that_replicate_over_vpn_must_not_overlap(referenced: Outputs) -> None:
    outputs = broken(referenced, "hub-denver", addressSpaces=["10.10.128.0/17"])
    with pytest.raises(StackOutputError) as caught:
        run_global(outputs)
    assert [str(p) for p in caught.value.problems] == [
        "stackhub-ha:hubs[1].stack = 'hub-denver': address space 10.10.128.0/17 of hub hub-denver overlaps "
        "10.10.0.0/16 of hub hub-seattle (hubs[0]): hubs that replicate over VPN need distinct address spaces "
        "(change one hub's vnetCidr, or set hubs[1].replicatesOverVpn to false if the hub never joins the VPN)"
    ]


def test_a_hub_outside_the_vpn_may_reuse_an_address_space(referenced: Outputs) -> None:
    outputs = broken(referenced, "hub-denver", addressSpaces=["10.10.0.0/16"])
    entries = [
        {"stack": "hub-seattle", "endpointLocation": "West US 2"},
        {"stack": "hub-denver", "endpointLocation": "West Central US", "replicatesOverVpn": False},
    ]
    run = run_global(outputs, hubs=entries)
    assert len(endpoints(run)) == 2


def test_two_stacks_exporting_the_same_hub_name_are_refused(referenced: Outputs) -> None:
    outputs = broken(referenced, "hub-denver", hubName="hub-seattle", addressSpaces=["10.30.0.0/16"])
    with pytest.raises(StackOutputError) as caught:
        run_global(outputs)
    assert [str(p) for p in caught.value.problems] == [
        "stackhub-ha:hubs[1].stack = 'hub-denver': exports hubName 'hub-seattle', already exported by hub-seattle"
    ]


def test_a_hub_serving_another_name_than_the_profiles_is_refused(referenced: Outputs) -> None:
    outputs = broken(referenced, "hub-denver", sharedHostname="old.ratings.contoso.com")
    with pytest.raises(StackOutputError) as caught:
        run_global(outputs)
    assert [str(p) for p in caught.value.problems] == [
        "stackhub-ha:hubs[1].stack = 'hub-denver': serves sharedHostname 'old.ratings.contoso.com', "
        "not appHostname 'www.ratings.contoso.com'"
    ]


@pytest.mark.parametrize("hostname", ["ratings.fabrikam.com", "ratings.contoso.com"])
def test_the_application_name_must_lie_inside_the_shared_zone(referenced: Outputs, hostname: str) -> None:
    serving = broken(broken(referenced, "hub-seattle", sharedHostname=hostname), "hub-denver", sharedHostname=hostname)
    with pytest.raises(StackOutputError) as caught:
        run_global(serving, appHostname=hostname)
    assert [str(p) for p in caught.value.problems] == [
        f"stackhub-ha:appHostname = '{hostname}': must be a name inside the shared DNS zone ratings.contoso.com "
        "(not the zone itself) when useSharedDnsZone is true"
    ]


def test_a_shared_stack_without_a_zone_is_reported_by_its_missing_output(referenced: Outputs) -> None:
    outputs = {
        **referenced,
        "shared": {k: v for k, v in referenced["shared"].items() if not k.startswith("dns")},
    }
    with pytest.raises(StackOutputError) as caught:
        run_global(outputs)
    assert [str(p) for p in caught.value.problems] == [
        "stackhub-ha:sharedStack = 'shared': output 'dnsZoneName' is missing: deploy that stack first, "
        "or check that the stack name is right",
        "stackhub-ha:sharedStack = 'shared': output 'dnsZoneResourceGroup' is missing: deploy that stack first, "
        "or check that the stack name is right",
        "stackhub-ha:sharedStack = 'shared': output 'dnsZoneId' is missing: deploy that stack first, "
        "or check that the stack name is right",
    ]
