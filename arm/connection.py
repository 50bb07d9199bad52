"""How to reach and authenticate to one Azure Stack Hub's ARM endpoint.

Retries: every call to a hub (metadata, tokens, ARM requests and long-running operation polls) is retried by
azure-core's `RetryPolicy`, configured from one `RetrySettings` (`DEFAULT_RETRY`). Nothing in this project loops
around a call on its own: a call that still fails when the policy gives up raises, and `arm.errors.ArmError`
says what failed, how often it was retried and what to do.

Trust: a hub's endpoints often carry certificates from an enterprise root CA. Every HTTP call made here (the
metadata request, the token requests of azure-identity, the ARM calls) goes through azure-core's requests
transport with environment settings on, so setting `REQUESTS_CA_BUNDLE` to a PEM bundle that holds the hub's
root CA makes them all trust it. Nothing here disables certificate checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.policies import RetryPolicy
from azure.core.rest import HttpRequest

if TYPE_CHECKING:
    from azure.mgmt.resource.resources import ResourceManagementClient

IdentitySystem = Literal["azure_ad", "adfs"]
IDENTITY_SYSTEMS: tuple[IdentitySystem, ...] = ("azure_ad", "adfs")

METADATA_API_VERSION = "2015-01-01"
ADFS_TENANT = "adfs"

# Seconds between LRO status polls when ARM sends no Retry-After (azure-mgmt's default is 30).
DEFAULT_POLLING_INTERVAL = 10.0

# azure-core 1.41 retries these statuses (`azure/core/pipeline/policies/_retry.py` RetryPolicy: `_RETRY_CODES`, which
# also holds 506 to 998, hub answers never seen) and any answer that carries Retry-After (`is_retry`); 409, 401 and
# 400 without Retry-After are final.
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetrySettings:
    """How azure-core's RetryPolicy retries every call to a hub: the one place these numbers live.

    A request is retried while no count is used up: `status` bounds the retries of answers in `RETRIED_STATUSES`
    (so a hub answering 500 forever gets 1 + `status` requests), `connect` of connections that could not be made,
    `read` of connections that broke before an answer, and `total` all of them together. Between attempts the
    policy waits the answer's `Retry-After` when it has one (ARM sends it when it throttles), otherwise
    `backoff_factor * 2 ** (n - 1)` seconds before the n-th retry after the first (the first is immediate), at
    most `backoff_max`. The defaults are azure-core's own, written out so that a change is visible here.
    """

    total: int = 10
    connect: int = 3
    read: int = 3
    status: int = 3
    backoff_factor: float = 0.8
    backoff_max: float = 120.0

    def __post_init__(self) -> None:
        for name in ("total", "connect", "read", "status"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetrySettings.{name} must be 0 or more, got {getattr(self, name)}")
        if self.backoff_factor < 0 or self.backoff_max < 0:
            raise ValueError("RetrySettings.backoff_factor and backoff_max must be 0 or more")

    def policy_options(self) -> dict[str, Any]:
        """The `retry_*` keyword arguments of azure-core's RetryPolicy (and of the clients that build one)."""
        return {
            "retry_total": self.total,
            "retry_connect": self.connect,
            "retry_read": self.read,
            "retry_status": self.status,
            "retry_backoff_factor": self.backoff_factor,
            "retry_backoff_max": self.backoff_max,
        }

    def policy(self) -> RetryPolicy[Any, Any]:
        return RetryPolicy(**self.policy_options())

    def retries_of(self, failure: Literal["status", "connect", "read"]) -> int:
        """How many retries the policy allows for one kind of failure: an answer in `RETRIED_STATUSES`, a
        connection that could not be made, or one that broke before the answer."""
        counts = {"status": self.status, "connect": self.connect, "read": self.read}
        return min(self.total, counts[failure])


DEFAULT_RETRY = RetrySettings()


@dataclass(frozen=True)
class HubConnection:
    """Where a hub's ARM is and which service principal talks to it. Holds no secret."""

    arm_endpoint: str
    """`https://management.<region>.<fqdn>`; a trailing slash is dropped."""
    tenant_id: str
    """Directory (tenant) id of the service principal; unused by AD FS, which has the fixed tenant `adfs`."""
    subscription_id: str
    """The hub user subscription the resources live in."""
    client_id: str
    """Application (client) id of the service principal."""
    identity_system: IdentitySystem
    """`azure_ad` (connected hubs) or `adfs` (disconnected hubs)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "arm_endpoint", self.arm_endpoint.rstrip("/"))
        if urlsplit(self.arm_endpoint).scheme != "https":
            raise ValueError(f"arm_endpoint must be an https URL: {self.arm_endpoint!r}")
        if self.identity_system not in IDENTITY_SYSTEMS:
            raise ValueError(f"identity_system must be one of {IDENTITY_SYSTEMS}: {self.identity_system!r}")
        for field in ("tenant_id", "subscription_id", "client_id"):
            if not getattr(self, field):
                raise ValueError(f"{field} must not be empty")

    def to_inputs(self) -> dict[str, str]:
        """Plain snake_case dict, as stored in a dynamic resource's inputs."""
        return asdict(self)

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> HubConnection:
        """Inverse of `to_inputs`; raises TypeError or ValueError naming a missing or invalid key."""
        values: dict[str, str] = {}
        for field in ("arm_endpoint", "tenant_id", "subscription_id", "client_id", "identity_system"):
            value = inputs.get(field)
            if not isinstance(value, str):
                raise TypeError(f"connection.{field} must be a string, got {type(value).__name__}")
            values[field] = value
        if values["identity_system"] not in IDENTITY_SYSTEMS:
            raise ValueError(f"connection.identity_system must be one of {IDENTITY_SYSTEMS}")
        return cls(
            arm_endpoint=values["arm_endpoint"],
            tenant_id=values["tenant_id"],
            subscription_id=values["subscription_id"],
            client_id=values["client_id"],
            identity_system=values["identity_system"],
        )


@dataclass(frozen=True)
class HubEndpoints:
    """What a hub's metadata endpoint says about authentication."""

    login_endpoint: str
    """`https://login.microsoftonline.com/` (Azure AD) or `https://adfs.<region>.<fqdn>/adfs/` (AD FS)."""
    audience: str
    """Token audience for ARM: `authentication.audiences[0]`."""


def discover_endpoints(arm_endpoint: str, *, timeout: float = 30, retry: RetrySettings = DEFAULT_RETRY) -> HubEndpoints:
    """Ask the hub: `GET {arm}/metadata/endpoints?api-version=2015-01-01`.

    The certificate of the hub is checked against the system store, or against the PEM bundle named by
    `REQUESTS_CA_BUNDLE` when it is set (hubs with an enterprise root CA need that).
    """
    base = arm_endpoint.rstrip("/")
    # The first call to a hub: at most one retry of a connection that cannot be made (an untrusted certificate
    # fails the same way and will not heal with waiting); answers are retried as everywhere else.
    options = {**retry.policy_options(), "retry_connect": min(retry.connect, 1)}
    client: PipelineClient[HttpRequest, Any] = PipelineClient(base, policies=[RetryPolicy(**options)])
    with client:
        request = HttpRequest("GET", f"{base}/metadata/endpoints", params={"api-version": METADATA_API_VERSION})
        response = client.send_request(request, connection_timeout=timeout, read_timeout=timeout)
        try:
            response.raise_for_status()
        except HttpResponseError as error:
            raise ValueError(f"{base}/metadata/endpoints answered HTTP {response.status_code}") from error
        body = response.json()
    try:
        authentication = body["authentication"]
        login_endpoint = str(authentication["loginEndpoint"])
        audience = str(authentication["audiences"][0])
    except (KeyError, IndexError, TypeError) as error:
        raise ValueError(f"{base}/metadata/endpoints has no authentication.loginEndpoint/audiences") from error
    return HubEndpoints(login_endpoint=login_endpoint, audience=audience)


def credential_settings(conn: HubConnection, endpoints: HubEndpoints) -> tuple[str, str, bool]:
    """(authority, tenant, disable_instance_discovery) for azure-identity.

    azure-identity appends the tenant to the authority, so the authority is the login endpoint's scheme and
    host only: for AD FS the `/adfs` path becomes the tenant, which is how MSAL recognises AD FS. Instance
    discovery asks public Azure to vouch for the authority; the authority here comes from the hub's own
    metadata over TLS, and a disconnected hub cannot reach public Azure, so discovery is always off.
    """
    parts = urlsplit(endpoints.login_endpoint)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"login endpoint must be an https URL: {endpoints.login_endpoint!r}")
    authority = f"https://{parts.netloc}"
    tenant = ADFS_TENANT if conn.identity_system == "adfs" else conn.tenant_id
    return authority, tenant, True


def build_credential(
    conn: HubConnection, client_secret: str, endpoints: HubEndpoints, *, retry: RetrySettings = DEFAULT_RETRY
) -> TokenCredential:
    """A service-principal credential for the hub's identity system; its token requests retry like ARM calls."""
    # Imported here: a program that only declares hub resources (every preview) never loads azure-identity.
    from azure.identity import ClientSecretCredential  # noqa: PLC0415

    authority, tenant, disable_instance_discovery = credential_settings(conn, endpoints)
    return ClientSecretCredential(
        tenant,
        conn.client_id,
        client_secret,
        authority=authority,
        disable_instance_discovery=disable_instance_discovery,
        **retry.policy_options(),
    )


def token_scope(endpoints: HubEndpoints) -> str:
    """The `.default` scope of the hub's ARM audience (audiences sometimes end with a slash)."""
    return f"{endpoints.audience.rstrip('/')}/.default"


def management_client(
    conn: HubConnection,
    credential: TokenCredential,
    endpoints: HubEndpoints,
    *,
    polling_interval: float = DEFAULT_POLLING_INTERVAL,
    retry: RetrySettings = DEFAULT_RETRY,
) -> ResourceManagementClient:
    """azure-mgmt-resource's client for the hub's ARM.

    Its pipeline retries as `retry` says (408/429/5xx and broken connections, honouring `Retry-After`); long-running
    operations follow `Azure-AsyncOperation`/`Location` and wait `Retry-After` or `polling_interval` between polls,
    each poll retried the same way. Its bearer-token policy asks for a new token four to five minutes before the
    one it holds expires, so a run longer than a token's lifetime needs no help.
    """
    from azure.mgmt.resource.resources import ResourceManagementClient  # noqa: PLC0415

    return ResourceManagementClient(
        credential,
        conn.subscription_id,
        base_url=conn.arm_endpoint,
        credential_scopes=[token_scope(endpoints)],
        polling_interval=polling_interval,
        retry_policy=retry.policy(),
    )
