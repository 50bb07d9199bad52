"""A fake Azure Stack Hub over HTTPS on 127.0.0.1: ARM, its metadata endpoint and a token issuer.

It behaves like a hub where the project depends on it: only the API versions of the hub's profiles are served
(others get HTTP 400 `NoRegisteredProviderFound`), writes are long-running operations polled through
`Azure-AsyncOperation` or `Location`, ARM calls need a bearer token for the hub's audience, and a token needs
the right client id and secret. Its version table is its own, written from the hub documentation, so a test
that passes proves the project's versions against a hub's, not against themselves.

    with FakeArm(identity_system="adfs") as hub:
        os.environ["REQUESTS_CA_BUNDLE"] = hub.ca_path
        ...  # talk to hub.base_url
        hub.arm_requests("PUT")
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import json
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# What a hub on profiles 2019-03-01-hybrid and 2020-09-01-hybrid serves, by lower-cased resource type.
HUB_API_VERSIONS: Mapping[str, tuple[str, ...]] = {
    "microsoft.resources/resourcegroups": ("2016-06-01", "2018-05-01", "2019-10-01"),
    "microsoft.network/virtualnetworks": ("2017-10-01", "2018-11-01"),
    "microsoft.network/virtualnetworks/subnets": ("2017-10-01", "2018-11-01"),
    "microsoft.network/networksecuritygroups": ("2017-10-01", "2018-11-01"),
    "microsoft.network/networkinterfaces": ("2017-10-01", "2018-11-01"),
    "microsoft.network/publicipaddresses": ("2017-10-01", "2018-11-01"),
    "microsoft.network/routetables": ("2017-10-01", "2018-11-01"),
    "microsoft.network/loadbalancers": ("2017-10-01", "2018-11-01"),
    "microsoft.compute/virtualmachines": ("2017-12-01", "2020-06-01"),
    "microsoft.compute/virtualmachines/extensions": ("2017-12-01", "2020-06-01"),
    "microsoft.compute/availabilitysets": ("2017-12-01", "2020-06-01"),
    "microsoft.compute/disks": ("2017-03-30", "2019-07-01"),
    "microsoft.storage/storageaccounts": ("2017-10-01", "2019-06-01"),
    "microsoft.keyvault/vaults": ("2016-10-01", "2019-09-01"),
}

METADATA_API_VERSION = "2015-01-01"
DEFAULT_CLIENT_SECRET = "fake-secret-value"
TEST_NET = ipaddress.ip_network("203.0.113.0/24")  # RFC 5737 documentation range
_INLINE_CHILDREN = {"microsoft.network/virtualnetworks": "subnets"}
# Collections ARM keeps inside the parent's body but answers with read-only fields on every item (id, etag, type,
# provisioningState), as a hub does for an NSG's rules and a route table's routes.
_DECORATED_ITEMS = {
    "microsoft.network/networksecuritygroups": "securityRules",
    "microsoft.network/routetables": "routes",
}
# Every NSG answers with the platform's rules under `defaultSecurityRules` (read-only, never declared).
_DEFAULT_SECURITY_RULES = (
    ("AllowVnetInBound", "Inbound", "Allow", 65000),
    ("AllowAzureLoadBalancerInBound", "Inbound", "Allow", 65001),
    ("DenyAllInBound", "Inbound", "Deny", 65500),
    ("AllowVnetOutBound", "Outbound", "Allow", 65000),
    ("AllowInternetOutBound", "Outbound", "Allow", 65001),
    ("DenyAllOutBound", "Outbound", "Deny", 65500),
)

IdentitySystem = Literal["azure_ad", "adfs"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake answered."""

    method: str
    path: str
    api_version: str | None
    status: int
    body: Any = None
    """The JSON request body (never recorded for token requests, which carry the secret)."""
    response: Any = None
    """The JSON response body."""


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Resource:
    id: str
    type: str
    location: str | None
    tags: dict[str, str] | None
    sku: dict[str, Any] | None
    kind: str | None
    properties: dict[str, Any]
    etag: str | None
    provisioning_state: str = "Succeeded"


@dataclass
class _Operation:
    resource_key: str
    kind: Literal["put", "delete"]
    polls_left: int


@dataclass(frozen=True)
class _ArmPath:
    """A parsed resource path: subscription, optional resource group, type and the parent's key, if any."""

    key: str
    id: str
    subscription: str
    resource_group: str | None
    type: str
    name: str
    parent_key: str | None


class FakeArm:
    """The fake hub. Thread-safe: the HTTP server answers on its own threads."""

    def __init__(
        self,
        *,
        identity_system: IdentitySystem = "azure_ad",
        tenant_id: str = "11111111-2222-3333-4444-555555555555",
        client_id: str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        client_secret: str = DEFAULT_CLIENT_SECRET,
        location: str = "local",
        in_progress_polls: int = 2,
        enforce_location_immutable: bool = True,
    ) -> None:
        self.identity_system = identity_system
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.location = location
        self.in_progress_polls = in_progress_polls
        self.enforce_location_immutable = enforce_location_immutable
        self.audience = "https://management.hub.fake/0f0e0d0c-0b0a-0908-0706-050403020100"

        self._lock = threading.Lock()
        self._resources: dict[str, _Resource] = {}
        self._operations: dict[str, _Operation] = {}
        self._tokens: dict[str, str] = {}
        self._requests: list[RecordedRequest] = []
        self._throttle_retry_after: int | None = None
        self._addresses = itertools.islice(TEST_NET.hosts(), 4, None)
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.ca_path = ""
        self.base_url = ""

    # --- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> FakeArm:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._tempdir = tempfile.TemporaryDirectory(prefix="fake-arm-")
        ca_path, cert_path, key_path = _write_certificates(Path(self._tempdir.name))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        server = _Server(self)
        # The handshake runs on the request's thread, not the accepting one.
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self.ca_path = str(ca_path)
        self.base_url = f"https://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-arm", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    # --- what tests configure and inspect --------------------------------------------------------------

    @property
    def login_endpoint(self) -> str:
        if self.identity_system == "adfs":
            return f"{self.base_url}/adfs/"
        return f"{self.base_url}/"

    def throttle_next(self, retry_after: int = 1) -> None:
        """Answer the next ARM request with 429 and `Retry-After`, once."""
        with self._lock:
            self._throttle_retry_after = retry_after

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def arm_requests(self, method: str | None = None) -> list[RecordedRequest]:
        """Requests on ARM resources (not tokens, metadata or operation polls), optionally of one method."""
        return [
            request
            for request in self.requests
            if request.path.lower().startswith("/subscriptions/")
            and "/operations/" not in request.path
            and "/operationresults/" not in request.path.lower()
            and (method is None or request.method == method)
        ]

    @property
    def throttled(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.status == 429]

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return len(self._tokens)

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        """The resource as ARM would return it, or None."""
        with self._lock:
            found = self._resources.get(_key(resource_id))
            return None if found is None else self._render(found)

    def change_by_hand(self, resource_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Change a stored resource the way someone in the portal would: `change` edits a dict with the keys
        `location`, `tags`, `sku`, `kind` and `properties` in place. No request is recorded; the etag changes."""
        with self._lock:
            found = self._resources[_key(resource_id)]
            editable: dict[str, Any] = {
                "location": found.location,
                "tags": found.tags,
                "sku": found.sku,
                "kind": found.kind,
                "properties": found.properties,
            }
            change(editable)
            found.location = editable["location"]
            found.tags = editable["tags"]
            found.sku = editable["sku"]
            found.kind = editable["kind"]
            found.properties = editable["properties"]
            if found.etag is not None:
                found.etag = f'W/"{uuid.uuid4()}"'

    def delete_by_hand(self, resource_id: str) -> None:
        """Remove a stored resource and what lives inside it, without a request (deleted in the portal)."""
        with self._lock:
            self._finish(_Operation(_key(resource_id), "delete", 0))

    # --- request handling -------------------------------------------------------------------------------

    def handle(self, request: _Request) -> _Response:
        with self._lock:
            response = self._route(request)
            self._requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    api_version=request.query.get("api-version"),
                    status=response.status,
                    body=None if request.path == self._token_path() else _json_or_none(request.body),
                    response=response.body,
                )
            )
            return response

    def _route(self, request: _Request) -> _Response:
        identity_routes: dict[tuple[str, str], Callable[[], _Response]] = {
            ("GET", "/metadata/endpoints"): self._metadata,
            ("GET", self._discovery_path()): self._openid_configuration,
            ("POST", self._token_path()): lambda: self._issue_token(request),
        }
        identity_route = identity_routes.get((request.method, request.path))
        if identity_route is not None:
            return identity_route()
        if not request.path.lower().startswith("/subscriptions/"):
            return _error(404, "NotFound", f"no route for {request.method} {request.path}")
        return self._arm_request(request)

    def _arm_request(self, request: _Request) -> _Response:
        if self._throttle_retry_after is not None:
            retry_after, self._throttle_retry_after = self._throttle_retry_after, None
            response = _error(429, "TooManyRequests", "The request is being throttled.")
            response.headers["Retry-After"] = str(retry_after)
            return response
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if "/operations/" in request.path or "/operationResults/" in request.path:
            return self._poll_operation(request)
        return self._resource_request(request)

    # --- identity ---------------------------------------------------------------------------------------

    def _metadata(self) -> _Response:
        return _Response(
            200,
            {
                "galleryEndpoint": f"{self.base_url}/gallery/",
                "graphEndpoint": "https://graph.hub.fake/",
                "portalEndpoint": f"{self.base_url}/portal/",
                "authentication": {"loginEndpoint": self.login_endpoint, "audiences": [self.audience]},
            },
        )

    def _discovery_path(self) -> str:
        if self.identity_system == "adfs":
            return "/adfs/.well-known/openid-configuration"
        return f"/{self.tenant_id}/v2.0/.well-known/openid-configuration"

    def _token_path(self) -> str:
        if self.identity_system == "adfs":
            return "/adfs/oauth2/token"
        return f"/{self.tenant_id}/oauth2/v2.0/token"

    def _openid_configuration(self) -> _Response:
        issuer = f"{self.base_url}/adfs" if self.identity_system == "adfs" else f"{self.base_url}/{self.tenant_id}/v2.0"
        return _Response(
            200,
            {
                "issuer": issuer,
                "token_endpoint": f"{self.base_url}{self._token_path()}",
                "authorization_endpoint": f"{self.base_url}{self._token_path().replace('token', 'authorize')}",
            },
        )

    def _issue_token(self, request: _Request) -> _Response:
        form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return _Response(400, {"error": "unsupported_grant_type"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _Response(
                401, {"error": "invalid_client", "error_description": "Invalid client id or client secret."}
            )
        token = f"fake-token-{uuid.uuid4().hex}"
        self._tokens[token] = form.get("scope", "")
        return _Response(200, {"token_type": "Bearer", "access_token": token, "expires_in": 3600})

    def _authenticate(self, request: _Request) -> _Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self._tokens:
            return _error(401, "AuthenticationFailed", "Authentication failed. The bearer token is missing or invalid.")
        if f"{self.audience}/.default" not in self._tokens[token].split():
            return _error(401, "InvalidAuthenticationTokenAudience", "The access token has an invalid audience.")
        return None

    # --- ARM resources ----------------------------------------------------------------------------------

    def _resource_request(self, request: _Request) -> _Response:
        try:
            arm_path = _parse_arm_path(request.path)
        except ValueError as error:
            return _error(400, "InvalidResourceId", str(error))
        unsupported = self._unsupported_version(arm_path, request.query.get("api-version"))
        if unsupported is not None:
            return unsupported
        if request.method == "GET":
            return self._get(arm_path)
        if request.method == "PUT":
            return self._put(arm_path, _json_or_none(request.body) or {})
        if request.method == "DELETE":
            return self._delete(arm_path)
        return _error(405, "MethodNotAllowed", f"{request.method} is not supported")

    def _unsupported_version(self, arm_path: _ArmPath, api_version: str | None) -> _Response | None:
        supported = HUB_API_VERSIONS.get(arm_path.type.lower())
        if supported is None:
            return _error(400, "InvalidResourceType", f"The resource type '{arm_path.type}' could not be found.")
        if api_version in supported:
            return None
        short_type = arm_path.type.split("/", 1)[1]
        return _error(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{self.location}' and API version "
            f"'{api_version}' for type '{short_type}'. The supported api-versions are '{', '.join(supported)}'. "
            f"The supported locations are '{self.location}'.",
        )

    def _get(self, arm_path: _ArmPath) -> _Response:
        found = self._resources.get(arm_path.key)
        if found is None:
            return self._not_found(arm_path)
        return _Response(200, self._render(found))

    def _put(self, arm_path: _ArmPath, body: dict[str, Any]) -> _Response:
        missing = self._missing_container(arm_path)
        if missing is not None:
            return missing
        existing = self._resources.get(arm_path.key)
        location = body.get("location")
        is_group = arm_path.type == "Microsoft.Resources/resourceGroups"
        if arm_path.parent_key is None and not location:
            return _error(400, "LocationRequired", "The location property is required for this definition.")
        conflict = self._location_conflict(arm_path, existing, location)
        if conflict is not None:
            return conflict
        resource = self._store(arm_path, body, existing)
        if is_group:
            return _Response(200 if existing else 201, self._render(resource))
        resource.provisioning_state = "Updating"
        operation_id = self._start_operation(arm_path.key, "put")
        url = self._operation_url(arm_path, operation_id, "operations")
        return _Response(200 if existing else 201, self._render(resource), {"Azure-AsyncOperation": url})

    def _location_conflict(
        self, arm_path: _ArmPath, existing: _Resource | None, location: str | None
    ) -> _Response | None:
        """ARM cannot move a resource: a PUT with another location for an existing id is refused."""
        if existing is None or not location or not existing.location or not self.enforce_location_immutable:
            return None
        if _location_key(location) == _location_key(existing.location):
            return None
        return _error(
            400,
            "InvalidResourceLocation",
            f"The resource '{arm_path.name}' already exists in location '{existing.location}' in resource group "
            f"'{arm_path.resource_group}'. A resource with the same name cannot be created in location "
            f"'{location}'. Please select a new resource name.",
        )

    def _store(self, arm_path: _ArmPath, body: dict[str, Any], existing: _Resource | None) -> _Resource:
        properties = dict(body.get("properties") or {})
        properties.pop("provisioningState", None)
        if arm_path.type == "Microsoft.Network/publicIPAddresses":
            self._allocate_address(properties, existing)
        resource = _Resource(
            id=existing.id if existing else arm_path.id,
            type=arm_path.type,
            location=body.get("location"),
            tags=body.get("tags"),
            sku=body.get("sku"),
            kind=body.get("kind"),
            properties=properties,
            etag=None if arm_path.type == "Microsoft.Resources/resourceGroups" else f'W/"{uuid.uuid4()}"',
        )
        self._resources[arm_path.key] = resource
        self._replace_inline_children(arm_path, resource)
        return resource

    def _allocate_address(self, properties: dict[str, Any], existing: _Resource | None) -> None:
        if str(properties.get("publicIPAllocationMethod", "")).lower() != "static":
            return
        previous = existing.properties.get("ipAddress") if existing else None
        properties["ipAddress"] = previous or str(next(self._addresses))

    def _replace_inline_children(self, arm_path: _ArmPath, parent: _Resource) -> None:
        """A VNet PUT lists its subnets: ones it leaves out are deleted, new ones are created (as ARM does)."""
        child_key = _INLINE_CHILDREN.get(arm_path.type.lower())
        if child_key is None:
            return
        declared = parent.properties.pop(child_key, None) or []
        names = {str(entry.get("name", "")).lower(): entry for entry in declared if isinstance(entry, dict)}
        child_type = f"{arm_path.type}/{child_key}"
        prefix = f"{arm_path.key}/{child_key}/"
        for key in [key for key in self._resources if key.startswith(prefix) and key.count("/") == prefix.count("/")]:
            if key.rsplit("/", 1)[1] not in names:
                del self._resources[key]
        for name, entry in names.items():
            key = prefix + name
            properties = dict(entry.get("properties") or {})
            properties.pop("provisioningState", None)
            self._resources[key] = _Resource(
                id=f"{parent.id}/{child_key}/{entry.get('name')}",
                type=child_type,
                location=None,
                tags=None,
                sku=None,
                kind=None,
                properties=properties,
                etag=f'W/"{uuid.uuid4()}"',
            )

    def _delete(self, arm_path: _ArmPath) -> _Response:
        found = self._resources.get(arm_path.key)
        if found is None:
            return self._not_found(arm_path)
        found.provisioning_state = "Deleting"
        operation_id = self._start_operation(arm_path.key, "delete")
        url = self._operation_url(arm_path, operation_id, "operationResults")
        return _Response(202, None, {"Location": url})

    def _missing_container(self, arm_path: _ArmPath) -> _Response | None:
        if arm_path.resource_group is not None and arm_path.type != "Microsoft.Resources/resourceGroups":
            group_key = f"/subscriptions/{arm_path.subscription}/resourcegroups/{arm_path.resource_group}".lower()
            if group_key not in self._resources:
                return _error(
                    404, "ResourceGroupNotFound", f"Resource group '{arm_path.resource_group}' could not be found."
                )
        if arm_path.parent_key is not None and arm_path.parent_key not in self._resources:
            parent_name = arm_path.parent_key.rsplit("/", 1)[1]
            return _error(
                404,
                "ParentResourceNotFound",
                f"Failed to perform 'write' on resource(s) of type '{arm_path.type}', because the parent "
                f"resource '{parent_name}' could not be found.",
            )
        return None

    def _not_found(self, arm_path: _ArmPath) -> _Response:
        if arm_path.type == "Microsoft.Resources/resourceGroups":
            return _error(404, "ResourceGroupNotFound", f"Resource group '{arm_path.name}' could not be found.")
        return _error(
            404,
            "ResourceNotFound",
            f"The Resource '{arm_path.type}/{arm_path.name}' under resource group "
            f"'{arm_path.resource_group}' was not found.",
        )

    # --- long-running operations ------------------------------------------------------------------------

    def _start_operation(self, resource_key: str, kind: Literal["put", "delete"]) -> str:
        operation_id = str(uuid.uuid4())
        self._operations[operation_id] = _Operation(resource_key, kind, self.in_progress_polls)
        return operation_id

    def _operation_url(self, arm_path: _ArmPath, operation_id: str, collection: str) -> str:
        namespace = arm_path.type.split("/", 1)[0]
        return (
            f"{self.base_url}/subscriptions/{arm_path.subscription}/providers/{namespace}/locations/"
            f"{self.location}/{collection}/{operation_id}?api-version=2018-11-01"
        )

    def _poll_operation(self, request: _Request) -> _Response:
        operation_id = request.path.rsplit("/", 1)[1]
        operation = self._operations.get(operation_id)
        if operation is None:
            return _error(404, "OperationNotFound", f"Operation {operation_id} was not found.")
        if operation.polls_left > 0:
            operation.polls_left -= 1
            if operation.kind == "delete":
                return _Response(202, None, {"Location": f"{self.base_url}{request.path}?api-version=2018-11-01"})
            return _Response(200, {"status": "InProgress"})
        self._finish(operation)
        if operation.kind == "delete":
            return _Response(204)
        return _Response(200, {"status": "Succeeded"})

    def _finish(self, operation: _Operation) -> None:
        if operation.kind == "put":
            resource = self._resources.get(operation.resource_key)
            if resource is not None:
                resource.provisioning_state = "Succeeded"
            return
        # Deleting a resource deletes what lives inside it (children, or a group's resources).
        prefix = operation.resource_key + "/"
        for key in [key for key in self._resources if key == operation.resource_key or key.startswith(prefix)]:
            del self._resources[key]

    def _render(self, resource: _Resource) -> dict[str, Any]:
        properties = {**resource.properties, "provisioningState": resource.provisioning_state}
        key = _key(resource.id)
        child_key = _INLINE_CHILDREN.get(resource.type.lower())
        if child_key is not None:
            prefix = f"{key}/{child_key}/"
            properties[child_key] = [
                self._render(child)
                for child_key_, child in sorted(self._resources.items())
                if child_key_.startswith(prefix) and child_key_.count("/") == prefix.count("/")
            ]
        decorated_key = _DECORATED_ITEMS.get(resource.type.lower())
        if decorated_key is not None and isinstance(properties.get(decorated_key), list):
            properties[decorated_key] = [
                _decorate_item(resource, decorated_key, item) for item in properties[decorated_key]
            ]
        if resource.type.lower() == "microsoft.network/networksecuritygroups":
            properties["defaultSecurityRules"] = _default_security_rules(resource)
        rendered: dict[str, Any] = {
            "id": resource.id,
            "name": resource.id.rsplit("/", 1)[1],
            "type": resource.type,
            "properties": properties,
        }
        optional = {
            "location": resource.location,
            "tags": resource.tags,
            "sku": resource.sku,
            "kind": resource.kind,
            "etag": resource.etag,
        }
        rendered.update({name: value for name, value in optional.items() if value is not None})
        return rendered


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeArm) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    timeout = 10  # idle keep-alive connections end on their own

    def do_GET(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = _Request(
            method=self.command,
            path="/" + split.path.lstrip("/"),  # the SDK joins "/{resourceId}" into a leading "//"
            query={key: values[0] for key, values in parse_qs(split.query).items()},
            headers=dict(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
        )
        response = self.server.fake.handle(request)
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on `FakeArm.requests` instead."""


def _decorate_item(parent: _Resource, collection: str, item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    name = str(item.get("name", ""))
    return {
        **item,
        "id": f"{parent.id}/{collection}/{name}",
        "etag": parent.etag,
        "type": f"{parent.type}/{collection}",
        "properties": {**(item.get("properties") or {}), "provisioningState": parent.provisioning_state},
    }


def _default_security_rules(nsg: _Resource) -> list[dict[str, Any]]:
    return [
        _decorate_item(
            nsg,
            "defaultSecurityRules",
            {
                "name": name,
                "properties": {
                    "protocol": "*",
                    "sourcePortRange": "*",
                    "destinationPortRange": "*",
                    "sourceAddressPrefix": "VirtualNetwork" if "Vnet" in name else "*",
                    "destinationAddressPrefix": "*",
                    "access": access,
                    "priority": priority,
                    "direction": direction,
                },
            },
        )
        for name, direction, access, priority in _DEFAULT_SECURITY_RULES
    ]


def _parse_arm_path(path: str) -> _ArmPath:
    resource_id = "/" + path.strip("/")
    segments = resource_id[1:].split("/")
    lowered = [segment.lower() for segment in segments]
    if len(segments) < 4 or lowered[0] != "subscriptions" or lowered[2] != "resourcegroups":
        raise ValueError(f"The resource id '{path}' is not in a resource group.")
    subscription, group = segments[1], segments[3]
    if len(segments) == 4:
        return _ArmPath(_key(path), resource_id, subscription, group, "Microsoft.Resources/resourceGroups", group, None)
    if lowered[4] != "providers" or len(segments) < 8 or len(segments) % 2 != 0:
        raise ValueError(f"The resource id '{path}' is malformed.")
    namespace, pairs = segments[5], segments[6:]
    types, names = pairs[0::2], pairs[1::2]
    parent_key = _key("/" + "/".join(segments[:-2])) if len(types) > 1 else None
    return _ArmPath(_key(path), resource_id, subscription, group, "/".join([namespace, *types]), names[-1], parent_key)


def _key(resource_id: str) -> str:
    return "/" + resource_id.strip("/").lower()


def _location_key(location: str) -> str:
    return location.replace(" ", "").lower()


def _error(status: int, code: str, message: str) -> _Response:
    return _Response(status, {"error": {"code": code, "message": message}})


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


def _write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway root CA and a server certificate it signed, for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-arm test root CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    cert_path = directory / "server.pem"
    key_path = directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_path, cert_path, key_path
