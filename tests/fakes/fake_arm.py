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

Faults are injected with `inject`: throttling (429 with `Retry-After`), server errors (500, 503), a connection
dropped without an answer, a long-running operation that ends `Failed`, a 409 conflict and an access token the
hub stops accepting, each on the requests that match a method and a path, a given number of times:

    hub.inject("unavailable", times=None, method="PUT", path="/publicIPAddresses/")  # 503 forever
    hub.inject("throttle", retry_after=1)  # the next ARM request only
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import json
import re
import ssl
import tempfile
import threading
import time
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

Fault = Literal[
    "throttle", "server_error", "unavailable", "drop_connection", "operation_failed", "conflict", "token_expired"
]
FAULTS: tuple[Fault, ...] = (
    "throttle",
    "server_error",
    "unavailable",
    "drop_connection",
    "operation_failed",
    "conflict",
    "token_expired",
)
DROPPED = 0
"""The `status` recorded for a request whose connection the fake closed without an answer."""


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
    received_at: float = 0.0
    """`time.monotonic()` when the fake answered, to measure waits between a client's attempts."""
    fault: Fault | None = None
    """The injected fault that shaped this answer, if any."""


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
    drop: bool = False
    """Close the connection without sending anything (the client sees it dropped mid-request)."""
    fault: Fault | None = None


@dataclass
class Injection:
    """One injected fault: what it does, to which requests, how often; `hits` counts the requests it shaped."""

    fault: Fault
    times: int | None
    """How many matching requests it shapes; None: every one, until `FakeArm.clear_faults`."""
    method: str | None
    path: str | None
    """A regular expression searched (case-insensitively) in the request path; None matches every ARM path."""
    retry_after: int | None
    code: str
    message: str
    hits: int = 0

    def matches(self, request: _Request) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and request.method != self.method.upper():
            return False
        return self.path is None or re.search(self.path, request.path, re.IGNORECASE) is not None


@dataclass(frozen=True)
class _Grant:
    """An access token the fake issued: for which scope, and until when (`time.monotonic()`)."""

    scope: str
    expires_at: float


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
    failure: tuple[str, str] | None = None
    """(code, message) when the operation is to end `Failed`."""


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
        token_lifetime: int = 3600,
    ) -> None:
        """`token_lifetime`: seconds a token is announced (`expires_in`) and accepted for."""
        self.identity_system = identity_system
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.location = location
        self.in_progress_polls = in_progress_polls
        self.enforce_location_immutable = enforce_location_immutable
        self.token_lifetime = token_lifetime
        self.audience = "https://management.hub.fake/0f0e0d0c-0b0a-0908-0706-050403020100"

        self._lock = threading.Lock()
        self._resources: dict[str, _Resource] = {}
        self._operations: dict[str, _Operation] = {}
        self._tokens: dict[str, _Grant] = {}
        self._tokens_issued = 0
        self._requests: list[RecordedRequest] = []
        self._injections: list[Injection] = []
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
        self.inject("throttle", retry_after=retry_after)

    def inject(
        self,
        fault: Fault,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        retry_after: int | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> Injection:
        """Shape the next `times` ARM requests (None: all) matching `method` and the `path` regex with `fault`.

        - `throttle`: 429 `TooManyRequests` with `Retry-After` (`retry_after`, default 1 second).
        - `server_error`: 500 `InternalServerError`; `unavailable`: 503 `ServiceUnavailable` (with `Retry-After`
          only when `retry_after` is given).
        - `drop_connection`: the request is read, then the connection is closed without an answer.
        - `operation_failed`: a PUT or DELETE is accepted as usual, but its long-running operation ends `Failed`
          with `code` and `message` (default `InternalOperationError`) and the resource is left `Failed`.
        - `conflict`: 409 `AnotherOperationInProgress` (or `code`), as when another operation holds the resource.
        - `token_expired`: 401 `ExpiredAuthenticationToken`; the bearer token presented stops working for good.

        Operation polls are ARM requests too: a fault without `path` can hit them. Faults are checked in the
        order they were injected, before authentication.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        default_code, default_message = _FAULT_ERRORS[fault]
        injection = Injection(
            fault=fault,
            times=times,
            method=method,
            path=path,
            retry_after=retry_after if retry_after is not None else (1 if fault == "throttle" else None),
            code=code or default_code,
            message=message or default_message,
        )
        with self._lock:
            self._injections.append(injection)
        return injection

    def clear_faults(self) -> None:
        """Stop every injected fault (the hub recovers)."""
        with self._lock:
            self._injections.clear()

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

    def requests_to(self, resource_id: str, method: str | None = None) -> list[RecordedRequest]:
        """Requests on one resource id (any case), optionally of one method: what a client sent, retries included."""
        wanted = _key(resource_id)
        return [request for request in self.arm_requests(method) if _key(request.path) == wanted]

    @property
    def polls(self) -> list[RecordedRequest]:
        """Requests on long-running operations' status URLs."""
        return [
            request
            for request in self.requests
            if "/operations/" in request.path or "/operationresults/" in request.path.lower()
        ]

    @property
    def throttled(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.status == 429]

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return self._tokens_issued

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
                    status=DROPPED if response.drop else response.status,
                    body=None if request.path == self._token_path() else _json_or_none(request.body),
                    response=response.body,
                    received_at=time.monotonic(),
                    fault=response.fault,
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
        injection = next((found for found in self._injections if found.matches(request)), None)
        if injection is not None:
            injection.hits += 1
            if injection.fault != "operation_failed":
                return self._faulty_answer(injection, request)
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if "/operations/" in request.path or "/operationResults/" in request.path:
            return self._poll_operation(request)
        response = self._resource_request(request)
        if injection is not None:
            self._fail_operation_of(response, injection)
        return response

    def _faulty_answer(self, injection: Injection, request: _Request) -> _Response:
        if injection.fault == "drop_connection":
            return _Response(0, drop=True, fault=injection.fault)
        if injection.fault == "token_expired":
            _, _, token = request.headers.get("Authorization", "").partition(" ")
            self._tokens.pop(token, None)
        status = _FAULT_STATUS[injection.fault]
        response = _error(status, injection.code, injection.message)
        response.fault = injection.fault
        if injection.retry_after is not None:
            response.headers["Retry-After"] = str(injection.retry_after)
        if injection.fault == "token_expired":
            response.headers["WWW-Authenticate"] = (
                f'Bearer authorization_uri="{self.login_endpoint}", error="invalid_token", '
                'error_description="The access token has expired."'
            )
        return response

    def _fail_operation_of(self, response: _Response, injection: Injection) -> None:
        """Make the long-running operation a write just started end `Failed`."""
        url = response.headers.get("Azure-AsyncOperation") or response.headers.get("Location")
        if url is None:
            return
        operation = self._operations[urlsplit(url).path.rsplit("/", 1)[1]]
        operation.failure = (injection.code, injection.message)
        response.fault = injection.fault

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
        self._tokens[token] = _Grant(form.get("scope", ""), time.monotonic() + self.token_lifetime)
        self._tokens_issued += 1
        return _Response(200, {"token_type": "Bearer", "access_token": token, "expires_in": self.token_lifetime})

    def _authenticate(self, request: _Request) -> _Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self._tokens:
            return _error(401, "AuthenticationFailed", "Authentication failed. The bearer token is missing or invalid.")
        if self._tokens[token].expires_at <= time.monotonic():
            return _error(401, "ExpiredAuthenticationToken", _FAULT_ERRORS["token_expired"][1])
        if f"{self.audience}/.default" not in self._tokens[token].scope.split():
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
        if operation.failure is not None:
            return self._failed_operation(operation, *operation.failure)
        self._finish(operation)
        if operation.kind == "delete":
            return _Response(204)
        return _Response(200, {"status": "Succeeded"})

    def _failed_operation(self, operation: _Operation, code: str, message: str) -> _Response:
        resource = self._resources.get(operation.resource_key)
        if resource is not None:
            resource.provisioning_state = "Failed"
        error = {"code": code, "message": message}
        if operation.kind == "delete":
            # A Location operation reports its failure as the status of the final poll, with ARM's error body.
            return _Response(409, {"error": error})
        return _Response(200, {"status": "Failed", "error": error})

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
        if response.drop:
            # Read, then gone: the client's request reached the server, and no answer will come.
            self.close_connection = True
            return
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


_FAULT_STATUS: Mapping[Fault, int] = {
    "throttle": 429,
    "server_error": 500,
    "unavailable": 503,
    "conflict": 409,
    "token_expired": 401,
}
_FAULT_ERRORS: Mapping[Fault, tuple[str, str]] = {
    "throttle": ("TooManyRequests", "The request is being throttled."),
    "server_error": ("InternalServerError", "Encountered internal server error. Diagnostic information: fake."),
    "unavailable": ("ServiceUnavailable", "The server is currently unable to handle the request."),
    "drop_connection": ("", ""),
    "operation_failed": ("InternalOperationError", "The operation failed on the hub: fake fault injected."),
    "conflict": (
        "AnotherOperationInProgress",
        "Another operation on this or dependent resource is in progress. Retry the request after it finishes.",
    ),
    "token_expired": (
        "ExpiredAuthenticationToken",
        "The access token expiry UTC time is earlier than current UTC time.",
    ),
}


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
