"""ArmResource as Pulumi registers it: the version comes from the table and the secret stays a secret."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

import pulumi
import pytest

from arm.connection import HubConnection
from arm.resource import ArmResource

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/hub-rg"
CONNECTION = HubConnection(
    arm_endpoint="https://management.local.azurestack.external",
    tenant_id="tenant",
    subscription_id=SUB,
    client_id="client",
    identity_system="adfs",
)


P = ParamSpec("P")
R = TypeVar("R")


def pulumi_test(test: Callable[P, R]) -> Callable[P, R]:
    """`pulumi.runtime.test` (which runs the test's outputs to completion), typed."""
    return cast(Callable[P, R], pulumi.runtime.test(test))  # type: ignore[no-untyped-call]


class RecordingMocks(pulumi.runtime.Mocks):
    """Echoes inputs as outputs, as a create would, and keeps every registration."""

    def __init__(self) -> None:
        super().__init__()
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.registered.append(args)
        return args.inputs.get("resource_id"), dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def mocks() -> RecordingMocks:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="stackhub-ha", stack="test", preview=False)
    return recording


def only_registration(mocks: RecordingMocks, name: str) -> pulumi.runtime.MockResourceArgs:
    found = [args for args in mocks.registered if args.name == name]
    assert len(found) == 1
    return found[0]


@pulumi_test
def test_registers_with_the_table_version_and_a_secret_client_secret(mocks: RecordingMocks) -> pulumi.Output[Any]:
    # The id comes from another resource's output, as it will in the program.
    resource_id = pulumi.Output.from_input(RG).apply(
        lambda rg: f"{rg}/providers/Microsoft.Network/publicIPAddresses/ingress"
    )
    resource = ArmResource(
        "ingress-ip",
        connection=CONNECTION,
        client_secret="s3cret",
        resource_id=resource_id,
        location="local",
        sku={"name": "Basic"},
        properties={"publicIPAllocationMethod": "Static"},
    )

    def check(values: list[Any]) -> None:
        api_version, urn = values
        args = only_registration(mocks, "ingress-ip")
        assert args.typ == "pulumi-python:dynamic:Resource"
        assert urn.endswith("pulumi-python:dynamic:Resource::ingress-ip")
        inputs = args.inputs
        assert inputs["api_version"] == api_version == "2018-11-01"
        assert inputs["resource_id"] == f"{RG}/providers/Microsoft.Network/publicIPAddresses/ingress"
        assert inputs["client_secret"] == {SECRET_SIG_KEY: SECRET_SIG, "value": "s3cret"}
        assert inputs["connection"] == CONNECTION.to_inputs()
        assert inputs["location"] == "local"
        assert inputs["sku"] == {"name": "Basic"}
        assert inputs["properties"] == {"publicIPAllocationMethod": "Static"}
        assert "__provider" in inputs
        assert set(inputs) == {
            "resource_id",
            "api_version",
            "location",
            "sku",
            "properties",
            "connection",
            "client_secret",
            "__provider",
        }

    return pulumi.Output.all(resource.api_version, resource.urn).apply(check)


@pulumi_test
def test_a_resource_group_gets_the_resources_version(mocks: RecordingMocks) -> pulumi.Output[Any]:
    group = ArmResource(
        "hub-rg", connection=CONNECTION, client_secret="s3cret", resource_id=RG, location="local", tags={"a": "b"}
    )

    def check(values: list[Any]) -> None:
        api_version, resource_id, secret_is_secret = values
        assert (api_version, resource_id) == ("2019-10-01", RG)
        assert secret_is_secret is True
        assert only_registration(mocks, "hub-rg").inputs["tags"] == {"a": "b"}

    secret_flag: pulumi.Output[bool] = pulumi.Output.from_input(group.client_secret.is_secret())
    return pulumi.Output.all(group.api_version, group.resource_id, secret_flag).apply(check)
