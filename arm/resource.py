"""A Pulumi dynamic resource for one ARM resource at an explicit API version.

The provider half runs in Pulumi's dynamic-provider host, which restores it from state with dill: it holds no
client, credential or token, only plain settings, and builds what it needs from the props of each call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pulumi
import pulumi.dynamic
from azure.core.exceptions import AzureError, ResourceNotFoundError
from pulumi.output import contains_unknowns
from pulumi.runtime.rpc import is_rpc_secret

from arm.api_versions import API_PROFILE, api_version_for, resource_type_of, subscription_of
from arm.connection import (
    DEFAULT_POLLING_INTERVAL,
    DEFAULT_RETRY,
    HubConnection,
    RetrySettings,
    build_credential,
    discover_endpoints,
    management_client,
)
from arm.drift import READ_BACK_KEYS, refreshed_inputs
from arm.errors import ArmError

if TYPE_CHECKING:
    from azure.mgmt.resource.resources import ResourceManagementClient

# What the program declares. The outputs keep it (after a refresh: the hub's values in its shape, arm/drift.py)
# so that `diff`, which the engine gives the old outputs, compares declared with declared.
INPUT_KEYS = ("resource_id", "api_version", "location", "tags", "sku", "kind", "properties", "connection")
SECRET_KEYS = ("client_secret",)
# The ARM request body.
_BODY_KEYS = READ_BACK_KEYS
# Outputs: `properties` is the declared body, as the input of that name is; what ARM returned (computed values
# included) is `server_properties`. The declared properties (or, after a refresh, the hub's values for them) are
# also kept under `desired_properties`, which states written before `properties` meant the declared body rely on.
DESIRED_PROPERTIES_KEY = "desired_properties"
SERVER_PROPERTIES_KEY = "server_properties"

# A different endpoint or subscription is another resource; who authenticates is not.
_CONNECTION_LOCATING_KEYS = ("arm_endpoint", "subscription_id")
_CONNECTION_AUTH_KEYS = ("tenant_id", "client_id", "identity_system")

# ARM refuses to change these SKUs in place (Basic <-> Standard is a new resource).
SKU_REPLACES: frozenset[str] = frozenset({"Microsoft.Network/publicIPAddresses", "Microsoft.Network/loadBalancers"})

# Properties ARM accepts only at creation; a change needs a new resource.
CREATE_ONLY_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "Microsoft.Network/publicIPAddresses": ("publicIPAddressVersion",),
    "Microsoft.Network/virtualNetworks": (),
    "Microsoft.Compute/availabilitySets": ("platformFaultDomainCount",),
    "Microsoft.Compute/disks": ("creationData",),
    "Microsoft.Compute/virtualMachines": ("osProfile", "availabilitySet"),
}

# Child collections that a PUT of the parent replaces wholesale: a network PUT without `subnets` deletes the
# VNet's subnets (or fails with InUseSubnetCannotBeDeleted). When they are managed as separate resources and
# the parent's declared properties leave the key out, an update carries the server's collection over.
SERVER_OWNED_CHILDREN: Mapping[str, str] = {
    "Microsoft.Network/virtualNetworks": "subnets",
    "Microsoft.Network/networkSecurityGroups": "securityRules",
    "Microsoft.Network/routeTables": "routes",
}


@dataclass(frozen=True)
class ArmDiff:
    """What changed between the declared inputs of two runs, and what that means for the ARM resource."""

    changed: tuple[str, ...]
    """Top-level input keys whose declared value differs."""
    replaces: tuple[str, ...]
    """The subset of `changed` that ARM cannot apply in place."""
    delete_before_replace: bool
    """True when the replacement has the same ARM id, so the old one must go first."""
    arm_write: bool
    """False when only credentials changed: the update records them and sends nothing to ARM."""

    @property
    def changes(self) -> bool:
        return bool(self.changed)

    @property
    def stables(self) -> tuple[str, ...]:
        return () if self.replaces else ("resource_id", "location")


def decide_diff(olds: Mapping[str, Any], news: Mapping[str, Any]) -> ArmDiff:
    """Compare declared inputs. `olds` may be prior outputs: their declared properties are read back."""
    old_inputs = declared_inputs(olds)
    new_inputs = declared_inputs(news)
    resource_type = _type_or_none(new_inputs.get("resource_id")) or _type_or_none(old_inputs.get("resource_id"))

    changed: list[str] = []
    replaces: list[str] = []
    same_id = _same(old_inputs.get("resource_id"), new_inputs.get("resource_id"), _casefold)
    same_endpoint = True
    for key in INPUT_KEYS:
        old, new = old_inputs.get(key), new_inputs.get(key)
        if key == "connection":
            locating, auth = _connection_changes(old, new)
            same_endpoint = "arm_endpoint" not in locating
            if locating or auth:
                changed.append(key)
            if locating:
                replaces.append(key)
            continue
        if _same(old, new, _NORMALISERS.get(key, _identity)):
            continue
        changed.append(key)
        if _forces_replacement(key, resource_type, old, new):
            replaces.append(key)
    for key in SECRET_KEYS:
        if not _same(old_inputs.get(key), new_inputs.get(key), _identity):
            changed.append(key)

    arm_write = any(key not in SECRET_KEYS and key != "connection" for key in changed) or bool(replaces)
    return ArmDiff(
        changed=tuple(changed),
        replaces=tuple(replaces),
        delete_before_replace=bool(replaces) and same_id and same_endpoint,
        arm_write=arm_write,
    )


def check_inputs(news: Mapping[str, Any]) -> list[pulumi.dynamic.CheckFailure]:
    """Validation failures for declared inputs; unknown (preview) values are not judged."""
    inputs = declared_inputs(news)
    failures: list[pulumi.dynamic.CheckFailure] = []
    resource_id = inputs.get("resource_id")
    resource_type = _check_resource_id(resource_id, failures)
    if resource_type is not None:
        _check_api_version(resource_type, inputs.get("api_version"), failures)
    connection = inputs.get("connection")
    if not contains_unknowns(connection):
        _check_connection(connection, resource_id if resource_type else None, failures)
    secret = inputs.get("client_secret")
    if not contains_unknowns(secret) and not (isinstance(secret, str) and secret):
        failures.append(pulumi.dynamic.CheckFailure("client_secret", "client_secret must be a non-empty string"))
    return failures


def _check_resource_id(resource_id: Any, failures: list[pulumi.dynamic.CheckFailure]) -> str | None:
    """The resource type, when the id is known and well formed."""
    if contains_unknowns(resource_id):
        return None
    if not isinstance(resource_id, str):
        failures.append(pulumi.dynamic.CheckFailure("resource_id", "resource_id must be a string"))
        return None
    try:
        return resource_type_of(resource_id)
    except ValueError as error:
        failures.append(pulumi.dynamic.CheckFailure("resource_id", str(error)))
        return None


def _check_api_version(resource_type: str, api_version: Any, failures: list[pulumi.dynamic.CheckFailure]) -> None:
    if contains_unknowns(api_version):
        return
    try:
        expected = api_version_for(resource_type)
    except ValueError as error:
        failures.append(pulumi.dynamic.CheckFailure("resource_id", str(error)))
        return
    if api_version != expected:
        failures.append(
            pulumi.dynamic.CheckFailure(
                "api_version",
                f"api_version {api_version!r} is not the version this project uses for {resource_type}: "
                f"{expected} (arm/api_versions.py, hub profile {API_PROFILE})",
            )
        )


def _check_connection(connection: Any, resource_id: str | None, failures: list[pulumi.dynamic.CheckFailure]) -> None:
    try:
        hub = HubConnection.from_inputs(connection if isinstance(connection, Mapping) else {})
    except (TypeError, ValueError) as error:
        failures.append(pulumi.dynamic.CheckFailure("connection", str(error)))
        return
    if resource_id is None:
        return
    subscription = subscription_of(resource_id)
    if subscription.lower() != hub.subscription_id.lower():
        failures.append(
            pulumi.dynamic.CheckFailure(
                "resource_id",
                f"resource_id is in subscription {subscription}, the connection in {hub.subscription_id}",
            )
        )


def declared_inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    """The declared inputs in `props`, which are either inputs or outputs of this provider."""
    plain = {key: unwrap_secrets(value) for key, value in props.items()}
    inputs = {key: plain.get(key) for key in (*INPUT_KEYS, *SECRET_KEYS)}
    if DESIRED_PROPERTIES_KEY in plain:
        inputs["properties"] = plain[DESIRED_PROPERTIES_KEY]
    elif plain.get(SERVER_PROPERTIES_KEY) is not None:
        # Outputs of a resource declared without properties (a resource group): `_outputs` drops the None
        # declaration, and the `properties` left there are ARM's answer, which the program never declared.
        inputs["properties"] = None
    return inputs


def unwrap_secrets(value: Any) -> Any:
    """Drop Pulumi's secret envelopes, should the engine send any (dynamic providers do not accept secrets)."""
    if is_rpc_secret(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, Mapping):
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


class ArmResourceProvider(pulumi.dynamic.ResourceProvider):
    """Create, read, update and delete one ARM resource by id at the version in its props."""

    # A provider pickled into a stack's state before it had retry settings comes back without the instance
    # attribute (unpickling skips __init__); Delete and Read of such a resource use this class default.
    retry: RetrySettings = DEFAULT_RETRY

    def __init__(
        self, *, polling_interval: float = DEFAULT_POLLING_INTERVAL, retry: RetrySettings = DEFAULT_RETRY
    ) -> None:
        """`polling_interval` and `retry` are plain settings (pickled with the provider into the state)."""
        super().__init__()
        self.polling_interval = polling_interval
        self.retry = retry

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        return pulumi.dynamic.CheckResult(news, check_inputs(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        decision = decide_diff(olds, news)
        return pulumi.dynamic.DiffResult(
            changes=decision.changes,
            replaces=list(decision.replaces),
            stables=list(decision.stables),
            delete_before_replace=decision.delete_before_replace,
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        inputs = declared_inputs(props)
        resource_id = inputs["resource_id"]
        with self._client(inputs, "create") as client:
            server = _put(client, inputs, current=None)
        return pulumi.dynamic.CreateResult(resource_id, _outputs(inputs, server))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        inputs = declared_inputs(props)
        with self._client(inputs, "read", resource_id=id_) as client:
            server = _get(client, id_, inputs["api_version"])
        if server is None:
            # An empty id tells the engine the resource is gone.
            return pulumi.dynamic.ReadResult("", {})
        # The hub's values in the declared shape, as outputs (the engine's next Diff compares them with the
        # program) and as inputs (so its next Check starts from them too): a hand-made change shows as drift.
        current = refreshed_inputs(inputs, server)
        current_inputs = {key: value for key, value in current.items() if value is not None}
        return pulumi.dynamic.ReadResult(id_, _outputs(current, server), current_inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        inputs = declared_inputs(news)
        decision = decide_diff(olds, news)
        if not decision.arm_write:
            # Only credentials changed: nothing to send to ARM, but the outputs must carry the new ones,
            # because delete and refresh authenticate with the outputs.
            server_properties = olds.get(SERVER_PROPERTIES_KEY, olds.get("properties"))
            previous = {"properties": unwrap_secrets(server_properties), "etag": unwrap_secrets(olds.get("etag"))}
            return pulumi.dynamic.UpdateResult(_outputs(inputs, previous))
        with self._client(inputs, "update", resource_id=id_) as client:
            current = None
            if _server_owned_key(inputs) is not None:
                current = _get(client, id_, inputs["api_version"])
            server = _put(client, {**inputs, "resource_id": id_}, current=current)
        return pulumi.dynamic.UpdateResult(_outputs(inputs, server))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        inputs = declared_inputs(props)
        with self._client(inputs, "delete", resource_id=id_) as client, suppress(ResourceNotFoundError):
            client.resources.begin_delete_by_id(id_, api_version=inputs["api_version"]).result()

    @contextmanager
    def _client(
        self, inputs: Mapping[str, Any], operation: str, *, resource_id: str | None = None
    ) -> Iterator[ResourceManagementClient]:
        """A client for this one call; every azure-core error leaves as an ArmError."""
        target = resource_id or str(inputs["resource_id"])
        secret = str(inputs["client_secret"])
        declared = inputs.get("connection")
        endpoint = declared.get("arm_endpoint") if isinstance(declared, Mapping) else None
        try:
            connection = HubConnection.from_inputs(inputs["connection"])
            endpoints = discover_endpoints(connection.arm_endpoint, retry=self.retry)
            credential = build_credential(connection, secret, endpoints, retry=self.retry)
            client = management_client(
                connection, credential, endpoints, polling_interval=self.polling_interval, retry=self.retry
            )
            with ExitStack() as stack:
                if isinstance(credential, AbstractContextManager):
                    stack.enter_context(credential)
                yield stack.enter_context(client)
        except AzureError as error:
            raise ArmError.from_azure_error(
                error,
                operation=operation,
                resource_id=target,
                api_version=str(inputs["api_version"]),
                redact=[secret],
                retry=self.retry,
                endpoint=endpoint if isinstance(endpoint, str) else None,
            ) from None


def _put(
    client: ResourceManagementClient, inputs: Mapping[str, Any], *, current: Mapping[str, Any] | None
) -> dict[str, Any]:
    body = {key: inputs[key] for key in _BODY_KEYS if inputs.get(key) is not None}
    child_key = _server_owned_key(inputs)
    if current is not None and child_key is not None:
        declared = dict(body.get("properties") or {})
        server_children = (current.get("properties") or {}).get(child_key)
        if child_key not in declared and server_children is not None:
            declared[child_key] = server_children
            body["properties"] = declared
    poller = client.resources.begin_create_or_update_by_id(
        inputs["resource_id"], body, api_version=inputs["api_version"], cls=_raw_json
    )
    # With `cls=_raw_json` the poller's result is ARM's JSON, not the typed model.
    return cast(dict[str, Any], poller.result())


def _get(client: ResourceManagementClient, resource_id: str, api_version: str) -> dict[str, Any] | None:
    try:
        result = client.resources.get_by_id(resource_id, api_version=api_version, cls=_raw_json)
    except ResourceNotFoundError:
        return None
    return cast(dict[str, Any], result)


def _raw_json(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Any:
    """ARM's JSON as sent, which Pulumi can store as it is, rather than the SDK's GenericResource model."""
    return pipeline_response.http_response.json()


def _server_owned_key(inputs: Mapping[str, Any]) -> str | None:
    resource_type = _type_or_none(inputs.get("resource_id"))
    return SERVER_OWNED_CHILDREN.get(resource_type) if resource_type else None


def _outputs(inputs: Mapping[str, Any], server: Mapping[str, Any]) -> dict[str, Any]:
    outs = {key: inputs.get(key) for key in (*INPUT_KEYS, *SECRET_KEYS)}
    outs[DESIRED_PROPERTIES_KEY] = inputs.get("properties")
    # Under a key that is never an input: a preview of the Python dynamic provider echoes inputs as state, so
    # computed values (a public IP's address) read from here are unknown in preview, not missing.
    outs[SERVER_PROPERTIES_KEY] = dict(server.get("properties") or {})
    if server.get("etag"):
        outs["etag"] = server["etag"]
    return {key: value for key, value in outs.items() if value is not None}


def _connection_changes(old: Any, new: Any) -> tuple[list[str], list[str]]:
    """(locating keys, auth keys) of the connection that differ."""
    old_map = old if isinstance(old, Mapping) else {}
    new_map = new if isinstance(new, Mapping) else {}
    if contains_unknowns(new):
        return list(_CONNECTION_LOCATING_KEYS), []
    locating = [
        key for key in _CONNECTION_LOCATING_KEYS if not _same(old_map.get(key), new_map.get(key), _endpoint_or_id)
    ]
    auth = [key for key in _CONNECTION_AUTH_KEYS if not _same(old_map.get(key), new_map.get(key), _identity)]
    return locating, auth


def _forces_replacement(key: str, resource_type: str | None, old: Any, new: Any) -> bool:
    if key in ("resource_id", "location"):
        return True
    if key == "sku":
        return resource_type in SKU_REPLACES
    if key == "properties":
        return _create_only_changed(resource_type, old, new)
    return False


def _create_only_changed(resource_type: str | None, old: Any, new: Any) -> bool:
    keys = CREATE_ONLY_PROPERTIES.get(resource_type or "", ())
    old_map = old if isinstance(old, Mapping) else {}
    new_map = new if isinstance(new, Mapping) else {}
    # An unknown (preview) value never equals the old one, so it counts as a change.
    return any(old_map.get(key) != new_map.get(key) for key in keys)


def _same(old: Any, new: Any, normalise: Callable[[Any], Any]) -> bool:
    if contains_unknowns(new):
        return False
    return bool(normalise(old) == normalise(new))


def _identity(value: Any) -> Any:
    return value


def _casefold(value: Any) -> Any:
    # ARM ids are case-insensitive.
    return value.casefold() if isinstance(value, str) else value


def _location(value: Any) -> Any:
    # ARM treats "West Europe" and "westeurope" as the same location.
    return value.replace(" ", "").casefold() if isinstance(value, str) else value


def _empty_is_none(value: Any) -> Any:
    return None if value in (None, {}) else value


def _endpoint_or_id(value: Any) -> Any:
    return value.rstrip("/").casefold() if isinstance(value, str) else value


_NORMALISERS: Mapping[str, Callable[[Any], Any]] = {
    "resource_id": _casefold,
    "location": _location,
    "tags": _empty_is_none,
    "sku": _empty_is_none,
    "properties": _empty_is_none,
}


def _type_or_none(resource_id: Any) -> str | None:
    if not isinstance(resource_id, str):
        return None
    try:
        return resource_type_of(resource_id)
    except ValueError:
        return None


def _api_version_of(resource_id: str) -> str:
    return api_version_for(resource_type_of(resource_id))


class ArmResource(pulumi.dynamic.Resource):
    """One ARM resource on a hub, at the API version this project uses for its type (arm/api_versions.py).

    The Pulumi id is the ARM resource id. `properties` is the declared body, as given; `server_properties` is what
    ARM returned (computed values such as a public IP's `ipAddress` and `provisioningState` included).
    """

    resource_id: pulumi.Output[str]
    api_version: pulumi.Output[str]
    location: pulumi.Output[str | None]
    tags: pulumi.Output[dict[str, str] | None]
    sku: pulumi.Output[dict[str, Any] | None]
    kind: pulumi.Output[str | None]
    properties: pulumi.Output[dict[str, Any] | None]
    """The declared properties (the ARM request body's `properties`)."""
    server_properties: pulumi.Output[dict[str, Any]]
    """What ARM returned, computed values included; unknown until the resource exists."""
    etag: pulumi.Output[str | None]
    connection: pulumi.Output[dict[str, str]]
    client_secret: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        connection: HubConnection,
        client_secret: pulumi.Input[str],
        resource_id: pulumi.Input[str],
        location: pulumi.Input[str] | None = None,
        tags: pulumi.Input[Mapping[str, str]] | None = None,
        sku: pulumi.Input[Mapping[str, Any]] | None = None,
        properties: pulumi.Input[Mapping[str, Any]] | None = None,
        kind: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`kind` is the top-level ARM `kind` some types need (storage accounts: `StorageV2`)."""
        props: dict[str, Any] = {
            "resource_id": resource_id,
            "api_version": pulumi.Output.from_input(resource_id).apply(_api_version_of),
            "location": location,
            "tags": tags,
            "sku": sku,
            "kind": kind,
            "properties": properties,
            "connection": connection.to_inputs(),
            "client_secret": pulumi.Output.secret(client_secret),
            "etag": None,
            SERVER_PROPERTIES_KEY: None,
        }
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["client_secret"])
        super().__init__(
            ArmResourceProvider(),
            resource_name,
            props,
            pulumi.ResourceOptions.merge(opts, secret_opts),
        )
