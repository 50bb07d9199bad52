"""The ARM provider through Pulumi's real dynamic-provider host, over gRPC, against a fake hub over HTTPS.

The host is started as the engine starts it (`python -u -m pulumi.dynamic` in the project root) and every call
carries the provider pickled by pulumi's own serializer, as `pulumi.dynamic.Resource` stores it. The host, not
this process, talks to the fake hub: it trusts the fake's CA only through the environment it is given.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import UNKNOWN as UNKNOWN_VALUE
from pulumi.runtime.rpc import wrap_rpc_secret

from arm.api_versions import api_version_for, resource_type_of
from arm.connection import HubConnection
from arm.resource import ArmResourceProvider
from preview.dynamic_host import (
    PROJECT_ROOT,
    PROVIDER_KEY,
    UNKNOWN,
    DynamicHostError,
    DynamicProviderHost,
    HostDiff,
    to_struct,
)
from tests.fakes.fake_arm import TEST_NET, FakeArm

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/hub-rg"
PIP = f"{RG}/providers/Microsoft.Network/publicIPAddresses/ingress"
NSG = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/cluster-nsg"
VNET = f"{RG}/providers/Microsoft.Network/virtualNetworks/cluster-vnet"
SUBNET = f"{VNET}/subnets/cluster"

# Fast polling of the fake's long-running operations; pickled by reference, as the program's provider is.
PROVIDER = serialize_provider(ArmResourceProvider(polling_interval=0.01))


def rule(name: str, priority: int, port: str) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "priority": priority,
            "direction": "Inbound",
            "access": "Allow",
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": port,
        },
    }


RULES = [rule("allow-http", 100, "80"), rule("allow-https", 110, "443"), rule("allow-ssh", 120, "22")]


@pytest.fixture
def hub() -> Iterator[FakeArm]:
    with FakeArm(identity_system="adfs") as fake:
        yield fake


@pytest.fixture
def host(hub: FakeArm) -> Iterator[DynamicProviderHost]:
    # Only the host talks to the hub, so only the host is told to trust the fake's CA.
    trust = {"REQUESTS_CA_BUNDLE": hub.ca_path, "SSL_CERT_FILE": hub.ca_path}
    with DynamicProviderHost(env=trust, call_timeout=60) as started:
        yield started


def secret(value: Any) -> Any:
    """A value as the engine holds a secret (the program marks client_secret secret)."""
    return wrap_rpc_secret(value)


def props(hub: FakeArm, resource_id: str, **declared: Any) -> dict[str, Any]:
    """What `ArmResource` registers: the declared inputs, the secret, and the pickled provider."""
    connection = HubConnection(hub.base_url, hub.tenant_id, SUB, hub.client_id, hub.identity_system)
    return {
        "resource_id": resource_id,
        "api_version": api_version_for(resource_type_of(resource_id)),
        "connection": connection.to_inputs(),
        "client_secret": secret(hub.client_secret),
        PROVIDER_KEY: PROVIDER,
        **declared,
    }


def public_ip(hub: FakeArm, **changes: Any) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "location": "local",
        "sku": {"name": "Basic"},
        "tags": {"role": "ingress"},
        "properties": {"publicIPAllocationMethod": "Static"},
    }
    return props(hub, PIP, **{**declared, **changes})


def checked(host: DynamicProviderHost, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
    inputs, failures = host.check(news, olds)
    assert failures == []
    return inputs


def create(host: DynamicProviderHost, news: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(checked inputs, outputs) of a new resource, as the engine creates it: Check, then Create."""
    inputs = checked(host, news)
    id_, outs = host.create(inputs)
    assert id_ == news["resource_id"]
    return inputs, outs


def with_group(hub: FakeArm, host: DynamicProviderHost) -> None:
    create(host, props(hub, RG, location="local"))


# --- Check -------------------------------------------------------------------------------------------------


def test_check_accepts_the_declaration_and_receives_the_secret_unwrapped(
    hub: FakeArm, host: DynamicProviderHost
) -> None:
    inputs, failures = host.check(public_ip(hub))

    assert failures == []
    # The provider echoes what it received: the plain secret, not the envelope.
    assert inputs["client_secret"] == hub.client_secret
    assert inputs[PROVIDER_KEY] == PROVIDER
    assert host.accepts_secrets is False


def test_check_names_a_wrong_api_version(hub: FakeArm, host: DynamicProviderHost) -> None:
    _, failures = host.check({**public_ip(hub), "api_version": "2024-07-01"})

    assert [prop for prop, _ in failures] == ["api_version"]
    reason = failures[0][1]
    assert "'2024-07-01'" in reason
    assert "2018-11-01" in reason


def test_unknown_values_reach_the_provider_as_unknown(hub: FakeArm, host: DynamicProviderHost) -> None:
    # Unknown, the resource id is not judged; sent as null it would be missing and fail Check.
    inputs, failures = host.check({**public_ip(hub), "resource_id": UNKNOWN_VALUE})
    assert failures == []
    assert inputs["resource_id"] == UNKNOWN

    with_group(hub, host)
    group_inputs, group_outs = create(host, props(hub, RG, location="local"))
    # No tags before; unknown tags may be some, so that is a change. Sent as null it would be none.
    assert host.diff(RG, group_outs, {**group_inputs, "tags": UNKNOWN_VALUE}).changes is True
    assert host.diff(RG, group_outs, {**group_inputs, "tags": UNKNOWN}).changes is True
    assert host.diff(RG, group_outs, group_inputs).changes is False


# --- Diff --------------------------------------------------------------------------------------------------

DIFF_CASES: list[tuple[str, dict[str, Any], HostDiff]] = [
    ("nothing changed", {}, HostDiff(changes=False, replaces=(), delete_before_replace=False, diffs=())),
    (
        "tags: an update",
        {"tags": {"role": "ingress", "cost-center": "k8s"}},
        HostDiff(changes=True, replaces=(), delete_before_replace=False, diffs=()),
    ),
    (
        "location: a replacement with the same id, so the old one goes first",
        {"location": "otherregion"},
        HostDiff(changes=True, replaces=("location",), delete_before_replace=True, diffs=()),
    ),
    (
        "the secret only: an update",
        {"client_secret": secret("rotated-secret")},
        HostDiff(changes=True, replaces=(), delete_before_replace=False, diffs=()),
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [(c, e) for _, c, e in DIFF_CASES], ids=[name for name, _, _ in DIFF_CASES]
)
def test_diff_decides_against_the_outputs_of_create(
    hub: FakeArm, host: DynamicProviderHost, changes: dict[str, Any], expected: HostDiff
) -> None:
    with_group(hub, host)
    old_inputs, outs = create(host, public_ip(hub))
    news = checked(host, public_ip(hub, **changes), old_inputs)

    assert host.diff(PIP, outs, news, old_inputs=old_inputs) == expected


def test_a_secret_only_change_updates_without_writing_to_arm(hub: FakeArm, host: DynamicProviderHost) -> None:
    with_group(hub, host)
    old_inputs, outs = create(host, public_ip(hub))
    hub.client_secret = "rotated-secret"
    news = checked(host, public_ip(hub), old_inputs)
    before = len(hub.requests)

    new_outs = host.update(PIP, outs, news, old_inputs=old_inputs)

    assert hub.requests[before:] == []
    assert new_outs["client_secret"] == "rotated-secret"
    # Delete authenticates with these outputs: only the rotated secret works on the hub now.
    host.delete(PIP, new_outs, old_inputs=news)
    assert hub.resource(PIP) is None


# --- Create, Read, Update, Delete --------------------------------------------------------------------------


def test_create_stores_the_resource_on_the_hub(hub: FakeArm, host: DynamicProviderHost) -> None:
    with_group(hub, host)

    _, outs = create(host, public_ip(hub))

    server = hub.resource(PIP)
    assert server is not None
    assert (server["location"], server["tags"], server["sku"]) == ("local", {"role": "ingress"}, {"name": "Basic"})
    assert server["properties"]["publicIPAllocationMethod"] == "Static"
    assert ipaddress.ip_address(outs["server_properties"]["ipAddress"]) in TEST_NET
    assert outs["server_properties"]["ipAddress"] == server["properties"]["ipAddress"]
    assert outs["etag"] == server["etag"]
    assert outs[PROVIDER_KEY] == PROVIDER
    assert [(r.path, r.api_version) for r in hub.arm_requests("PUT")] == [(RG, "2019-10-01"), (PIP, "2018-11-01")]


def test_refresh_sees_changes_made_by_hand_and_update_repairs_them(hub: FakeArm, host: DynamicProviderHost) -> None:
    with_group(hub, host)
    nsg_news = props(hub, NSG, location="local", properties={"securityRules": RULES})
    vnet_news = props(
        hub,
        VNET,
        location="local",
        properties={
            "addressSpace": {"addressPrefixes": ["10.240.0.0/16"]},
            "subnets": [
                {
                    "name": "cluster",
                    "properties": {"addressPrefix": "10.240.0.0/24", "networkSecurityGroup": {"id": NSG}},
                }
            ],
        },
    )
    nsg_inputs, nsg_outs = create(host, nsg_news)
    vnet_inputs, vnet_outs = create(host, vnet_news)

    # A refresh of an untouched hub finds nothing to do, although ARM answers with read-only fields.
    for id_, outs, inputs in ((NSG, nsg_outs, nsg_inputs), (VNET, vnet_outs, vnet_inputs)):
        _, refreshed, _ = host.read(id_, outs, inputs)
        assert host.diff(id_, refreshed, inputs).changes is False

    # By hand, in the portal: one rule deleted, one added, the address space and the subnet's prefix changed.
    by_hand = rule("allow-rdp-by-hand", 200, "3389")
    hub.change_by_hand(NSG, lambda r: r["properties"].update(securityRules=[RULES[0], RULES[2], by_hand]))
    hub.change_by_hand(VNET, lambda r: r["properties"].update(addressSpace={"addressPrefixes": ["10.99.0.0/16"]}))
    hub.change_by_hand(SUBNET, lambda r: r["properties"].update(addressPrefix="10.240.7.0/24"))

    nsg_id, nsg_read, nsg_read_inputs = host.read(NSG, nsg_outs, nsg_inputs)
    vnet_id, vnet_read, vnet_read_inputs = host.read(VNET, vnet_outs, vnet_inputs)

    assert (nsg_id, vnet_id) == (NSG, VNET)
    assert nsg_read_inputs is not None
    assert vnet_read_inputs is not None
    read_rules = nsg_read["desired_properties"]["securityRules"]
    assert [r["name"] for r in read_rules] == ["allow-http", "allow-ssh", "allow-rdp-by-hand"]
    assert nsg_read_inputs["properties"] == nsg_read["desired_properties"]
    read_vnet = vnet_read["desired_properties"]
    assert read_vnet["addressSpace"] == {"addressPrefixes": ["10.99.0.0/16"]}
    assert read_vnet["subnets"][0]["properties"]["addressPrefix"] == "10.240.7.0/24"
    assert vnet_read_inputs["properties"] == read_vnet

    # The unchanged program against the refreshed state: an update of each, no replacement.
    update = HostDiff(changes=True, replaces=(), delete_before_replace=False, diffs=())
    nsg_again = checked(host, nsg_news, nsg_read_inputs)
    vnet_again = checked(host, vnet_news, vnet_read_inputs)
    assert host.diff(NSG, nsg_read, nsg_again, old_inputs=nsg_read_inputs) == update
    assert host.diff(VNET, vnet_read, vnet_again, old_inputs=vnet_read_inputs) == update

    nsg_fixed = host.update(NSG, nsg_read, nsg_again, old_inputs=nsg_read_inputs)
    vnet_fixed = host.update(VNET, vnet_read, vnet_again, old_inputs=vnet_read_inputs)

    nsg_server, vnet_server, subnet_server = hub.resource(NSG), hub.resource(VNET), hub.resource(SUBNET)
    assert nsg_server is not None
    assert vnet_server is not None
    assert subnet_server is not None
    assert [r["name"] for r in nsg_server["properties"]["securityRules"]] == ["allow-http", "allow-https", "allow-ssh"]
    assert vnet_server["properties"]["addressSpace"] == {"addressPrefixes": ["10.240.0.0/16"]}
    assert subnet_server["properties"]["addressPrefix"] == "10.240.0.0/24"
    # And the next refresh agrees with the program again.
    for id_, outs, inputs in ((NSG, nsg_fixed, nsg_again), (VNET, vnet_fixed, vnet_again)):
        _, refreshed, _ = host.read(id_, outs, inputs)
        assert host.diff(id_, refreshed, inputs).changes is False


def test_read_of_a_resource_deleted_by_hand_is_gone(hub: FakeArm, host: DynamicProviderHost) -> None:
    with_group(hub, host)
    inputs, outs = create(host, public_ip(hub))
    hub.delete_by_hand(PIP)

    id_, _, new_inputs = host.read(PIP, outs, inputs)

    assert (id_, new_inputs) == ("", None)


def test_update_puts_the_new_declaration(hub: FakeArm, host: DynamicProviderHost) -> None:
    with_group(hub, host)
    old_inputs, outs = create(host, public_ip(hub))
    news = checked(host, public_ip(hub, tags={"role": "ingress", "cost-center": "k8s"}), old_inputs)

    new_outs = host.update(PIP, outs, news, old_inputs=old_inputs)

    server = hub.resource(PIP)
    assert server is not None
    assert server["tags"] == {"role": "ingress", "cost-center": "k8s"}
    assert new_outs["etag"] == server["etag"] != outs["etag"]
    assert new_outs["server_properties"]["ipAddress"] == outs["server_properties"]["ipAddress"]


def test_delete_removes_the_resource(hub: FakeArm, host: DynamicProviderHost) -> None:
    with_group(hub, host)
    inputs, outs = create(host, public_ip(hub))

    host.delete(PIP, outs, old_inputs=inputs)

    assert hub.resource(PIP) is None
    assert [(r.path, r.api_version) for r in hub.arm_requests("DELETE")] == [(PIP, "2018-11-01")]


# --- errors ------------------------------------------------------------------------------------------------


def test_a_wrong_secret_fails_readably_and_never_shows_the_secret(hub: FakeArm, host: DynamicProviderHost) -> None:
    wrong = "wrong-secret-0123456789"
    news = {**props(hub, RG, location="local"), "client_secret": secret(wrong)}

    with pytest.raises(DynamicHostError) as raised:
        host.create(checked(host, news))

    error = raised.value
    message = str(error)
    assert message.startswith("Create of resource failed in the dynamic-provider host: arm.errors.ArmError: ")
    assert f"ARM create of {RG} (api-version 2019-10-01) failed" in message
    assert "Invalid client id or client secret" in message
    assert "Traceback" not in message
    assert "Traceback" in error.details
    for text in (message, error.details, error.stderr):
        assert wrong not in text
    assert hub.arm_requests() == []


def test_any_value_sent_as_a_secret_is_masked_in_host_errors(hub: FakeArm, host: DynamicProviderHost) -> None:
    with_group(hub, host)
    create(host, public_ip(hub))
    hidden = "secret-region-7c1f"
    # ARM's answer to a second resource with this id in another location echoes the location.
    moved = checked(host, public_ip(hub, location=secret(hidden)))

    with pytest.raises(DynamicHostError) as raised:
        host.create(moved)

    message = str(raised.value)
    assert "InvalidResourceLocation" in message
    assert "location '[secret]'" in message
    for text in (message, raised.value.details, raised.value.stderr):
        assert hidden not in text


def test_a_host_outside_the_project_root_cannot_load_the_provider(hub: FakeArm, tmp_path: Path) -> None:
    with DynamicProviderHost(tmp_path) as host, pytest.raises(DynamicHostError) as raised:
        host.check(public_ip(hub))

    message = str(raised.value)
    assert (
        "Check of resource failed in the dynamic-provider host: ModuleNotFoundError: No module named 'arm'" in message
    )
    assert str(tmp_path) in message
    assert "Traceback" not in message
    assert PROVIDER not in message
    assert raised.value.method == "Check"


# --- the host process ------------------------------------------------------------------------------------


def gone(pid: int | None) -> bool:
    """No such process, or only its zombie (a container's pid 1 may be slow to reap orphans)."""
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def test_the_host_is_stopped_when_the_block_ends_normally_or_by_an_error() -> None:
    with DynamicProviderHost() as host:
        assert host.running
        assert host.startup_seconds is not None
    assert gone(host.pid)

    failing = DynamicProviderHost()
    with pytest.raises(RuntimeError, match="boom"), failing:
        raise RuntimeError("boom")
    assert gone(failing.pid)


def test_the_host_does_not_outlive_a_process_that_ends_without_cleaning_up() -> None:
    # os._exit skips finalizers and atexit, as a killed process or a pytest-xdist worker does.
    program = (
        "import os\n"
        "from preview.dynamic_host import DynamicProviderHost\n"
        "host = DynamicProviderHost()\n"
        "host.start()\n"
        "print(host.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    ended = subprocess.run(
        [sys.executable, "-c", program], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    pid = int(ended.stdout)
    try:
        deadline = time.monotonic() + 10
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(pid)
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def fake_python(tmp_path: Path, body: str) -> str:
    """An executable that stands in for the interpreter (it ignores `-u -m pulumi.dynamic`)."""
    path = tmp_path / "python"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.mark.parametrize(
    ("body", "timeout", "expected"),
    [
        ("echo 'ImportError: pulumi is not installed here' >&2\nexit 3", 10.0, "exited with code 3"),
        ("echo not-a-port\nexec sleep 30", 10.0, "printed 'not-a-port' instead of its port"),
        ("exec sleep 30", 0.5, "printed no port within 0.5 s"),
    ],
    ids=["exits", "prints-garbage", "hangs"],
)
def test_a_host_that_fails_to_start_is_reported_and_not_left_running(
    tmp_path: Path, body: str, timeout: float, expected: str
) -> None:
    host = DynamicProviderHost(python=fake_python(tmp_path, body), start_timeout=timeout)

    with pytest.raises(DynamicHostError, match=expected) as raised:
        host.start()

    assert raised.value.method == "start"
    assert not host.running
    assert gone(host.pid)
    if "exit 3" in body:
        assert "ImportError: pulumi is not installed here" in str(raised.value)


def test_a_call_to_a_host_that_died_says_so(hub: FakeArm) -> None:
    with DynamicProviderHost() as host:
        assert host.pid is not None
        os.kill(host.pid, signal.SIGKILL)
        with pytest.raises(DynamicHostError, match=r"Check of resource failed .*: the host exited with code -9"):
            host.check(public_ip(hub))


# --- marshalling ------------------------------------------------------------------------------------------


def as_json(props: dict[str, Any], **options: Any) -> Any:
    return json_format.MessageToDict(to_struct(props, **options))


def test_secrets_are_sent_plain_and_remembered_for_masking() -> None:
    found: set[str] = set()
    sent = as_json(
        {"client_secret": secret("s1"), "nested": {"list": [secret({"key": "s2"}), 1]}, "plain": "p"}, secrets=found
    )

    assert sent == {"client_secret": "s1", "nested": {"list": [{"key": "s2"}, 1.0]}, "plain": "p"}
    assert found == {"s1", "s2"}


def test_a_provider_that_accepts_secrets_gets_the_envelope() -> None:
    assert as_json({"client_secret": secret("s1")}, keep_secrets=True) == {"client_secret": secret("s1")}


def test_unknowns_numbers_and_nulls_travel_as_the_engine_sends_them() -> None:
    sent = as_json({"u": UNKNOWN_VALUE, "s": UNKNOWN, "i": 100, "f": 0.5, "b": True, "n": None, "t": ("a",)})

    assert sent == {"u": UNKNOWN, "s": UNKNOWN, "i": 100.0, "f": 0.5, "b": True, "n": None, "t": ["a"]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "x"}, "property names must be strings"),
        (object(), "cannot send a object"),
        (
            {"4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17", "text": "x"},
            "cannot take a asset value",
        ),
    ],
    ids=["int-key", "object", "asset"],
)
def test_values_the_host_cannot_take_are_refused(value: Any, message: str) -> None:
    check: Callable[[], Any] = lambda: to_struct({"value": value})  # noqa: E731
    with pytest.raises(TypeError, match=message):
        check()
