"""The dynamic provider against a fake hub over HTTPS, called the way Pulumi's dynamic-provider host does."""

from __future__ import annotations

import base64
import ipaddress
import time
from collections.abc import Iterator
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from arm.api_versions import api_version_for, resource_type_of
from arm.connection import DEFAULT_RETRY, HubConnection, RetrySettings
from arm.errors import ArmError
from arm.resource import ArmResourceProvider
from tests.fakes.fake_arm import TEST_NET, FakeArm, IdentitySystem

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/hub-rg"
PIP = f"{RG}/providers/Microsoft.Network/publicIPAddresses/ingress"
VNET = f"{RG}/providers/Microsoft.Network/virtualNetworks/cluster"
SUBNET = f"{VNET}/subnets/nodes"
LB = f"{RG}/providers/Microsoft.Network/loadBalancers/edge"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    with FakeArm(identity_system="adfs") as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_path)
        yield fake


@pytest.fixture
def provider() -> ArmResourceProvider:
    return ArmResourceProvider(polling_interval=0.01)


def props(hub: FakeArm, resource_id: str, **declared: Any) -> dict[str, Any]:
    """Inputs as ArmResource declares them (the version from the table, never chosen by the caller)."""
    connection = HubConnection(hub.base_url, hub.tenant_id, SUB, hub.client_id, hub.identity_system)
    return {
        "resource_id": resource_id,
        "api_version": api_version_for(resource_type_of(resource_id)),
        "connection": connection.to_inputs(),
        "client_secret": hub.client_secret,
        **declared,
    }


def create_group(hub: FakeArm, provider: ArmResourceProvider) -> None:
    provider.create(props(hub, RG, location="local"))


def public_ip(hub: FakeArm, **changes: Any) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "location": "local",
        "sku": {"name": "Basic"},
        "tags": {"role": "ingress"},
        "properties": {"publicIPAllocationMethod": "Static"},
    }
    return props(hub, PIP, **{**declared, **changes})


@pytest.mark.parametrize("identity_system", ["azure_ad", "adfs"])
def test_create_waits_for_the_operation_and_returns_computed_values(
    identity_system: IdentitySystem, provider: ArmResourceProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeArm(identity_system=identity_system) as hub:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", hub.ca_path)
        create_group(hub, provider)

        result = provider.create(public_ip(hub))

        server = hub.resource(PIP)
        assert server is not None
        assert result.id == PIP
        assert result.outs is not None
        # Computed values live under a key that is never an input (unknown in a real preview); `properties` is
        # the declaration, as the input of that name is.
        assert ipaddress.ip_address(result.outs["server_properties"]["ipAddress"]) in TEST_NET
        assert result.outs["server_properties"] == server["properties"]
        assert result.outs["server_properties"]["provisioningState"] == "Succeeded"
        assert result.outs["properties"] == {"publicIPAllocationMethod": "Static"}
        assert result.outs["desired_properties"] == {"publicIPAllocationMethod": "Static"}
        assert result.outs["etag"] == server["etag"]
        assert result.outs["client_secret"] == hub.client_secret

        puts = hub.arm_requests("PUT")
        assert [(r.path, r.api_version) for r in puts] == [(RG, "2019-10-01"), (PIP, "2018-11-01")]
        assert puts[1].body == {
            "location": "local",
            "tags": {"role": "ingress"},
            "sku": {"name": "Basic"},
            "properties": {"publicIPAllocationMethod": "Static"},
        }
        assert puts[1].status == 201
        polls = [r.response["status"] for r in hub.requests if "/operations/" in r.path]
        assert polls == ["InProgress", "InProgress", "Succeeded"]


def test_read_returns_the_server_state_and_an_empty_id_once_gone(hub: FakeArm, provider: ArmResourceProvider) -> None:
    create_group(hub, provider)
    outs = provider.create(public_ip(hub)).outs
    assert outs is not None

    read = provider.read(PIP, outs)
    assert read.id == PIP
    assert read.outs == outs
    assert hub.arm_requests("GET")[-1].api_version == "2018-11-01"

    provider.delete(PIP, outs)
    gone = provider.read(PIP, outs)
    assert (gone.id, gone.outs) == ("", {})


def test_update_puts_the_new_declaration_in_place(hub: FakeArm, provider: ArmResourceProvider) -> None:
    create_group(hub, provider)
    olds = provider.create(public_ip(hub)).outs
    assert olds is not None
    news = public_ip(hub, tags={"role": "ingress", "cost-center": "k8s"})
    puts_before = len(hub.arm_requests("PUT"))

    result = provider.update(PIP, olds, news)

    puts = hub.arm_requests("PUT")[puts_before:]
    assert [(r.path, r.api_version, r.status) for r in puts] == [(PIP, "2018-11-01", 200)]
    assert puts[0].body["tags"] == {"role": "ingress", "cost-center": "k8s"}
    server = hub.resource(PIP)
    assert server is not None
    assert server["tags"] == {"role": "ingress", "cost-center": "k8s"}
    assert result.outs is not None
    assert result.outs["server_properties"]["ipAddress"] == olds["server_properties"]["ipAddress"]
    assert result.outs["etag"] == server["etag"] != olds["etag"]


def test_updating_a_vnet_keeps_subnets_managed_as_their_own_resources(
    hub: FakeArm, provider: ArmResourceProvider
) -> None:
    create_group(hub, provider)
    vnet = props(hub, VNET, location="local", properties={"addressSpace": {"addressPrefixes": ["10.240.0.0/16"]}})
    olds = provider.create(vnet).outs
    assert olds is not None
    provider.create(props(hub, SUBNET, properties={"addressPrefix": "10.240.0.0/24"}))

    provider.update(VNET, olds, {**vnet, "tags": {"cluster": "a"}})

    assert hub.resource(SUBNET) is not None
    subnets = hub.arm_requests("PUT")[-1].body["properties"]["subnets"]
    assert [subnet["name"] for subnet in subnets] == ["nodes"]


def test_a_subnet_needs_its_vnet(hub: FakeArm, provider: ArmResourceProvider) -> None:
    create_group(hub, provider)
    with pytest.raises(ArmError, match="ParentResourceNotFound"):
        provider.create(props(hub, SUBNET, properties={"addressPrefix": "10.240.0.0/24"}))


def test_a_location_change_is_a_replacement_because_arm_refuses_it_in_place(
    hub: FakeArm, provider: ArmResourceProvider
) -> None:
    create_group(hub, provider)
    olds = provider.create(public_ip(hub)).outs
    assert olds is not None
    news = public_ip(hub, location="otherregion")

    decision = provider.diff(PIP, olds, news)
    assert (decision.replaces, decision.delete_before_replace) == (["location"], True)

    # Had it been sent as an update, the hub would have refused it.
    with pytest.raises(ArmError, match="InvalidResourceLocation") as raised:
        provider.update(PIP, olds, news)
    assert raised.value.status_code == 400


def test_delete_waits_until_gone_and_tolerates_a_missing_resource(hub: FakeArm, provider: ArmResourceProvider) -> None:
    create_group(hub, provider)
    outs = provider.create(public_ip(hub)).outs
    assert outs is not None

    provider.delete(PIP, outs)

    assert hub.resource(PIP) is None
    deletes = hub.arm_requests("DELETE")
    assert [(r.path, r.api_version, r.status) for r in deletes] == [(PIP, "2018-11-01", 202)]
    assert [r.status for r in hub.requests if "/operationResults/" in r.path] == [202, 202, 204]

    provider.delete(PIP, outs)
    assert hub.arm_requests("DELETE")[-1].status == 404


def test_an_api_version_the_hub_does_not_serve_names_the_profile(hub: FakeArm, provider: ArmResourceProvider) -> None:
    create_group(hub, provider)
    declared = props(hub, LB, location="local", sku={"name": "Basic"}, properties={})
    declared["api_version"] = "2024-07-01"  # what a modern SDK would send

    with pytest.raises(ArmError) as raised:
        provider.create(declared)

    error = raised.value
    assert error.code == "NoRegisteredProviderFound"
    assert (error.status_code, error.api_version, error.resource_id) == (400, "2024-07-01", LB)
    message = str(error)
    assert "API version '2024-07-01' for type 'loadBalancers'" in message
    assert "profile 2020-09-01-hybrid" in message
    assert "uses 2018-11-01 for Microsoft.Network/loadBalancers" in message
    assert [(r.api_version, r.status) for r in hub.arm_requests("PUT")][-1] == ("2024-07-01", 400)


def test_throttling_is_waited_out(hub: FakeArm, provider: ArmResourceProvider) -> None:
    create_group(hub, provider)
    hub.throttle_next(retry_after=1)
    started = time.monotonic()

    result = provider.create(public_ip(hub))

    assert result.id == PIP
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    throttled = hub.throttled
    assert [(r.method, r.path) for r in throttled] == [("PUT", PIP)]
    after = hub.arm_requests("PUT")[-2:]
    assert [(r.path, r.status) for r in after] == [(PIP, 429), (PIP, 201)]


def test_a_wrong_secret_gives_a_readable_error_without_the_secret(hub: FakeArm, provider: ArmResourceProvider) -> None:
    wrong = "wrong-secret-0123456789"
    declared = {**props(hub, RG, location="local"), "client_secret": wrong}

    with pytest.raises(ArmError) as raised:
        provider.create(declared)

    message = str(raised.value)
    assert wrong not in message
    assert "Invalid client id or client secret" in message
    assert f"ARM create of {RG} (api-version 2019-10-01) failed" in message
    assert hub.arm_requests() == []  # never reached ARM


def test_rotating_the_secret_sends_nothing_to_arm_but_is_used_from_then_on(
    hub: FakeArm, provider: ArmResourceProvider
) -> None:
    create_group(hub, provider)
    olds = provider.create(public_ip(hub)).outs
    assert olds is not None
    hub.client_secret = "rotated-secret"
    before = len(hub.requests)

    result = provider.update(PIP, olds, {**public_ip(hub), "client_secret": "rotated-secret"})

    assert hub.requests[before:] == []
    assert result.outs is not None
    assert result.outs["client_secret"] == "rotated-secret"
    assert result.outs["server_properties"] == olds["server_properties"]
    assert result.outs["properties"] == olds["properties"]
    # Delete authenticates with the outputs: the old secret no longer works on the hub.
    provider.delete(PIP, result.outs)
    assert hub.resource(PIP) is None


def test_the_provider_is_stateless_and_survives_dill() -> None:
    retry = RetrySettings(status=5, backoff_factor=0.1)
    provider = ArmResourceProvider(polling_interval=0.5, retry=retry)
    assert vars(provider) == {"polling_interval": 0.5, "retry": retry}
    # Our own bytes, loaded the way Pulumi's dynamic-provider host loads them.
    restored = dill.loads(base64.b64decode(serialize_provider(provider)))  # noqa: S301
    assert isinstance(restored, ArmResourceProvider)
    assert (restored.polling_interval, restored.retry) == (0.5, retry)


def test_a_provider_pickled_before_retry_settings_existed_uses_the_default() -> None:
    # What a stack's state holds for resources created by an earlier version: the object without `retry`.
    provider = ArmResourceProvider(polling_interval=0.5)
    del provider.retry
    restored = dill.loads(base64.b64decode(serialize_provider(provider)))  # noqa: S301
    assert "retry" not in vars(restored)
    assert restored.retry == DEFAULT_RETRY


def test_a_state_from_before_server_properties_keeps_the_servers_values_on_a_credential_update(
    hub: FakeArm, provider: ArmResourceProvider
) -> None:
    # States written when `properties` held ARM's answer have it there and no `server_properties`.
    create_group(hub, provider)
    created = provider.create(public_ip(hub)).outs
    assert created is not None
    olds = {**created, "properties": created["server_properties"]}
    del olds["server_properties"]
    hub.client_secret = "rotated-secret"

    result = provider.update(PIP, olds, {**public_ip(hub), "client_secret": "rotated-secret"})

    assert result.outs is not None
    assert result.outs["server_properties"]["ipAddress"] == created["server_properties"]["ipAddress"]
    assert result.outs["properties"] == {"publicIPAllocationMethod": "Static"}
