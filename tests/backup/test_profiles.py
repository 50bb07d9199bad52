"""The storage profiles: what each kind of storage accepts, and the checks that hold the settings and pods to it."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from planning.egress import EgressProxy, effective_no_proxy
from tests.backup.azurite import service_sas
from workloads.backup.jobs import storage_through_proxy
from workloads.backup.pod.blob import MAX_BLOCKS, ContainerSas, plan_block_size
from workloads.backup.pod.profiles import AZURE, AZURE_STACK_HUB, MIB, PROFILES, storage_profile
from workloads.backup.settings import (
    check_block_mib,
    check_container_url,
    check_hub_sas,
    check_storage_profile,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
AZURE_URL = "https://stackhubbackups.blob.core.windows.net/hub-backups"
HUB_URL = "https://denverbackups.blob.denver.azs.contoso.com/ratings-backups"


def hub_sas(version: str, permissions: str = "rcwl") -> str:
    return service_sas("ratings-backups", permissions, version=version, protocol="https")


def test_the_two_profiles() -> None:
    assert set(PROFILES) == {"azure", "azurestack"}
    assert (AZURE.service_version, AZURE.max_block_bytes, AZURE.immutable) == ("2019-12-12", 4000 * MIB, True)
    hub = AZURE_STACK_HUB
    assert (hub.service_version, hub.newest_sas_version, hub.max_block_bytes) == ("2019-07-07", "2019-07-07", 100 * MIB)
    assert hub.immutable is False
    assert storage_profile("azurestack") is hub
    with pytest.raises(ValueError, match="storage profile 'azure-stack': must be 'azure' or 'azurestack'"):
        check_storage_profile("azure-stack")


@pytest.mark.parametrize(
    ("profile", "version", "accepted"),
    [
        ("azure", "2019-12-12", True),
        ("azure", "2022-11-02", True),
        ("azure", "2019-07-07", False),
        ("azurestack", "2019-07-07", True),
        ("azurestack", "2017-11-09", True),  # what `az` signs under the 2019-03-01-hybrid profile
        ("azurestack", "2015-04-05", True),
        ("azurestack", "2014-02-14", False),  # no `spr` yet
        ("azurestack", "2019-12-12", False),
        ("azurestack", "2023-08-03", False),
        ("azurestack", "", False),
    ],
)
def test_sas_versions_each_storage_accepts(profile: str, version: str, accepted: bool) -> None:
    assert (storage_profile(profile).sas_version_problem(version) is None) is accepted


def test_a_sas_newer_than_the_hub_is_refused_naming_the_range_and_the_way_out() -> None:
    assert check_hub_sas(HUB_URL, hub_sas("2019-07-07"), NOW, profile="azurestack") > NOW
    with pytest.raises(ValueError, match="backup SAS: ") as caught:
        check_hub_sas(HUB_URL, hub_sas("2019-12-12"), NOW, profile="azurestack")
    assert str(caught.value) == (
        "backup SAS: service version sv=2019-12-12 is newer than an Azure Stack Hub accepts (2015-04-05 to "
        "2019-07-07): issue it at a version the hub knows, e.g. with the Azure CLI under the hub's API profile "
        "(`az cloud update --profile 2020-09-01-hybrid` signs at 2019-07-07)"
    )
    # The same SAS is right for Azure, and the hub's is too old for it.
    assert check_hub_sas(AZURE_URL, hub_sas("2019-12-12"), NOW) > NOW
    with pytest.raises(ValueError, match=r"sv=2019-07-07 is older than 2019-12-12, the oldest used with Azure"):
        check_hub_sas(AZURE_URL, hub_sas("2019-07-07"), NOW)
    # Every other rule still holds on a hub, and is reported with the version in one message.
    with pytest.raises(ValueError, match=r"newer than .*; permissions sp=rcwld allow deletion"):
        check_hub_sas(HUB_URL, hub_sas("2020-02-10", "rcwld"), NOW, profile="azurestack")


def test_the_pods_check_the_version_against_their_profile() -> None:
    token = f"{HUB_URL}?{hub_sas('2019-12-12')}"
    assert ContainerSas.parse(token).problems("cwl") == []
    assert ContainerSas.parse(token).problems("cwl", AZURE_STACK_HUB) == [
        "the SAS's service version sv=2019-12-12 is newer than an Azure Stack Hub accepts (2015-04-05 to "
        "2019-07-07): issue it at a version the hub knows, e.g. with the Azure CLI under the hub's API profile "
        "(`az cloud update --profile 2020-09-01-hybrid` signs at 2019-07-07)"
    ]


def test_block_sizes_stay_within_the_profile() -> None:
    assert check_block_mib(4000) == 4000
    assert check_block_mib(100, "azurestack") == 100
    with pytest.raises(ValueError, match=r"backup block size 101 MiB: 1 to 100 \(storage profile azurestack\)"):
        check_block_mib(101, "azurestack")
    hub = AZURE_STACK_HUB
    assert plan_block_size(10 * MIB, 8 * MIB, hub) == 8 * MIB
    assert plan_block_size(MAX_BLOCKS * 8 * MIB + 1, 8 * MIB, hub) == 9 * MIB
    assert plan_block_size(MAX_BLOCKS * 100 * MIB, 8 * MIB, hub) == 100 * MIB
    with pytest.raises(ValueError, match=r"do not fit in 50000 blocks of at most 104857600 bytes \(an Azure Stack"):
        plan_block_size(MAX_BLOCKS * 100 * MIB + 1, 8 * MIB, hub)
    with pytest.raises(ValueError, match=r"larger than an Azure Stack Hub takes at service version 2019-07-07"):
        plan_block_size(10 * MIB, 101 * MIB, hub)
    # Azure takes the archive a hub cannot.
    assert plan_block_size(MAX_BLOCKS * 100 * MIB + 1, 8 * MIB) == 101 * MIB


@pytest.mark.parametrize(
    ("url", "profile", "message"),
    [
        ("http://denverbackups.blob.denver.azs.contoso.com/b", "azurestack", "must be https://"),
        (f"{HUB_URL}?sv=2019-07-07&sig=x", "azurestack", "must not carry a query or a SAS"),
        ("https://denverbackups.blob.denver.azs.contoso.com/", "azurestack", "one container name"),
        ("https://denverbackups.blob.denver.azs.contoso.com/a/b", "azurestack", "one container name"),
        ("https://denverbackups.blob.denver.azs.contoso.com/Backups", "azurestack", "one container name"),
        ("https://denverbackups.blob.denver.azs.contoso.com/bad--name", "azurestack", "one container name"),
        (AZURE_URL, "azurestack", "is an Azure storage account, not a hub's: its storage profile is 'azure'"),
    ],
)
def test_container_urls(url: str, profile: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_container_url(url, profile)


def test_good_container_urls_are_normalized() -> None:
    assert check_container_url(HUB_URL + "/", "azurestack") == HUB_URL
    assert check_container_url(AZURE_URL) == AZURE_URL


NO_PROXY = effective_no_proxy(
    service_cidr="10.0.0.0/16",
    vnet_cidr="10.20.0.0/16",
    api_server_fqdn="hub-denver.denver.cloudapp.azs.contoso.com",
    arm_endpoint="https://management.denver.azs.contoso.com",
    storage_suffix="denver.azs.contoso.com",
    extra=("mirror.contoso.com", ".corp.contoso.com", "10.99.0.0/16"),
)
HOSTS = [
    "denverbackups.blob.denver.azs.contoso.com",
    "stackhubbackups.blob.core.windows.net",
    "mirror.contoso.com",
    "evilmirror.contoso.com",
    "x.mirror.contoso.com",
    "corp.contoso.com",
    "store.corp.contoso.com",
    "10.99.0.5",
    "10.0.0.10",
    "localhost",
]


@pytest.mark.parametrize("host", HOSTS)
def test_the_route_to_the_storage_is_urllibs_own_decision(host: str) -> None:
    bypass = cast(Callable[..., Any], getattr(urllib.request, "proxy_bypass_environment"))  # noqa: B009 (untyped)
    proxy = EgressProxy("http://10.20.8.4:3128")
    expected = not bypass(host, {"no": ",".join(NO_PROXY)})
    assert storage_through_proxy(f"https://{host}/backups", proxy, NO_PROXY) is expected


def test_a_hubs_own_storage_is_reached_directly_and_azure_through_the_proxy() -> None:
    proxy = EgressProxy("http://10.20.8.4:3128")
    assert storage_through_proxy(HUB_URL, proxy, NO_PROXY) is False
    assert storage_through_proxy(AZURE_URL, proxy, NO_PROXY) is True
    assert storage_through_proxy(AZURE_URL, None, NO_PROXY) is False
