"""The global stack: one Traffic Manager profile in public Azure in front of every hub.

The hubs are read from their own stacks through StackReferences; which stacks, and how each is weighted, is
config, so two hubs or twenty work the same way. The program reads every referenced output before it registers the
profile (in `pulumi.run`), checks them (each hub's contract, unique hub names, no overlapping address spaces
between hubs that replicate over VPN) and only then declares the profile: a broken hub stops the run with one
message naming the hub stack and the output, and nothing is half-built.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

import pulumi
from pulumi_azure_native import resources
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from components.global_traffic_manager import (
    CnameRecord,
    GlobalTrafficManager,
    GlobalTrafficManagerArgs,
    HealthProbe,
    HubEndpoint,
)
from planning.network import overlaps
from planning.regions import endpoint_location_problem
from stacks.config import (
    PUBLIC_AZURE_MAX_TAGS,
    AzureRegion,
    Fqdn,
    Problem,
    ResourceGroupName,
    StackConfig,
    load,
    tag_problems,
)
from stacks.contracts import (
    HubOutputs,
    SharedDnsZoneOutputs,
    StackOutputError,
    global_exports,
)

# Traffic Manager limits (Azure docs, Traffic Manager monitoring and FAQ; azurerm provider validation).
PRIORITY_RANGE = (1, 1000)
WEIGHT_RANGE = (1, 1000)
TIMEOUT_RANGE = {10: (5, 9), 30: (5, 10)}
TOLERATED_FAILURES_RANGE = (0, 9)
TTL_RANGE = (0, 2_147_483_647)
MAX_STATUS_RANGES = 8
MAX_ENDPOINTS = 200

RoutingMethod = Literal["Performance", "Priority", "Weighted", "Geographic"]
StackName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+){0,2}$", description="stack, or org/project/stack")
]


def _status_range(value: str) -> str:
    low, _, high = value.partition("-")
    if not (low.isdigit() and (high.isdigit() or not high)):
        raise ValueError("must be a status code or a range such as 200-299")
    first, last = int(low), int(high or low)
    if not 100 <= first <= last <= 599:
        raise ValueError("must be HTTP status codes 100-599, the lower one first")
    return f"{first}-{last}"


StatusRange = Annotated[str, AfterValidator(_status_range)]


def _probe_interval(value: int) -> int:
    if value not in TIMEOUT_RANGE:
        raise ValueError("must be 10 or 30 (seconds between probes)")
    return value


# Config values arrive as strings: an int field parses "30", where Literal[10, 30] would refuse it.
ProbeInterval = Annotated[int, AfterValidator(_probe_interval)]


def _endpoint_location(value: str) -> str:
    if (problem := endpoint_location_problem(value)) is not None:
        raise ValueError(problem)
    return value


# Well-known ports of the probe's protocols: the other protocol on one of them cannot succeed.
PROTOCOL_PORTS = {"HTTP": 80, "HTTPS": 443}
GLOBAL_SYSTEM_TAGS = ("managed-by", "role")
"""Tags the program puts on every global resource; a user tag may not take their names."""


class HubEntry(BaseModel):
    """One hub behind the profile: the stack that exports it and its routing settings."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, hide_input_in_errors=True
    )

    stack: StackName
    priority: int | None = Field(default=None, ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1])
    weight: int | None = Field(default=None, ge=WEIGHT_RANGE[0], le=WEIGHT_RANGE[1])
    endpoint_location: Annotated[str, AfterValidator(_endpoint_location)] | None = None
    geo_mapping: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{2,12}$")]] = Field(default_factory=list)
    target: Literal["ip", "fqdn"] = "ip"
    replicates_over_vpn: bool = True

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # Named here so the message can suggest the hub setting a typo was meant to be.
        if isinstance(data, dict):
            known = [f.alias or n for n, f in cls.model_fields.items()]
            for key in data:
                if key not in known:
                    close = difflib.get_close_matches(str(key), known, n=1)
                    hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(known)
                    raise ValueError(f"unknown hub setting '{key}'; {hint}")
        return data

    @property
    def stack_short_name(self) -> str:
        """The stack part of `org/project/stack`."""
        return self.stack.rsplit("/", 1)[-1]


class GlobalConfig(StackConfig):
    """Configuration of the global stack (`role: global`)."""

    role: Literal["global"]
    location: AzureRegion
    resource_group: ResourceGroupName = Field(description="resource group of the Traffic Manager profile")
    app_hostname: Fqdn = Field(description="the application's public name, e.g. ratings.contoso.com")
    dns_relative_name: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="the profile's name under trafficmanager.net"
    )
    dns_ttl_seconds: int = Field(default=30, ge=TTL_RANGE[0], le=TTL_RANGE[1])
    routing_method: RoutingMethod = "Performance"
    hubs: list[HubEntry] = Field(min_length=1, max_length=MAX_ENDPOINTS, description="the hub stacks behind it")
    monitor_protocol: Literal["HTTPS", "HTTP"] = "HTTPS"
    monitor_port: int = Field(default=443, ge=1, le=65535)
    monitor_path: str = Field(default="/", pattern=r"^/[^\s]{0,999}$")
    monitor_interval_seconds: ProbeInterval = 30
    monitor_timeout_seconds: int = Field(default=10, ge=5, le=10)
    monitor_tolerated_failures: int = Field(default=3, ge=TOLERATED_FAILURES_RANGE[0], le=TOLERATED_FAILURES_RANGE[1])
    monitor_expected_status_ranges: list[StatusRange] = Field(
        default_factory=lambda: ["200-299"], min_length=1, max_length=MAX_STATUS_RANGES
    )
    shared_stack: StackName | None = None
    use_shared_dns_zone: bool = False
    tags: dict[str, str] = Field(default_factory=dict, description="tags put on every global resource")

    def cross_checks(self) -> list[Problem]:
        """Probe timing, unique hubs, and what the routing method needs from every hub."""
        problems: list[Problem] = []
        low, high = TIMEOUT_RANGE[self.monitor_interval_seconds]
        if not low <= self.monitor_timeout_seconds <= high:
            problems.append(
                Problem(
                    "monitorTimeoutSeconds",
                    str(self.monitor_timeout_seconds),
                    f"must be {low}-{high} when monitorIntervalSeconds is {self.monitor_interval_seconds}",
                )
            )
        problems += self._unique("stack", lambda h: h.stack_short_name, "names the same stack as")
        priorities = [h.priority for h in self.hubs]
        if self.routing_method == "Priority" or any(p is not None for p in priorities):
            # Azure: a priority set on one endpoint must be set on all of them.
            why = (
                "is required with Priority routing"
                if self.routing_method == "Priority"
                else ("must be set on every hub once one hub sets it")
            )
            problems += [
                Problem(f"hubs[{i}].priority", "(not set)", why) for i, p in enumerate(priorities) if p is None
            ]
        problems += self._unique("priority", lambda h: h.priority, "has the same priority as")
        if self.routing_method == "Performance":
            problems += [
                Problem(
                    f"hubs[{i}].endpointLocation",
                    "(not set)",
                    "is required with Performance routing: the Azure region nearest the hub, e.g. 'West US 2'",
                )
                for i, h in enumerate(self.hubs)
                if h.endpoint_location is None
            ]
        if self.routing_method == "Geographic":
            problems += [
                Problem(f"hubs[{i}].geoMapping", "[]", "is required with Geographic routing, e.g. ['US', 'CA']")
                for i, h in enumerate(self.hubs)
                if not h.geo_mapping
            ]
            owner: dict[str, int] = {}
            for i, hub in enumerate(self.hubs):
                for code in hub.geo_mapping:
                    if code in owner:
                        problems.append(
                            Problem(f"hubs[{i}].geoMapping", repr(code), f"is already mapped to hubs[{owner[code]}]")
                        )
                    owner.setdefault(code, i)
        problems += self._probe_port_problems()
        problems += tag_problems(self.tags, system=GLOBAL_SYSTEM_TAGS, max_tags=PUBLIC_AZURE_MAX_TAGS)
        if self.use_shared_dns_zone and self.shared_stack is None:
            problems.append(
                Problem("sharedStack", "(not set)", "is required when useSharedDnsZone is true: the zone lives there")
            )
        return problems

    def _probe_port_problems(self) -> list[Problem]:
        """A probe speaking one protocol on the other's well-known port fails on every hub, so every hub is down."""
        for protocol, port in PROTOCOL_PORTS.items():
            if self.monitor_port == port and self.monitor_protocol != protocol:
                return [
                    Problem(
                        "monitorPort",
                        str(self.monitor_port),
                        f"is the {protocol} port but monitorProtocol is {self.monitor_protocol}: the ingress answers "
                        f"{protocol} there, so every probe would fail and Traffic Manager would take every hub out; "
                        f"use port {PROTOCOL_PORTS[self.monitor_protocol]} or protocol {protocol}",
                    )
                ]
        return []

    def _unique(self, key: str, value: Any, relation: str) -> list[Problem]:
        seen: dict[Any, int] = {}
        problems = []
        for i, hub in enumerate(self.hubs):
            current = value(hub)
            if current is None:
                continue
            if current in seen:
                problems.append(Problem(f"hubs[{i}].{key}", repr(current), f"{relation} hubs[{seen[current]}]"))
            seen.setdefault(current, i)
        return problems

    def probe(self) -> HealthProbe:
        """The health probe as the component takes it."""
        ranges = [tuple(int(code) for code in r.split("-")) for r in self.monitor_expected_status_ranges]
        return HealthProbe(
            host=self.app_hostname,
            protocol=self.monitor_protocol,
            port=self.monitor_port,
            path=self.monitor_path,
            interval_seconds=self.monitor_interval_seconds,
            timeout_seconds=self.monitor_timeout_seconds,
            tolerated_failures=self.monitor_tolerated_failures,
            expected_status_ranges=[(low, high) for low, high in ranges],
        )


def hub_problems(config: GlobalConfig, hubs: list[HubOutputs]) -> list[Problem]:
    """Rules between the hubs' exported outputs: unique hub names, no overlap between hubs that replicate over VPN.

    `hubs` is in the order of `config.hubs`.
    """
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, (entry, hub) in enumerate(zip(config.hubs, hubs, strict=True)):
        if hub.hub_name in first:
            problems.append(
                Problem(
                    f"hubs[{i}].stack",
                    repr(entry.stack),
                    f"exports hubName '{hub.hub_name}', already exported by {config.hubs[first[hub.hub_name]].stack}",
                )
            )
        first.setdefault(hub.hub_name, i)
        if hub.shared_hostname != config.app_hostname:
            # The probe's host header and the users' requests would match no ingress rule on that hub.
            problems.append(
                Problem(
                    f"hubs[{i}].stack",
                    repr(entry.stack),
                    f"serves sharedHostname '{hub.shared_hostname}', not appHostname '{config.app_hostname}'",
                )
            )
    if problems:
        return problems
    replicating = {
        hub.hub_name: hub.address_spaces
        for entry, hub in zip(config.hubs, hubs, strict=True)
        if entry.replicates_over_vpn
    }
    index = {hub.hub_name: i for i, hub in enumerate(hubs)}
    for overlap in overlaps(replicating):
        # Reported on the hub listed later: the one most likely just added.
        (i, name, cidr), (j, other, other_cidr) = sorted(
            [
                (index[overlap.hub_a], overlap.hub_a, overlap.cidr_a),
                (index[overlap.hub_b], overlap.hub_b, overlap.cidr_b),
            ],
            reverse=True,
        )
        problems.append(
            Problem(
                f"hubs[{i}].stack",
                repr(config.hubs[i].stack),
                f"address space {cidr} of hub {name} overlaps {other_cidr} of hub {other} (hubs[{j}]): hubs that "
                f"replicate over VPN need distinct address spaces (change one hub's vnetCidr, or set "
                f"hubs[{i}].replicatesOverVpn to false if the hub never joins the VPN)",
            )
        )
    return problems


def program(stack: str) -> None:
    """The global stack's program: validated config -> referenced stacks' outputs -> profile -> contract."""
    config = load(GlobalConfig, stack)
    hub_refs = [pulumi.StackReference(entry.stack) for entry in config.hubs]
    shared_ref = (
        pulumi.StackReference(config.shared_stack)
        if config.use_shared_dns_zone and config.shared_stack is not None
        else None
    )

    async def build() -> None:
        # Every referenced output is read and checked before anything depends on it.
        problems: list[Problem] = []
        hubs: list[HubOutputs] = []
        for i, (entry, ref) in enumerate(zip(config.hubs, hub_refs, strict=True)):
            try:
                hubs.append(await HubOutputs.read(ref, stack=entry.stack, key=f"hubs[{i}].stack", reader=stack))
            except StackOutputError as error:
                problems += error.problems
        zone: SharedDnsZoneOutputs | None = None
        if shared_ref is not None and config.shared_stack is not None:
            try:
                zone = await SharedDnsZoneOutputs.read(
                    shared_ref, stack=config.shared_stack, key="sharedStack", reader=stack
                )
            except StackOutputError as error:
                problems += error.problems
        if not problems:
            problems += hub_problems(config, hubs)
        cname = None
        if zone is not None:
            cname, zone_problems = _cname(config, zone)
            problems += zone_problems
        if problems:
            raise StackOutputError(stack, problems)
        _declare(config, hubs, cname)

    pulumi.run(build)


def _cname(config: GlobalConfig, zone: SharedDnsZoneOutputs) -> tuple[CnameRecord | None, list[Problem]]:
    suffix = f".{zone.dns_zone_name}"
    if not config.app_hostname.endswith(suffix):
        # A CNAME cannot live at the zone apex, and a name outside the zone cannot be published in it.
        return None, [
            Problem(
                "appHostname",
                repr(config.app_hostname),
                f"must be a name inside the shared DNS zone {zone.dns_zone_name} (not the zone itself) "
                "when useSharedDnsZone is true",
            )
        ]
    record = CnameRecord(
        zone_name=zone.dns_zone_name,
        zone_resource_group=zone.dns_zone_resource_group,
        record_name=config.app_hostname.removesuffix(suffix),
    )
    return record, []


def _declare(config: GlobalConfig, hubs: list[HubOutputs], cname: CnameRecord | None) -> None:
    tags = {"managed-by": "pulumi", "role": "global", **config.tags}
    group = resources.ResourceGroup(
        "global-rg",
        resources.ResourceGroupArgs(resource_group_name=config.resource_group, location=config.location, tags=tags),
        opts=pulumi.ResourceOptions(protect=True),
    )
    traffic_manager = GlobalTrafficManager(
        "traffic",
        GlobalTrafficManagerArgs(
            resource_group_name=group.name,
            profile_name=config.dns_relative_name,
            dns_relative_name=config.dns_relative_name,
            dns_ttl_seconds=config.dns_ttl_seconds,
            routing_method=config.routing_method,
            endpoints=[
                HubEndpoint(
                    name=hub.hub_name,
                    target=hub.ingress_ip if entry.target == "ip" else hub.ingress_fqdn,
                    endpoint_location=entry.endpoint_location,
                    priority=entry.priority,
                    weight=entry.weight,
                    geo_mapping=entry.geo_mapping,
                )
                for entry, hub in zip(config.hubs, hubs, strict=True)
            ],
            probe=config.probe(),
            cname=cname,
            tags=tags,
        ),
    )
    for key, value in global_exports(traffic_manager=traffic_manager, app_hostname=config.app_hostname).items():
        pulumi.export(key, value)
