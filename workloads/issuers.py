"""cert-manager issuers: Let's Encrypt (production and staging) and a private CA for disconnected hubs.

Each Let's Encrypt issuer has two solvers, picked per DNS name by cert-manager's solver selectors:
- names inside the shared Azure DNS zone (the hostname every hub serves behind Traffic Manager) use DNS-01. With
  HTTP-01 the validation request for a shared name lands on whichever hub Traffic Manager picks, which need not be
  the hub that asked (cert-manager issues 1896, 2580);
- any other name (a per-hub hostname that resolves to that hub alone) uses HTTP-01 through the ingress class.

cert-manager's `azureDNS` solver knows the public, US Government and China clouds only, so the zone lives in
public Azure. A ClusterIssuer reads its secrets from cert-manager's own namespace.

Private CA: a self-signed ClusterIssuer signs one CA certificate (kept in a Secret in cert-manager's namespace),
and a `ca` ClusterIssuer signs workload certificates with it. Clients must trust that CA (export `ca.crt` from the
Secret). To give every hub the same trust anchor, put one CA key pair into each hub's Secret instead of letting
each hub bootstrap its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

LETSENCRYPT_PRODUCTION_URL = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING_URL = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION_ISSUER = "letsencrypt-production"
STAGING_ISSUER = "letsencrypt-staging"
SELF_SIGNED_ISSUER = "selfsigned-bootstrap"
PRIVATE_CA_ISSUER = "private-ca"
PRIVATE_CA_KEYPAIR = "private-ca"
AZURE_DNS_CREDENTIALS = "azuredns-credentials"
AZURE_DNS_CREDENTIALS_KEY = "client-secret"

Solver = Literal["dns01", "http01"]


@dataclass(frozen=True)
class AzureDnsZone:
    """The shared public DNS zone and the identity cert-manager uses to write challenge records (no secret)."""

    subscription_id: str
    """Subscription of the zone (public Azure)."""
    resource_group: str
    """Resource group of the zone."""
    zone_name: str
    """The zone, e.g. `ratings.example.com`."""
    tenant_id: str
    """Entra tenant of the service principal."""
    client_id: str
    """The service principal allowed to write TXT records in the zone (DNS Zone Contributor)."""
    environment: Literal["AzurePublicCloud", "AzureUSGovernmentCloud", "AzureChinaCloud"] = "AzurePublicCloud"
    """The cloud the zone lives in (cert-manager knows no other)."""


def in_zone(hostname: str, zone: str) -> bool:
    """Whether a DNS name lies in a zone (the zone apex included)."""
    host, apex = hostname.lower().rstrip("."), zone.lower().rstrip(".")
    return host == apex or host.endswith(f".{apex}")


def solver_for(hostname: str, zone: str) -> Solver:
    """Which challenge a Let's Encrypt issuer uses for this name (mirrors the issuer's solver selectors)."""
    return "dns01" if in_zone(hostname, zone) else "http01"


def acme_issuer_spec(
    *, server: str, email: str, account_key_secret: str, zone: AzureDnsZone, ingress_class: str
) -> dict[str, Any]:
    """The `spec` of a Let's Encrypt ClusterIssuer: DNS-01 inside the shared zone, HTTP-01 elsewhere."""
    if "@" not in email:
        raise ValueError(f"ACME e-mail {email!r} is not an e-mail address")
    return {
        "acme": {
            "server": server,
            "email": email,
            "privateKeySecretRef": {"name": account_key_secret},
            "solvers": [
                {
                    "selector": {"dnsZones": [zone.zone_name]},
                    "dns01": {
                        "azureDNS": {
                            "clientID": zone.client_id,
                            "clientSecretSecretRef": {"name": AZURE_DNS_CREDENTIALS, "key": AZURE_DNS_CREDENTIALS_KEY},
                            "subscriptionID": zone.subscription_id,
                            "tenantID": zone.tenant_id,
                            "resourceGroupName": zone.resource_group,
                            "hostedZoneName": zone.zone_name,
                            "environment": zone.environment,
                        }
                    },
                },
                {"http01": {"ingress": {"ingressClassName": ingress_class}}},
            ],
        }
    }


def self_signed_issuer_spec() -> dict[str, Any]:
    """The `spec` of the ClusterIssuer that signs the private CA's own certificate."""
    return {"selfSigned": {}}


def private_ca_certificate_spec(common_name: str) -> dict[str, Any]:
    """The `spec` of the private CA's Certificate (ten years, ECDSA P-256, kept in `PRIVATE_CA_KEYPAIR`)."""
    return {
        "isCA": True,
        "commonName": common_name,
        "secretName": PRIVATE_CA_KEYPAIR,
        "duration": "87600h",
        "renewBefore": "720h",
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
        "issuerRef": {"name": SELF_SIGNED_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }


def ca_issuer_spec() -> dict[str, Any]:
    """The `spec` of the ClusterIssuer that signs with the private CA."""
    return {"ca": {"secretName": PRIVATE_CA_KEYPAIR}}
