"""Reaching a hub: its metadata, the identity system's authority and tenant, and a real token flow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from arm.connection import (
    HubConnection,
    HubEndpoints,
    RetrySettings,
    build_credential,
    credential_settings,
    discover_endpoints,
    token_scope,
)
from tests.fakes.fake_arm import FakeArm, IdentitySystem

TENANT = "11111111-2222-3333-4444-555555555555"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


def connection(
    identity_system: IdentitySystem, arm_endpoint: str = "https://management.local.azurestack.external"
) -> HubConnection:
    return HubConnection(
        arm_endpoint=arm_endpoint,
        tenant_id=TENANT,
        subscription_id=SUBSCRIPTION,
        client_id="client",
        identity_system=identity_system,
    )


def test_connection_round_trips_through_inputs() -> None:
    hub = connection("adfs", "https://management.local.azurestack.external/")
    inputs = hub.to_inputs()
    assert inputs == {
        "arm_endpoint": "https://management.local.azurestack.external",
        "tenant_id": TENANT,
        "subscription_id": SUBSCRIPTION,
        "client_id": "client",
        "identity_system": "adfs",
    }
    assert HubConnection.from_inputs(inputs) == hub


def test_connection_refuses_plain_http_and_unknown_identity_systems() -> None:
    with pytest.raises(ValueError, match="https"):
        connection("azure_ad", "http://management.local.azurestack.external")
    with pytest.raises(ValueError, match="identity_system"):
        HubConnection.from_inputs({**connection("azure_ad").to_inputs(), "identity_system": "ldap"})
    with pytest.raises(TypeError, match=r"connection\.client_id"):
        HubConnection.from_inputs(
            {key: value for key, value in connection("azure_ad").to_inputs().items() if key != "client_id"}
        )


@pytest.mark.parametrize(
    ("identity_system", "login_endpoint", "expected"),
    [
        ("azure_ad", "https://login.microsoftonline.com/", ("https://login.microsoftonline.com", TENANT, True)),
        ("azure_ad", "https://login.microsoftonline.com", ("https://login.microsoftonline.com", TENANT, True)),
        ("azure_ad", "https://login.windows.net/", ("https://login.windows.net", TENANT, True)),
        # AD FS: the host is the authority and `adfs` the tenant, which azure-identity appends back.
        (
            "adfs",
            "https://adfs.local.azurestack.external/adfs/",
            ("https://adfs.local.azurestack.external", "adfs", True),
        ),
        (
            "adfs",
            "https://adfs.region.contoso.com/adfs",
            ("https://adfs.region.contoso.com", "adfs", True),
        ),
        ("adfs", "https://127.0.0.1:8443/adfs/", ("https://127.0.0.1:8443", "adfs", True)),
    ],
)
def test_credential_settings(
    identity_system: IdentitySystem, login_endpoint: str, expected: tuple[str, str, bool]
) -> None:
    endpoints = HubEndpoints(login_endpoint=login_endpoint, audience="https://management.hub/guid")
    assert credential_settings(connection(identity_system), endpoints) == expected


def test_credential_settings_refuse_a_plain_http_login_endpoint() -> None:
    endpoints = HubEndpoints(login_endpoint="http://adfs.local/adfs", audience="https://management.hub/guid")
    with pytest.raises(ValueError, match="https"):
        credential_settings(connection("adfs"), endpoints)


@pytest.mark.parametrize("audience", ["https://management.hub/guid", "https://management.hub/guid/"])
def test_token_scope_has_one_slash(audience: str) -> None:
    assert token_scope(HubEndpoints("https://login", audience)) == "https://management.hub/guid/.default"


@pytest.fixture(params=["azure_ad", "adfs"])
def hub(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    with FakeArm(identity_system=request.param) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_path)
        yield fake


def test_discover_endpoints_reads_the_hub_metadata(hub: FakeArm) -> None:
    endpoints = discover_endpoints(hub.base_url + "/")
    assert endpoints == HubEndpoints(login_endpoint=hub.login_endpoint, audience=hub.audience)
    assert [(r.path, r.api_version) for r in hub.requests] == [("/metadata/endpoints", "2015-01-01")]


def test_discover_endpoints_checks_the_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeArm() as fake:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
            discover_endpoints(fake.base_url, timeout=5)
        assert fake.requests == []


def test_real_credential_gets_a_token_from_the_identity_system(hub: FakeArm) -> None:
    hub_connection = HubConnection(hub.base_url, hub.tenant_id, SUBSCRIPTION, hub.client_id, hub.identity_system)
    endpoints = discover_endpoints(hub.base_url)
    credential = build_credential(hub_connection, hub.client_secret, endpoints)

    token = credential.get_token(token_scope(endpoints))

    assert token.token.startswith("fake-token-")
    assert hub.tokens_issued == 1
    # MSAL took the AD FS path (no /v2.0) only for AD FS, and asked nobody else.
    discovery = [r.path for r in hub.requests if r.path.endswith("openid-configuration")]
    expected = (
        "/adfs/.well-known/openid-configuration"
        if hub.identity_system == "adfs"
        else f"/{hub.tenant_id}/v2.0/.well-known/openid-configuration"
    )
    assert discovery == [expected]


def test_wrong_secret_is_refused_by_the_identity_system(hub: FakeArm) -> None:
    hub_connection = HubConnection(hub.base_url, hub.tenant_id, SUBSCRIPTION, hub.client_id, hub.identity_system)
    endpoints = discover_endpoints(hub.base_url)
    credential = build_credential(hub_connection, "not-the-secret", endpoints)
    with pytest.raises(ClientAuthenticationError, match="Invalid client id or client secret"):
        credential.get_token(token_scope(endpoints))
    assert hub.tokens_issued == 0


def test_retry_settings_refuse_negative_counts_and_bound_each_kind_by_the_total() -> None:
    with pytest.raises(ValueError, match=r"RetrySettings.status must be 0 or more, got -1"):
        RetrySettings(status=-1)
    with pytest.raises(ValueError, match="backoff_factor and backoff_max must be 0 or more"):
        RetrySettings(backoff_factor=-0.5)
    settings = RetrySettings(total=2, connect=1, read=3, status=5)
    assert [settings.retries_of(kind) for kind in ("status", "connect", "read")] == [2, 1, 2]
    assert settings.policy_options()["retry_status"] == 5
