"""The shipped hubs behind an egress proxy, run offline: what the stack tests and the checkov scan look at.

Each hub keeps its stack file and adds `egressProxy` and `egressNodeImage` as config overrides (as
tests/stacks/test_hub_egress.py does), so what differs from the shipped preview is only the proxy:

- hub-seattle (ACME, log shipping and backups on): a proxy by IP address that inspects TLS (`trustedCa`), its node
  configurator image from a mirror listed in `noProxy`; `backupEgress` is left out (the backups then go through the
  proxy, and the two together are refused);
- hub-denver (disconnected: nothing but the nodes and AKS Engine call out): a proxy by DNS name with its
  `addresses`, without a CA, its node image from another mirror listed in `noProxy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planning.egress import effective_no_proxy
from preview.engine import StackRun
from tests.conftest import config_of, run_with
from tests.egress.certs import certificate_pem

SECRETS = frozenset({"armClientSecret", "dnsSolverClientSecret", "backupVerificationKey"})
"""The hub stacks' secret keys (the stack files' `secure:` values)."""
CA = certificate_pem("Contoso Egress Inspection CA")
PASSWORD = "Pr0xyS3cret"
"""The proxy password of the credentialed case: it must appear nowhere but in Pulumi secrets."""


@dataclass(frozen=True)
class EgressHub:
    """One hub's proxy, as configured."""

    stack: str
    host: str
    """The proxy's host in its URL: an IPv4 address or a DNS name."""
    port: int
    mirror: str
    """The registry in `egressProxy.noProxy` the node configurator's image comes from."""
    addresses: tuple[str, ...] = ()
    """`egressProxy.addresses`, for a proxy named by DNS name."""
    trusted_ca: str | None = None
    credentials: bool = False
    """Whether the proxy URL carries a user and `PASSWORD` (`egressProxy` is then a secret)."""

    @property
    def proxy_url(self) -> str:
        """`egressProxy.httpProxy` (and so the HTTPS proxy too)."""
        user = f"svc-egress:{PASSWORD}@" if self.credentials else ""
        return f"http://{user}{self.host}:{self.port}"

    @property
    def proxy_cidrs(self) -> tuple[str, ...]:
        """Where the NetworkPolicies must let the callers reach the proxy."""
        return self.addresses or (f"{self.host}/32",)

    @property
    def node_image(self) -> str:
        return f"{self.mirror}/library/python:3.12.8-slim"

    def config(self, *, node_image: str | None = None) -> dict[str, Any]:
        """The stack file's config with the proxy (unprefixed keys)."""
        proxy: dict[str, Any] = {"httpProxy": self.proxy_url, "noProxy": [self.mirror]}
        if self.addresses:
            proxy["addresses"] = list(self.addresses)
        if self.trusted_ca is not None:
            proxy["trustedCa"] = self.trusted_ca
        return config_of(self.stack, egressProxy=proxy, egressNodeImage=node_image or self.node_image,
                         backupEgress=None)  # fmt: skip


SEATTLE = EgressHub("hub-seattle", "10.250.0.10", 3128, "mirror.contoso.com", trusted_ca=CA)
DENVER = EgressHub(
    "hub-denver", "proxy.contoso.local", 8080, "mirror.denver.contoso.com", addresses=("10.250.30.0/29",)
)
HUBS = (SEATTLE, DENVER)


def run_hub(hub: EgressHub, *, node_image: str | None = None) -> StackRun:
    """An offline `up` of the hub behind its proxy (`egressProxy` a secret when its URL carries credentials)."""
    secrets = set(SECRETS) | ({"egressProxy"} if hub.credentials else set())
    return run_with(hub.stack, hub.config(node_image=node_image), secrets)


# A hub's no-proxy list and the proxy variables, for the tests that check one component behind a proxy.
DENVER_NO_PROXY = effective_no_proxy(
    service_cidr="10.0.0.0/16",
    vnet_cidr="10.20.0.0/16",
    api_server_fqdn="hub-denver.denver.cloudapp.azs.contoso.com",
    arm_endpoint="https://management.denver.azs.contoso.com",
    storage_suffix="denver.azs.contoso.com",
)
PROXY_VARIABLES = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"})
