"""Faults a hub's ARM can throw at the provider, through Pulumi's real dynamic-provider host.

Each fault is injected in the fake hub (`FakeArm.inject`); the provider runs in the host process as the engine
runs it. What each test checks: the run ends either in success after a bounded number of retries or in one
readable error that names what failed and what to do (no traceback), the requests the hub saw are exactly what
the retry policy allows, and nothing is lost: a rerun after the hub recovers converges on the declared resource.

Retries come from azure-core's RetryPolicy, configured by `RetrySettings`; the provider here is pickled with
settings of its own (tiny backoff, two status retries, so a count of three shows these settings were used and not
azure-core's defaults), as a program would pickle it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.rpc import wrap_rpc_secret

from arm.api_versions import api_version_for, resource_type_of
from arm.connection import RETRIED_STATUSES, HubConnection, RetrySettings
from arm.resource import ArmResourceProvider
from preview.dynamic_host import PROVIDER_KEY, DynamicHostError, DynamicProviderHost
from tests.fakes.fake_arm import DROPPED, FakeArm

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/hub-rg"
PIP = f"{RG}/providers/Microsoft.Network/publicIPAddresses/ingress"

FAST = RetrySettings(total=6, connect=2, read=2, status=2, backoff_factor=0.01, backoff_max=0.05)
"""Two retries of a bad status or a broken connection, a few milliseconds apart."""
PROVIDER = serialize_provider(ArmResourceProvider(polling_interval=0.01, retry=FAST))


@pytest.fixture
def hub() -> Iterator[FakeArm]:
    with FakeArm(identity_system="adfs", in_progress_polls=1) as fake:
        yield fake


@pytest.fixture
def host(hub: FakeArm) -> Iterator[DynamicProviderHost]:
    trust = {"REQUESTS_CA_BUNDLE": hub.ca_path, "SSL_CERT_FILE": hub.ca_path}
    with DynamicProviderHost(env=trust, call_timeout=60) as started:
        yield started


def props(hub: FakeArm, resource_id: str, **declared: Any) -> dict[str, Any]:
    connection = HubConnection(hub.base_url, hub.tenant_id, SUB, hub.client_id, hub.identity_system)
    return {
        "resource_id": resource_id,
        "api_version": api_version_for(resource_type_of(resource_id)),
        "connection": connection.to_inputs(),
        "client_secret": wrap_rpc_secret(hub.client_secret),  # the program marks it secret
        PROVIDER_KEY: PROVIDER,
        **declared,
    }


def public_ip(hub: FakeArm) -> dict[str, Any]:
    return props(
        hub,
        PIP,
        location="local",
        sku={"name": "Basic"},
        properties={"publicIPAllocationMethod": "Static"},
    )


@pytest.fixture
def group(hub: FakeArm, host: DynamicProviderHost) -> None:
    """The resource group the public IP lives in, created before any fault is injected."""
    inputs, failures = host.check(props(hub, RG, location="local"))
    assert failures == []
    host.create(inputs)


def create(host: DynamicProviderHost, news: dict[str, Any]) -> dict[str, Any]:
    inputs, failures = host.check(news)
    assert failures == []
    id_, outs = host.create(inputs)
    assert id_ == news["resource_id"]
    return outs


def failed_create(host: DynamicProviderHost, news: dict[str, Any]) -> str:
    """The one-line message of a Create that failed in the host; it carries no traceback."""
    inputs, _ = host.check(news)
    with pytest.raises(DynamicHostError) as raised:
        host.create(inputs)
    message = str(raised.value)
    assert message.startswith("Create of resource failed in the dynamic-provider host: arm.errors.ArmError: ")
    assert f"ARM create of {PIP} (api-version 2018-11-01) failed" in message
    assert "Traceback" not in message
    assert raised.value.method == "Create"
    return message


def puts(hub: FakeArm) -> list[int]:
    """Statuses of the PUTs of the public IP the hub answered (0: dropped), retries included."""
    return [request.status for request in hub.requests_to(PIP, "PUT")]


def rerun_converges(hub: FakeArm, host: DynamicProviderHost) -> None:
    """After the hub recovers, the same Create succeeds and leaves the declared resource on the hub."""
    hub.clear_faults()
    outs = create(host, public_ip(hub))
    server = hub.resource(PIP)
    assert server is not None
    assert server["properties"]["provisioningState"] == "Succeeded"
    assert outs["server_properties"]["ipAddress"] == server["properties"]["ipAddress"]


# --- retried, then successful -------------------------------------------------------------------------------


@pytest.mark.usefixtures("group")
def test_a_throttled_request_waits_the_retry_after_and_is_sent_twice(hub: FakeArm, host: DynamicProviderHost) -> None:
    hub.inject("throttle", retry_after=1, method="PUT", path="publicIPAddresses")

    create(host, public_ip(hub))

    first, second = hub.requests_to(PIP, "PUT")
    assert (first.status, second.status) == (429, 201)
    # Retry-After (1 s) was honoured, not the policy's own backoff (milliseconds here).
    assert second.received_at - first.received_at >= 1.0


@pytest.mark.usefixtures("group")
@pytest.mark.parametrize("fault", ["server_error", "unavailable", "drop_connection"])
def test_one_transient_failure_costs_one_retry(hub: FakeArm, host: DynamicProviderHost, fault: Any) -> None:
    hub.inject(fault, method="PUT", path="publicIPAddresses")

    create(host, public_ip(hub))

    first = {"server_error": 500, "unavailable": 503, "drop_connection": DROPPED}[fault]
    assert puts(hub) == [first, 201]


@pytest.mark.usefixtures("group")
def test_a_poll_that_fails_once_is_retried_and_the_operation_followed_to_its_end(
    hub: FakeArm, host: DynamicProviderHost
) -> None:
    hub.inject("unavailable", path="/operations/")

    create(host, public_ip(hub))

    assert puts(hub) == [201]
    assert [request.status for request in hub.polls] == [503, 200, 200]


def test_a_token_that_expires_during_the_run_is_renewed_before_it_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tokens the hub announces (and accepts) for 200 s: less than the bearer policy's refresh window, so every
    # request goes out with a new one and no request meets an expired token.
    with FakeArm(identity_system="adfs", in_progress_polls=3, token_lifetime=200) as hub:
        trust = {"REQUESTS_CA_BUNDLE": hub.ca_path, "SSL_CERT_FILE": hub.ca_path}
        with DynamicProviderHost(env=trust, call_timeout=60) as host:
            create(host, props(hub, RG, location="local"))
            before = hub.tokens_issued

            create(host, public_ip(hub))

    assert hub.tokens_issued - before > 1, "one create renewed its token"
    assert [request.status for request in hub.requests if request.status == 401] == []


# --- bounded, then a readable error ---------------------------------------------------------------------------


@pytest.mark.usefixtures("group")
@pytest.mark.parametrize(("fault", "status"), [("server_error", 500), ("unavailable", 503), ("throttle", 429)])
def test_a_status_that_never_clears_stops_after_the_policys_retries(
    hub: FakeArm, host: DynamicProviderHost, fault: Any, status: int
) -> None:
    hub.inject(fault, times=None, method="PUT", path="publicIPAddresses", retry_after=1 if status == 429 else None)

    message = failed_create(host, public_ip(hub))

    assert status in RETRIED_STATUSES
    assert puts(hub) == [status] * (1 + FAST.status)
    assert f"HTTP {status}" in message
    assert f"Retried {FAST.status} time(s) by the retry policy (RetrySettings in arm/connection.py)" in message
    assert "run `pulumi up` again" in message
    if status == 429:
        assert "each after the hub's Retry-After, and the hub is still throttling: wait" in message
    else:
        assert "check the hub's health" in message
    rerun_converges(hub, host)


@pytest.mark.usefixtures("group")
def test_a_connection_dropped_every_time_stops_after_the_policys_read_retries(
    hub: FakeArm, host: DynamicProviderHost
) -> None:
    hub.inject("drop_connection", times=None, method="PUT", path="publicIPAddresses")

    message = failed_create(host, public_ip(hub))

    assert puts(hub) == [DROPPED] * (1 + FAST.read)
    assert "no HTTP response" in message
    assert f"Retried up to {FAST.read} time(s)" in message
    assert f"check the network path to {hub.base_url} (VPN, proxy, firewall)" in message
    rerun_converges(hub, host)


@pytest.mark.usefixtures("group")
def test_a_poll_that_never_answers_names_the_operation_not_the_request(hub: FakeArm, host: DynamicProviderHost) -> None:
    hub.inject("unavailable", times=None, path="/operations/")

    message = failed_create(host, public_ip(hub))

    assert puts(hub) == [201], "the PUT was accepted once; only its status could not be read"
    assert [request.status for request in hub.polls] == [503] * (1 + FAST.status)
    assert "the status of its long-running operation could not be read: HTTP 503 ServiceUnavailable" in message
    assert f"Retried {FAST.status} time(s)" in message
    rerun_converges(hub, host)


@pytest.mark.usefixtures("group")
def test_a_long_running_operation_that_fails_says_so_and_the_rerun_puts_again(
    hub: FakeArm, host: DynamicProviderHost
) -> None:
    hub.inject("operation_failed", method="PUT", path="publicIPAddresses", code="AllocationFailed",
               message="No public IP addresses are left in the hub's pool.")  # fmt: skip

    message = failed_create(host, public_ip(hub))

    assert puts(hub) == [201], "an operation's failure is final: the request is not sent again"
    assert "ARM accepted it, but its long-running operation ended Failed (AllocationFailed)" in message
    assert "No public IP addresses are left in the hub's pool." in message
    assert "Fix what the hub names, then run `pulumi up` again" in message
    assert "HTTP 200" not in message
    left = hub.resource(PIP)
    assert left is not None
    assert left["properties"]["provisioningState"] == "Failed"
    rerun_converges(hub, host)
    assert puts(hub) == [201, 200]


@pytest.mark.usefixtures("group")
def test_a_conflict_is_not_retried_and_says_to_wait(hub: FakeArm, host: DynamicProviderHost) -> None:
    hub.inject("conflict", method="PUT", path="publicIPAddresses")

    message = failed_create(host, public_ip(hub))

    assert puts(hub) == [409]
    assert "HTTP 409 AnotherOperationInProgress" in message
    assert "Not retried" in message
    assert "Wait until that finishes, then run `pulumi up` again" in message
    rerun_converges(hub, host)


@pytest.mark.usefixtures("group")
def test_a_token_the_hub_stops_accepting_mid_run_fails_once_and_the_rerun_gets_a_new_one(
    hub: FakeArm, host: DynamicProviderHost
) -> None:
    # Accepted for the PUT, refused when the operation is polled.
    hub.inject("token_expired", path="/operations/")

    message = failed_create(host, public_ip(hub))

    assert puts(hub) == [201]
    assert [request.status for request in hub.polls] == [401]
    assert "HTTP 401 ExpiredAuthenticationToken" in message
    assert "the hub stopped accepting the access token during the run" in message
    assert "check that this machine's clock agrees with the hub's" in message
    assert hub.client_secret not in message
    tokens = hub.tokens_issued
    rerun_converges(hub, host)
    assert hub.tokens_issued > tokens


# --- update and delete keep Pulumi's state usable ------------------------------------------------------------


@pytest.mark.usefixtures("group")
def test_a_failed_delete_leaves_the_resource_to_delete_again(hub: FakeArm, host: DynamicProviderHost) -> None:
    outs = create(host, public_ip(hub))
    hub.inject("unavailable", times=None, method="DELETE")

    with pytest.raises(DynamicHostError) as raised:
        host.delete(PIP, outs)

    message = str(raised.value)
    assert f"ARM delete of {PIP} (api-version 2018-11-01) failed: HTTP 503" in message
    assert [request.status for request in hub.requests_to(PIP, "DELETE")] == [503] * (1 + FAST.status)
    assert hub.resource(PIP) is not None, "still there, and still in Pulumi's state (the delete raised)"
    hub.clear_faults()
    host.delete(PIP, outs)
    assert hub.resource(PIP) is None


@pytest.mark.usefixtures("group")
def test_a_read_that_fails_is_an_error_not_a_resource_gone(hub: FakeArm, host: DynamicProviderHost) -> None:
    outs = create(host, public_ip(hub))
    hub.inject("server_error", times=None, method="GET", path="publicIPAddresses")

    with pytest.raises(DynamicHostError, match=r"ARM read of .* failed: HTTP 500 InternalServerError"):
        host.read(PIP, outs)

    reads = [request.status for request in hub.requests_to(PIP, "GET")]
    assert reads[-(1 + FAST.status) :] == [500] * (1 + FAST.status)
    hub.clear_faults()
    id_, _, _ = host.read(PIP, outs)
    assert id_ == PIP
