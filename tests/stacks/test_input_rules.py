"""The plain rules the stack config and the components share (planning/, stacks.config), tested without Pulumi,
and the few things the rules promise about the program: what a config accepts, the component accepts."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from planning.cluster import (
    DATABASE_MEMBERS,
    database_volume_problem,
    min_workers,
    worker_count_problem,
    worker_size_problem,
)
from planning.names import (
    chart_registry_problem,
    hostname_problem,
    image_reference_problem,
    image_tag_problem,
    registry_problem,
)
from planning.network import admin_cidr_problem, admin_cidrs_problem, service_range_problem
from planning.reboot import reboot_window_problems, window_minutes
from planning.regions import AZURE_REGIONS, endpoint_location_problem, region_name_problem
from policy.stackhub_policies.hub_facts import MIN_WORKERS, ROLE_MINIMUMS, VM_SIZES
from stacks.config import tag_problems
from stacks.hub import HUB_SYSTEM_TAGS
from stacks.shared import sas_expiry_problem
from tests.conftest import config_of, run_with
from workloads.issuers import PRIVATE_CA_ISSUER, SELF_SIGNED_ISSUER
from workloads.ratings import MEMBER_RESOURCES, MONGOD_RESOURCES
from workloads.sizing import VM_SIZES as SIZING_SIZES
from workloads.sizing import VmSize, schedulable_per_worker

# --- host names, images, registries -------------------------------------------------------------------------

GOOD_HOSTS = ["app.contoso.com", "hub-seattle-ingress.seattle.cloudapp.azurestack.contoso.com", "a.b.local"]
BAD_HOSTS = ["app", "App.contoso.com", "app.contoso.l0cal", "app_x.contoso.com", "-a.contoso.com", "1.2.3.4",
             "a." * 127 + "com", "x" * 64 + ".com"]  # fmt: skip


@pytest.mark.parametrize("name", GOOD_HOSTS)
def test_a_dns_name_the_ingress_takes_is_accepted(name: str) -> None:
    assert hostname_problem(name) is None


@pytest.mark.parametrize("name", BAD_HOSTS, ids=lambda n: n[:30])
def test_a_name_the_ingress_would_refuse_is_refused(name: str) -> None:
    assert hostname_problem(name) is not None


GOOD_IMAGES = ["mongo:8.0.17", "library/mongo:8.0.17", "registry.contoso.local:5000/mongo:8.0.17",
               "localhost/mongo:8", "python:3.12.8-slim", "mongo@sha256:" + "a" * 64,
               "mongo:8.0.17@sha256:" + "b" * 64]  # fmt: skip
BAD_IMAGES = {
    "mongo": "image has no tag",
    "mongo:latest": "image tag latest is not pinned",
    "mongo:latest@sha256:" + "c" * 64: "image tag latest is not pinned",
    "Mongo:8": "lowercase name",
    "registry.local:0/mongo:8": "image registry port 0 is outside 1-65535",
    "registry.local/:8": "image reference must be",
    "mongo@sha256:abc": "image reference must be",
}


@pytest.mark.parametrize("reference", GOOD_IMAGES, ids=lambda r: r[:40])
def test_a_pinned_image_reference_is_accepted(reference: str) -> None:
    assert image_reference_problem(reference) is None


@pytest.mark.parametrize(("reference", "why"), BAD_IMAGES.items(), ids=lambda r: str(r)[:40])
def test_an_unpinned_or_malformed_image_reference_is_refused(reference: str, why: str) -> None:
    assert why in (image_reference_problem(reference) or "")


def test_an_image_tag_may_carry_its_digest_but_never_be_latest() -> None:
    assert image_tag_problem("v1") is None
    assert image_tag_problem("v1@sha256:" + "d" * 64) is None
    assert "not latest" in (image_tag_problem("latest") or "")
    assert "@sha256:<64 hex digits>" in (image_tag_problem(".v1") or "")


def test_registries_take_a_port_and_a_path_but_no_scheme_and_charts_no_trailing_helm() -> None:
    assert registry_problem("registry.contoso.local:5000/mirror") is None
    assert "without a scheme" in (registry_problem("https://registry.contoso.local") or "")
    assert "port 70000" in (registry_problem("registry.contoso.local:70000") or "")
    assert chart_registry_problem("oci://registry.contoso.local:5000/mirror/") is None
    assert "must not end in /helm" in (chart_registry_problem("registry.contoso.local/mirror/helm") or "")
    # A registry whose host is called helm is not a doubled path.
    assert chart_registry_problem("helm") is None


# --- the reboot window ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "minutes"), [("02:00", "05:00", 181), ("22:00", "04:00", 361), ("23:30", "00:29", 60)]
)
def test_a_window_past_midnight_is_measured_as_kured_reads_it(start: str, end: str, minutes: int) -> None:
    assert window_minutes(start, end) == minutes
    assert reboot_window_problems(start, end, "Europe/Berlin", ("sa", "su")) == []


@pytest.mark.parametrize(
    ("window", "field", "why"),
    [
        (("03:00", "03:00", "UTC", ("mo",)), "endTime", "equals startTime (03:00)"),
        (("23:30", "00:28", "UTC", ("mo",)), "endTime", "leaves a 59-minute window"),
        (("02:00", "05:00", "Mars/Olympus_Mons", ("mo",)), "timeZone", "must be an IANA time zone that exists"),
        (("02:00", "05:00", "UTC", ()), "days", "must be a non-empty list"),
        (("02:00", "05:00", "UTC", ("mo", "xx")), "days", "must be a non-empty list"),
        (("02:00", "05:00", "UTC", ("mo", "mo")), "days", "lists a day more than once"),
        (("24:00", "05:00", "UTC", ("mo",)), "startTime", "must be a time of day HH:MM"),
    ],
)
def test_a_window_kured_would_misread_is_refused(window: tuple[Any, ...], field: str, why: str) -> None:
    problems = reboot_window_problems(*window)
    assert [f for f, _ in problems] == [field]
    assert why in problems[0][1]


# --- networks, regions, tags, dates ---------------------------------------------------------------------------


def test_admin_networks_are_refused_alone_when_wide_and_public_and_together_when_they_cover_everything() -> None:
    assert admin_cidr_problem("10.0.0.0/8") is None
    assert admin_cidr_problem("203.0.113.0/24") is None
    assert "at most a /8" in (admin_cidr_problem("100.0.0.0/6") or "")
    assert admin_cidrs_problem(["10.0.0.0/8", "192.168.0.0/16"]) is None
    halves = ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]
    assert "together cover every IPv4 address" in (admin_cidrs_problem(halves) or "")


@pytest.mark.parametrize(("vnet", "overlaps"), [("10.10.0.0/16", False), ("10.0.0.0/8", True),
                                                ("10.0.128.0/24", True), ("172.16.0.0/12", False)])  # fmt: skip
def test_a_vnet_may_not_overlap_the_service_range(vnet: str, overlaps: bool) -> None:
    assert (service_range_problem(vnet) is not None) is overlaps


def test_regions_are_public_azure_regions_by_name_or_for_endpoints_by_display_name() -> None:
    assert region_name_problem("westus2") is None
    assert region_name_problem("West US 2") == "must be the region's name, not its display name: 'westus2'"
    assert region_name_problem("usgovvirginia") is not None
    assert endpoint_location_problem("West Central US") is None
    assert endpoint_location_problem("westcentralus") is None
    assert endpoint_location_problem("West Central") is not None
    assert all(name.isalnum() and name.islower() for name in AZURE_REGIONS)


def test_tags_are_checked_as_resource_manager_reads_them() -> None:
    assert tag_problems({"environment": "production"}, system=HUB_SYSTEM_TAGS, max_tags=15) == []
    problems = [str(p) for p in tag_problems({"a?b": "x", "Managed-By": "y", "": "z", "k" * 13: "v" * 257},
                                            system=HUB_SYSTEM_TAGS, max_tags=15, name_max=12)]  # fmt: skip
    assert problems == [
        "stackhub-ha:tags.a?b = 'x': tag name contains ?, which Resource Manager refuses in tag names (< > % & \\ ? /)",
        "stackhub-ha:tags.Managed-By = 'y': would override the tag 'managed-by' the program sets (tag names ignore "
        "case); use another name",
        "stackhub-ha:tags = '': is an empty tag name",
        "stackhub-ha:tags = 'kkkkkkkkkkkkk...': tag name of 13 characters; at most 12",
        "stackhub-ha:tags.kkkkkkkkkkkkk = 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv...': tag value of 257 characters; "
        "at most 256",
    ]


def test_the_backup_sas_must_expire_after_today() -> None:
    today = datetime.date(2026, 12, 1)
    assert sas_expiry_problem("2026-12-02", today) is None
    assert "is not after today (2026-12-01, UTC)" in (sas_expiry_problem("2026-12-01", today) or "")


# --- sizes, workers, volumes ----------------------------------------------------------------------------------


def test_the_fewest_workers_is_one_per_database_member_and_never_fewer_than_the_patterns() -> None:
    assert min_workers() == max(MIN_WORKERS, DATABASE_MEMBERS) == 3
    assert worker_count_problem(3) is None
    assert "must be at least 3" in (worker_count_problem(2) or "")


@pytest.mark.parametrize("size", sorted(VM_SIZES))
def test_every_hub_size_is_either_accepted_for_workers_or_refused_with_a_reason_never_an_exception(size: str) -> None:
    problem = worker_size_problem(size, 3, log_shipping=True)
    offered = VM_SIZES[size]
    vcpus, memory = ROLE_MINIMUMS["agent"]
    if offered.vcpus < vcpus or offered.memory_gib < memory:
        assert problem is not None
        assert problem.startswith(f"has {offered.vcpus} vCPU")
    elif size in SIZING_SIZES:
        assert problem is None
    else:
        # Big enough, but the application's sizing has no figures for it: refused as the component would refuse it.
        assert problem is not None
        assert problem.startswith(f"cannot be sized for the application: unknown worker VM size '{size}'")


def test_the_worker_minimums_reason_quotes_the_sizings_own_figures() -> None:
    member_limit = MONGOD_RESOURCES.limits + MEMBER_RESOURCES.limits
    assert (member_limit.cpu_millicores, member_limit.memory_mib) == (1200, 1280)
    assert MONGOD_RESOURCES.limits.cpu_millicores == 1000
    assert schedulable_per_worker(VmSize("4 GiB", 2, 4)).memory_mib == 1922
    assert schedulable_per_worker(VmSize("7 GiB", 2, 7)).memory_mib == 4379
    assert 1922 - member_limit.memory_mib == 642


@pytest.mark.parametrize(("size", "refused"), [("16Gi", False), ("1023Gi", False), ("1024Gi", True), ("lots", True)])
def test_a_database_volume_fits_one_hub_managed_disk(size: str, refused: bool) -> None:
    assert (database_volume_problem(size) is not None) is refused


# --- what the program does with the keys the rules guard ------------------------------------------------------


def test_the_program_sets_exactly_the_system_tags_the_config_keeps_free() -> None:
    run = run_with("hub-denver", config_of("hub-denver"))
    (vnet,) = [r for r in run.arm() if r.name == "hub-denver-vnet"]
    user = config_of("hub-denver")["tags"]
    assert set(vnet.plain_inputs["tags"]) - set(user) == set(HUB_SYSTEM_TAGS)


def test_bootstrap_private_ca_false_leaves_the_ca_to_the_operator() -> None:
    def objects(run: Any) -> set[tuple[str, str]]:
        kinds = ("ClusterIssuer", "Certificate")
        found = [(kind, r) for kind in kinds for r in run.by_type(f"kubernetes:cert-manager.io/v1:{kind}")]
        return {(kind, r.plain_inputs["metadata"]["name"]) for kind, r in found}

    bootstrapped = objects(run_with("hub-denver", config_of("hub-denver")))
    operators = objects(run_with("hub-denver", config_of("hub-denver", bootstrapPrivateCa=False)))
    # The CA issuer stays (it signs with the Secret the operator provides); what made the CA is gone.
    assert ("ClusterIssuer", PRIVATE_CA_ISSUER) in operators
    assert bootstrapped - operators == {("ClusterIssuer", SELF_SIGNED_ISSUER), ("Certificate", PRIVATE_CA_ISSUER)}
