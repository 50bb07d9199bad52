"""ArmError: what was asked, what ARM said, and what to do about a version a hub refuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core import PipelineClient
from azure.core.rest import HttpRequest, HttpResponse

from arm.connection import HubConnection
from arm.errors import ArmError
from arm.resource import ArmResourceProvider
from tests.fakes.fake_arm import FakeArm

SUB = "00000000-0000-0000-0000-000000000001"
DISK = f"/subscriptions/{SUB}/resourceGroups/hub-rg/providers/Microsoft.Compute/disks/data"


def error(code: str | None, resource_id: str = DISK, detail: str = "ARM said no") -> ArmError:
    return ArmError(
        operation="create",
        resource_id=resource_id,
        api_version="2023-04-02",
        status_code=400,
        code=code,
        detail=detail,
        redact=["hunter2"],
    )


def test_a_refused_version_names_the_profile_and_this_projects_version() -> None:
    message = str(error("InvalidApiVersionParameter"))
    assert message.startswith(
        f"ARM create of {DISK} (api-version 2023-04-02) failed: HTTP 400 InvalidApiVersionParameter"
    )
    assert "profile 2020-09-01-hybrid" in message
    assert "uses 2019-07-01 for Microsoft.Compute/disks" in message


def test_a_refused_version_of_an_unknown_type_says_the_table_lacks_it() -> None:
    sites = f"/subscriptions/{SUB}/resourceGroups/hub-rg/providers/Microsoft.Web/sites/app"
    assert "no version for Microsoft.Web/sites" in str(error("NoRegisteredProviderFound", sites))


def test_other_codes_get_no_version_hint() -> None:
    assert "2020-09-01-hybrid" not in str(error("Conflict"))


def test_a_secret_echoed_by_a_server_is_masked() -> None:
    failure = error("BadRequest", detail="client secret hunter2 is wrong")
    assert "hunter2" not in str(failure)
    assert "client secret *** is wrong" in str(failure)


@pytest.fixture
def hub() -> Iterator[FakeArm]:
    with FakeArm() as fake:
        yield fake


def test_an_untrusted_hub_certificate_says_how_to_trust_it(hub: FakeArm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    connection = HubConnection(hub.base_url, hub.tenant_id, SUB, hub.client_id, "azure_ad")
    props = {
        "resource_id": f"/subscriptions/{SUB}/resourceGroups/hub-rg",
        "api_version": "2019-10-01",
        "location": "local",
        "connection": connection.to_inputs(),
        "client_secret": hub.client_secret,
    }
    with pytest.raises(ArmError, match="REQUESTS_CA_BUNDLE") as raised:
        ArmResourceProvider().create(props)
    assert raised.value.status_code is None
    assert hub.requests == []


def test_the_fake_hub_refuses_arm_calls_without_a_bearer_token(hub: FakeArm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", hub.ca_path)
    client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(hub.base_url)
    with client:
        request = HttpRequest("GET", f"{hub.base_url}/subscriptions/{SUB}/resourceGroups/hub-rg?api-version=2019-10-01")
        response = client.send_request(request)
    assert response.status_code == 401
    assert hub.requests[-1].response["error"]["code"] == "AuthenticationFailed"
