"""GlobalTrafficManager: one Traffic Manager profile in public Azure over every hub's ingress.

Traffic Manager does not exist on Azure Stack Hub, so each hub is an external endpoint whose target is the hub's
static ingress address (or its DNS name). The endpoints are declared inline in the profile: the profile then owns
the whole endpoint set, and a change such as swapping two hubs' priorities is one atomic update. With standalone
endpoint resources it would be two, and Azure refuses the first one (two endpoints may not share a priority).

The health probe reaches each hub by address, so it sends the application's host name as the `host` header:
without it the ingress controller's host rule would not match and every hub would look down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import dns, trafficmanager

EXTERNAL_ENDPOINT = "Microsoft.Network/trafficManagerProfiles/externalEndpoints"


TRAFFIC_MANAGER_DOMAIN = "trafficmanager.net"
"""Where public Azure puts a profile's DNS name (`<relativeName>.trafficmanager.net`)."""


@dataclass(frozen=True)
class HubEndpoint:
    """One hub behind the profile."""

    name: str
    """Endpoint name: the hub's name."""
    target: str
    """The hub's ingress IP address or DNS name."""
    endpoint_location: str | None = None
    """Azure region closest to the hub (Performance routing uses it for latency)."""
    priority: int | None = None
    """1-1000, lower is preferred (Priority routing)."""
    weight: int | None = None
    """1-1000, share of the traffic (Weighted routing)."""
    geo_mapping: Sequence[str] = ()
    """Geographic codes served by this hub (Geographic routing)."""


@dataclass(frozen=True)
class HealthProbe:
    """How Traffic Manager checks each hub."""

    host: str
    """Sent as the `host` header so the probe passes the ingress host rule."""
    protocol: str = "HTTPS"
    """HTTPS or HTTP."""
    port: int = 443
    """TCP port of the probe."""
    path: str = "/"
    """Path requested from the application."""
    interval_seconds: int = 30
    """10 (fast probing, billed extra) or 30."""
    timeout_seconds: int = 10
    """5-9 at a 10 s interval, 5-10 at 30 s."""
    tolerated_failures: int = 3
    """Failed probes tolerated before the hub is taken out (0-9)."""
    expected_status_ranges: Sequence[tuple[int, int]] = ((200, 299),)
    """HTTP status ranges that count as healthy."""


@dataclass(frozen=True)
class CnameRecord:
    """A CNAME in an Azure DNS zone pointing the application's name at the profile."""

    zone_name: str
    """The DNS zone, e.g. `contoso.com`."""
    zone_resource_group: str
    """Resource group of the zone (another stack's)."""
    record_name: str
    """Name relative to the zone, e.g. `ratings`."""
    ttl_seconds: int = 3600
    """TTL of the CNAME itself; failover speed depends on the profile's TTL, not this one."""


@dataclass(frozen=True)
class GlobalTrafficManagerArgs:
    """Inputs of a GlobalTrafficManager."""

    resource_group_name: pulumi.Input[str]
    """Resource group of the profile."""
    profile_name: str
    """Name of the profile resource."""
    dns_relative_name: str
    """The profile's name under trafficmanager.net (globally unique)."""
    endpoints: Sequence[HubEndpoint]
    """One per hub."""
    probe: HealthProbe
    """Endpoint health monitoring."""
    routing_method: str = "Performance"
    """Performance, Priority, Weighted or Geographic."""
    dns_ttl_seconds: int = 30
    """TTL of the profile's DNS answers: a failover reaches clients after at most this long."""
    cname: CnameRecord | None = None
    """The application's public name in an Azure DNS zone, if any."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on the profile."""


class GlobalTrafficManager(pulumi.ComponentResource):
    """A Traffic Manager profile with one external endpoint per hub, and optionally a CNAME to it."""

    profile_id: pulumi.Output[str]
    """ARM id of the profile."""
    profile_fqdn: pulumi.Output[str]
    """The profile's DNS name, `<relative name>.trafficmanager.net`."""
    routing_method: pulumi.Output[str]
    """The traffic routing method."""
    endpoint_targets: pulumi.Output[dict[str, str]]
    """Each hub's endpoint target, by hub name."""
    cname_fqdn: pulumi.Output[str] | None
    """The CNAME record's name, when one was created."""

    def __init__(self, name: str, args: GlobalTrafficManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("stackhub-ha:index:GlobalTrafficManager", name, None, opts)
        probe = args.probe
        profile = trafficmanager.Profile(
            f"{name}-profile",
            trafficmanager.ProfileArgs(
                resource_group_name=args.resource_group_name,
                profile_name=args.profile_name,
                location="global",
                profile_status="Enabled",
                traffic_routing_method=args.routing_method,
                dns_config=trafficmanager.DnsConfigArgs(relative_name=args.dns_relative_name, ttl=args.dns_ttl_seconds),
                monitor_config=trafficmanager.MonitorConfigArgs(
                    protocol=probe.protocol,
                    port=probe.port,
                    path=probe.path,
                    interval_in_seconds=probe.interval_seconds,
                    timeout_in_seconds=probe.timeout_seconds,
                    tolerated_number_of_failures=probe.tolerated_failures,
                    custom_headers=[trafficmanager.MonitorConfigCustomHeadersItemArgs(name="host", value=probe.host)],
                    expected_status_code_ranges=[
                        trafficmanager.MonitorConfigExpectedStatusCodeRangesItemArgs(min=low, max=high)
                        for low, high in probe.expected_status_ranges
                    ],
                ),
                endpoints=[self._endpoint(endpoint) for endpoint in args.endpoints],
                tags=dict(args.tags),
            ),
            # Its DNS name is globally unique and the public name points at it: deleting it is an outage.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        # Azure answers `<relativeName>.trafficmanager.net`; before the profile exists (a first preview, where
        # azure-native echoes the inputs without the computed `fqdn`) the same name comes from that rule, so the
        # CNAME never previews as an empty target.
        relative_name = args.dns_relative_name
        fqdn = profile.dns_config.apply(
            lambda d: d.fqdn if d and d.fqdn else f"{relative_name}.{TRAFFIC_MANAGER_DOMAIN}"
        )

        self.cname_fqdn = None
        if args.cname is not None:
            record = dns.RecordSet(
                f"{name}-cname",
                dns.RecordSetArgs(
                    resource_group_name=args.cname.zone_resource_group,
                    zone_name=args.cname.zone_name,
                    relative_record_set_name=args.cname.record_name,
                    record_type="CNAME",
                    ttl=args.cname.ttl_seconds,
                    cname_record=dns.CnameRecordArgs(cname=fqdn),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.cname_fqdn = record.fqdn

        self.profile_id = profile.id
        self.profile_fqdn = fqdn
        self.routing_method = pulumi.Output.from_input(args.routing_method)
        self.endpoint_targets = pulumi.Output.from_input({e.name: e.target for e in args.endpoints})
        outputs: dict[str, pulumi.Output[object]] = {
            "profile_id": self.profile_id,
            "profile_fqdn": self.profile_fqdn,
            "routing_method": self.routing_method,
            "endpoint_targets": self.endpoint_targets,
        }
        if self.cname_fqdn is not None:
            outputs["cname_fqdn"] = self.cname_fqdn
        self.register_outputs(outputs)

    @staticmethod
    def _endpoint(hub: HubEndpoint) -> trafficmanager.EndpointArgs:
        return trafficmanager.EndpointArgs(
            name=hub.name,
            type=EXTERNAL_ENDPOINT,
            target=hub.target,
            endpoint_status="Enabled",
            endpoint_location=hub.endpoint_location,
            priority=hub.priority,
            weight=hub.weight,
            geo_mapping=list(hub.geo_mapping) or None,
        )
