"""The machine that runs `pulumi up` goes through the proxy: the ARM provider's code and the lifecycle's AKS Engine.

A real CONNECT proxy on loopback sits in front of the fake ARM. The hub is addressed by a name only the proxy can
resolve (`management.local.azurestack.external`), so a request that succeeds went through the proxy; the same
code with the hub's host in NO_PROXY goes straight to it and the proxy sees nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError

from arm.connection import HubConnection, build_credential, discover_endpoints, management_client
from planning.egress import EgressProxy, effective_no_proxy, proxy_environment
from tests.aksengine.testkit import FAKE_BIN, make_settings, run_lifecycle
from tests.egress.certs import write_server_certificates
from tests.egress.connect_proxy import ConnectProxy
from tests.fakes import fake_arm
from tests.fakes.fake_arm import FakeArm

HUB_NAME = "management.local.azurestack.external"
EGRESS_FAKE_BIN = Path(__file__).resolve().parent / "fake_bin"
RESOURCE_GROUP_VERSION = "2019-10-01"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeArm]:
    """The fake ARM, with a certificate that also names the hub's ARM host."""
    monkeypatch.setattr(
        fake_arm, "_write_certificates", lambda directory: write_server_certificates(directory, [HUB_NAME])
    )
    with FakeArm(location="local") as fake:
        for key in [k for k in os.environ if k.lower().endswith("_proxy")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_path)
        yield fake


@pytest.fixture
def proxy(hub: FakeArm) -> Iterator[ConnectProxy]:
    with ConnectProxy(resolve={HUB_NAME: "127.0.0.1"}) as started:
        yield started


def port_of(hub: FakeArm) -> int:
    return int(hub.base_url.rsplit(":", 1)[1])


def connection(arm_endpoint: str, hub: FakeArm) -> HubConnection:
    return HubConnection(
        arm_endpoint=arm_endpoint,
        tenant_id=hub.tenant_id,
        subscription_id="00000000-0000-0000-0000-000000000001",
        client_id=hub.client_id,
        identity_system="azure_ad",
    )


def create_group(conn: HubConnection) -> None:
    """What the ARM provider does for a resource: metadata, a token, a PUT and its long-running operation."""
    endpoints = discover_endpoints(conn.arm_endpoint, timeout=10)
    credential = build_credential(conn, fake_arm.DEFAULT_CLIENT_SECRET, endpoints)
    client = management_client(conn, credential, endpoints, polling_interval=0)
    group = f"/subscriptions/{conn.subscription_id}/resourceGroups/hub-network"
    client.resources.begin_create_or_update_by_id(
        group, {"location": "local"}, api_version=RESOURCE_GROUP_VERSION
    ).result()


def set_environment(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)


def test_the_arm_provider_reaches_the_hub_through_the_proxy(
    hub: FakeArm, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = f"https://{HUB_NAME}:{port_of(hub)}"
    # The machine's list: everything but this hub's ARM, which (say) sits behind the proxy from here.
    set_environment(monkeypatch, proxy_environment(EgressProxy(proxy.url), ("localhost", "127.0.0.1", ".svc")))
    create_group(connection(arm, hub))
    assert hub.resource("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/hub-network")
    # The metadata and the ARM calls went through tunnels to the hub's name; the token endpoint and the operation
    # polls the fake names by 127.0.0.1, which the list keeps direct.
    assert proxy.tunnels
    assert set(proxy.tunnels) == {f"{HUB_NAME}:{port_of(hub)}"}
    assert [(r.method, r.path) for r in hub.arm_requests("PUT")] == [
        ("PUT", "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/hub-network")
    ]


def test_the_hub_name_only_resolves_through_the_proxy(hub: FakeArm, monkeypatch: pytest.MonkeyPatch) -> None:
    # The control experiment: without the proxy the same call cannot even find the hub.
    with pytest.raises(ServiceRequestError):
        discover_endpoints(f"https://{HUB_NAME}:{port_of(hub)}", timeout=5)


def test_the_arm_provider_goes_straight_to_a_hub_in_no_proxy(
    hub: FakeArm, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The list a hub computes names its own ARM host: here the fake's, reached by `localhost`.
    arm = f"https://localhost:{port_of(hub)}"
    listed = effective_no_proxy(service_cidr="10.0.0.0/16", vnet_cidr="10.10.0.0/16",
                                api_server_fqdn="hub.local.cloudapp.azurestack.external", arm_endpoint=arm,
                                storage_suffix="local.azurestack.external")  # fmt: skip
    set_environment(monkeypatch, proxy_environment(EgressProxy(proxy.url), listed))
    create_group(connection(arm, hub))
    assert proxy.attempts == []
    # Only the host entry matters: with just it in NO_PROXY the result is the same.
    set_environment(monkeypatch, proxy_environment(EgressProxy(proxy.url), ("localhost", "127.0.0.1")))
    discover_endpoints(arm, timeout=10)
    assert proxy.attempts == []


def test_a_proxy_that_needs_credentials_gets_them_from_the_url(hub: FakeArm, monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy(resolve={HUB_NAME: "127.0.0.1"}, credentials=("svc-egress", "p@ss word")) as guarded:
        arm = f"https://{HUB_NAME}:{port_of(hub)}"
        bare = EgressProxy(guarded.url)
        set_environment(monkeypatch, proxy_environment(bare, ("127.0.0.1",)))
        with pytest.raises(ServiceRequestError):
            discover_endpoints(arm, timeout=5)
        assert [a.status for a in guarded.attempts] == [407] * len(guarded.attempts)
        with_password = EgressProxy(guarded.url_with("svc-egress", "p%40ss%20word"))
        assert with_password.has_credentials
        set_environment(monkeypatch, proxy_environment(with_password, ("127.0.0.1",)))
        create_group(connection(arm, hub))
        assert guarded.tunnels
        assert {a.user for a in guarded.attempts if a.status == 200} == {"svc-egress"}


# --- the lifecycle hands the proxy to aks-engine-azurestack ----------------------------------------------------


def lifecycle_env(hub: FakeArm, tmp_path: Path, arm: str, environment: dict[str, str]) -> dict[str, str]:
    return {
        # The egress stand-in first: it asks the hub's ARM, then runs the project's fake with the same arguments.
        "PATH": f"{EGRESS_FAKE_BIN}{os.pathsep}{FAKE_BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "FAKE_AKSE_ARM_URL": arm,
        "FAKE_AKSE_ARM_CA": hub.ca_path,
        "FAKE_EGRESS_LOG": str(tmp_path / "egress.jsonl"),
        **environment,
    }


def egress_records(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "egress.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_the_lifecycle_gives_aks_engine_the_proxy(hub: FakeArm, proxy: ConnectProxy, tmp_path: Path) -> None:
    arm = f"https://{HUB_NAME}:{port_of(hub)}"
    environment = proxy_environment(EgressProxy(proxy.url), ("localhost", "127.0.0.1"))
    result = run_lifecycle(
        "create", tmp_path, make_settings(), extra_env=lifecycle_env(hub, tmp_path, arm, environment)
    )
    assert result.returncode == 0, result.stderr
    [record] = egress_records(tmp_path)
    assert record["command"] == "deploy"
    assert record.get("status") == 200, record
    # Exactly the variables it was given, both spellings, and none of the lifecycle's own.
    assert record["proxy"] == environment
    assert record["unexpected"] == []
    assert proxy.tunnels == [f"{HUB_NAME}:{port_of(hub)}"]
    assert [r.path for r in hub.requests if r.path == "/metadata/endpoints"] == ["/metadata/endpoints"]


def test_the_lifecycle_leaves_a_hub_in_no_proxy_direct(hub: FakeArm, proxy: ConnectProxy, tmp_path: Path) -> None:
    arm = f"https://localhost:{port_of(hub)}"
    listed = effective_no_proxy(service_cidr="10.0.0.0/16", vnet_cidr="10.100.0.0/16",
                                api_server_fqdn="ratings-east.local.cloudapp.azurestack.external", arm_endpoint=arm,
                                storage_suffix="local.azurestack.external")  # fmt: skip
    environment = proxy_environment(EgressProxy(proxy.url), listed)
    result = run_lifecycle(
        "create", tmp_path, make_settings(), extra_env=lifecycle_env(hub, tmp_path, arm, environment)
    )
    assert result.returncode == 0, result.stderr
    [record] = egress_records(tmp_path)
    assert record.get("status") == 200, record
    assert record["proxy"]["NO_PROXY"] == ",".join(listed)
    assert proxy.attempts == []
