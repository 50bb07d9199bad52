"""Egress through an enterprise proxy: the setting, its rules, the computed no-proxy list and the environment.

Pure functions, no Pulumi. The hub config validates `egressProxy` with the `check_*` functions (each raises
ValueError saying what is wrong and what is allowed, never echoing a credential); components get an `EgressProxy`
and the list `effective_no_proxy` computed from the address plan.

Which client reads which variable (so `proxy_environment` sets every spelling, with the same values):

- Go `net/http` (aks-engine-azurestack, Pulumi and Helm, containerd, kubelet, cert-manager): `HTTPS_PROXY` and
  `HTTP_PROXY`, then the lower-case ones; no-proxy entries are IPs, CIDRs, `name` (itself and its subdomains) and
  `.name` (subdomains only); loopback and `localhost` are never proxied (golang.org/x/net/http/httpproxy).
- Python requests (azure-core and azure-identity in the ARM provider): lower case first, then upper case; CIDRs for
  IP literals, names as suffixes with any leading dot ignored (`requests.utils.should_bypass_proxies`).
- Python urllib (the backup job's upload): lower case wins over upper case, and upper-case `HTTP_PROXY` is ignored
  under CGI; names as suffixes only, no CIDRs (`urllib.request.proxy_bypass_environment`).
- Fluent Bit: `HTTP_PROXY`/`http_proxy` for all its traffic, HTTPS tunnelled with CONNECT, no `HTTPS_PROXY`; names
  and IPs, `name` and `.name` as Go, no CIDRs (docs.fluentbit.io, "HTTP proxy").
- curl: `http_proxy` in lower case only, `HTTPS_PROXY` in either; CIDRs since 7.86.
- apt: `Acquire::http::Proxy` and `Acquire::https::Proxy` in apt.conf; per-host `DIRECT` only.

So in-cluster traffic must be excluded by name as well as by range: `.svc` and `.cluster.local` cover the clients
that do not read CIDRs. systemd services (containerd, kubelet) read neither `/etc/environment` nor a login shell's
variables: they get theirs from unit drop-ins (workloads/egress.py).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from policy.stackhub_policies.hub_facts import DNS_SERVICE_IP, SERVICE_CIDR

AKS_ENGINE_SERVICE_CIDR = SERVICE_CIDR
"""The cluster's service range (hub_facts: AKS Engine's default; the apimodel built here does not set it)."""
AKS_ENGINE_DNS_SERVICE_IP = DNS_SERVICE_IP
"""The cluster DNS Service's address (hub_facts: AKS Engine's default)."""

LOOPBACK_AND_PLATFORM = ("localhost", "127.0.0.1", "169.254.169.254", "168.63.129.16")
"""Never through the proxy: this machine, the instance metadata address and Azure's platform address (DNS, DHCP,
health probes), which answer on every VM and cannot be reached through a proxy."""

CLUSTER_DOMAINS = (".svc", ".cluster.local")
"""In-cluster names, for the clients that cannot match the service range (urllib, Fluent Bit)."""


_DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
# Characters a proxy URL may hold (RFC 3986 unreserved and sub-delims, ':', '@', '/', '%', '?', brackets): nothing
# that systemd's `Environment=`, apt.conf or an unquoted YAML scalar reads differently (quotes, backslashes, `#`).
_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~!$&()*+,;=:@/%?\[\]]+$")


@dataclass(frozen=True)
class ProxyEndpoint:
    """Where a proxy URL points (its credentials are never kept here)."""

    host: str
    """IPv4 address or DNS name, lower case."""
    port: int
    """The port: always explicit (Go assumes 80, curl 1080 when it is missing)."""
    has_credentials: bool
    """Whether the URL carries `user:password@`."""

    @property
    def is_address(self) -> bool:
        """Whether the host is an IPv4 address (a NetworkPolicy can then name it)."""
        return _ipv4(self.host) is not None


@dataclass(frozen=True)
class EgressProxy:
    """The `egressProxy` setting, checked."""

    http_proxy: str
    """Proxy URL for plain-HTTP destinations (`http://host:port`)."""
    https_proxy: str | None = None
    """Proxy URL for HTTPS destinations; `http_proxy` when unset (as managed AKS's `httpProxyConfig`)."""
    no_proxy: tuple[str, ...] = ()
    """Extra destinations reached directly: host names, `.domains`, IPv4 addresses and CIDRs."""
    trusted_ca: str | None = None
    """PEM bundle of the CA(s) a TLS-inspecting proxy signs with; None when the proxy does not inspect TLS."""
    addresses: tuple[str, ...] = field(default=())
    """The proxy's IPv4 ranges when its URLs use a DNS name: NetworkPolicy matches addresses, never names."""

    @property
    def https(self) -> str:
        """The proxy for HTTPS destinations."""
        return self.https_proxy or self.http_proxy

    @property
    def endpoints(self) -> tuple[ProxyEndpoint, ...]:
        """The distinct proxies (host and port) of both URLs, HTTP first."""
        found: list[ProxyEndpoint] = []
        for url in (self.http_proxy, self.https):
            endpoint = parse_proxy_url(url)
            if all((e.host, e.port) != (endpoint.host, endpoint.port) for e in found):
                found.append(endpoint)
        return tuple(found)

    @property
    def has_credentials(self) -> bool:
        """Whether a URL carries credentials: everything built from it must then be a secret."""
        return any(parse_proxy_url(url).has_credentials for url in (self.http_proxy, self.https))

    def ca_certificates(self) -> tuple[str, ...]:
        """Each trusted CA certificate as its own PEM (empty without `trusted_ca`)."""
        if self.trusted_ca is None:
            return ()
        return tuple(c.public_bytes(Encoding.PEM).decode() for c in _certificates(self.trusted_ca))


# --- rules the hub config calls --------------------------------------------------------------------------------


def parse_proxy_url(url: str) -> ProxyEndpoint:
    """Host, port and whether the URL has credentials; ValueError naming what is wrong and what is allowed."""
    allowed = "http://<host>:<port>, e.g. http://10.250.0.10:3128"
    if not _URL_CHARACTERS.match(url or ""):
        raise ValueError(f"is not a URL without spaces, quotes or '#': must be {allowed} (percent-encode credentials)")
    parts = urlsplit(url)
    if parts.scheme != "http":
        # The connection to the proxy is plain HTTP; HTTPS destinations are tunnelled through it with CONNECT.
        # An https:// proxy is not understood by every client here (Python's urllib, apt, older Fluent Bit).
        raise ValueError(f"scheme {parts.scheme or '(none)'!r} is not supported: must be {allowed}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"must not have a path, query or fragment: must be {allowed}")
    host = (parts.hostname or "").lower()
    if host.startswith("[") or ":" in host:
        raise ValueError("an IPv6 proxy address is not supported: Azure Stack Hub networks are IPv4 only")
    if not host or not (_ipv4(host) or _DNS_NAME.match(host)):
        raise ValueError(f"has no valid host (an IPv4 address or a DNS name): must be {allowed}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"has an invalid port: must be {allowed} with a port from 1 to 65535") from None
    if port is None or not 0 < port < 65536:
        raise ValueError(f"has no port: must be {allowed} (clients disagree on the default: Go 80, curl 1080)")
    credentials = "@" in parts.netloc
    return ProxyEndpoint(host=host, port=port, has_credentials=credentials)


def check_proxy_url(url: str, *, secret: bool) -> ProxyEndpoint:
    """`parse_proxy_url`, refusing credentials unless the config value is a secret (they would sit in the file)."""
    endpoint = parse_proxy_url(url)
    if endpoint.has_credentials and not secret:
        raise ValueError(
            "carries credentials (user:password@) in plain text: store egressProxy as a secret "
            "(`pulumi config set --secret --path egressProxy.httpProxy ...`), or use a proxy that needs none"
        )
    return endpoint


def redact_url(url: str) -> str:
    """The URL with any `user:password@` replaced by `***@`, for messages and previews."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def check_no_proxy_entry(entry: str) -> str:
    """One `noProxy` entry, normalised (lower case, no trailing dot); ValueError saying what is allowed."""
    allowed = "a host name, a .domain (its subdomains), an IPv4 address or an IPv4 CIDR"
    value = entry.strip().lower().rstrip(".") if isinstance(entry, str) else ""
    if not value:
        raise ValueError(f"is empty: each entry must be {allowed}")
    if value == "*":
        raise ValueError("'*' would send nothing through the proxy: list the destinations to reach directly")
    if value.startswith("*."):
        raise ValueError(f"wildcards are not understood by every client: write {value[1:]!r} for the subdomains")
    if "/" in value:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise ValueError(f"is not a CIDR with no host bits set: each entry must be {allowed}") from None
        if network.version != 4:
            raise ValueError("IPv6 is not supported: Azure Stack Hub networks are IPv4 only")
        if network.prefixlen == 0:
            raise ValueError("0.0.0.0/0 would send nothing through the proxy: list the ranges to reach directly")
        return str(network)
    if ":" in value:
        raise ValueError(f"ports and IPv6 addresses are not understood by every client: each entry must be {allowed}")
    if _ipv4(value) is not None:
        return value
    if not _DNS_NAME.match(value.removeprefix(".")):
        raise ValueError(f"is not a valid name: each entry must be {allowed}")
    return value


def check_trusted_ca(pem: str, *, now: datetime.datetime | None = None) -> tuple[x509.Certificate, ...]:
    """The CA certificates of a PEM bundle; ValueError when it is not PEM, not a CA, expired or holds a key."""
    blocks = _PEM_BLOCK.findall(pem or "")
    if not blocks:
        raise ValueError("is not PEM: expected one or more -----BEGIN CERTIFICATE----- blocks (the proxy's CA)")
    if any("PRIVATE KEY" in kind for kind, _ in blocks):
        raise ValueError("holds a private key: give the CA's certificate only, and keep its key out of config")
    other = sorted({kind for kind, _ in blocks if kind != "CERTIFICATE"})
    if other:
        raise ValueError(f"holds {', '.join(other)} blocks: only CERTIFICATE blocks are allowed")
    moment = now or datetime.datetime.now(datetime.UTC)
    certificates = _certificates(pem)
    for number, certificate in enumerate(certificates, start=1):
        subject = certificate.subject.rfc4514_string() or "(empty subject)"
        what = f"certificate {number} ({subject})"
        if not _is_ca(certificate):
            raise ValueError(
                f"{what} is not a CA certificate (basicConstraints CA:TRUE and keyCertSign): give the CA that "
                "signs the proxy's certificates, not a server certificate"
            )
        if certificate.not_valid_after_utc <= moment:
            raise ValueError(f"{what} expired on {certificate.not_valid_after_utc:%Y-%m-%d}: give its renewal")
        if certificate.not_valid_before_utc > moment:
            raise ValueError(f"{what} is not valid before {certificate.not_valid_before_utc:%Y-%m-%d}")
    return certificates


def proxy_cidrs(proxy: EgressProxy) -> tuple[str, ...]:
    """The ranges a NetworkPolicy must allow to reach the proxy: its IPv4 addresses, or `addresses` for names.

    ValueError when a URL names the proxy by DNS name and `addresses` is empty: a NetworkPolicy cannot match a
    name, and resolving it here would pin whatever address the machine running Pulumi happened to see.
    """
    cidrs: list[str] = []
    named = [e.host for e in proxy.endpoints if not e.is_address]
    for cidr in proxy.addresses:
        try:
            network = ipaddress.ip_network(cidr if "/" in cidr else f"{cidr}/32", strict=True)
        except ValueError:
            raise ValueError(f"{cidr!r} is not an IPv4 address or a CIDR with no host bits set") from None
        if network.version != 4 or network.prefixlen == 0:
            raise ValueError(f"{cidr!r}: the proxy's IPv4 addresses or ranges, never IPv6 or 0.0.0.0/0")
        cidrs.append(str(network))
    if named and not cidrs:
        raise ValueError(
            f"the proxy is named by DNS name ({', '.join(named)}): NetworkPolicy matches addresses only, so list "
            "its IPv4 addresses or ranges in egressProxy.addresses"
        )
    for endpoint in proxy.endpoints:
        if endpoint.is_address:
            cidrs.append(f"{endpoint.host}/32")
    return tuple(dict.fromkeys(cidrs))


def bypassing_entry(host: str, entries: Iterable[str]) -> str | None:
    """The first no-proxy entry that sends `host` directly, as Go's `httpproxy` decides; None when none does."""
    name = host.lower().rstrip(".")
    address = _ipv4(name)
    for entry in entries:
        if entry == "*":
            return entry
        if "/" in entry:
            if address is not None and address in ipaddress.ip_network(entry, strict=False):
                return entry
        elif _ipv4(entry) is not None:
            if entry == name:
                return entry
        elif entry.startswith("."):
            if name.endswith(entry):
                return entry
        elif name == entry or name.endswith(f".{entry}"):
            return entry
    return None


def check_proxy_not_bypassed(proxy: EgressProxy, entries: Iterable[str]) -> None:
    """ValueError when a no-proxy entry covers the proxy itself.

    Such an entry is a mistake: either the proxy sits in a range declared to be reached without it (the cluster's
    own service range: a proxy running on the cluster it must bootstrap), or the entry was meant for something else.
    """
    listed = tuple(entries)
    for endpoint in proxy.endpoints:
        entry = bypassing_entry(endpoint.host, listed)
        if entry is not None:
            raise ValueError(
                f"the proxy {endpoint.host}:{endpoint.port} is itself in the no-proxy list (entry {entry!r}): "
                "remove that entry, or use a proxy outside the ranges reached directly"
            )


def egress_proxy_problems(
    proxy: EgressProxy, *, secret: bool, service_cidr: str = AKS_ENGINE_SERVICE_CIDR
) -> list[tuple[str, str]]:
    """Every broken rule of an `egressProxy` value as (sub-key, message); empty when it is valid.

    `secret` says whether the config value is stored as a secret. The proxy may not be in the user's `noProxy`,
    in the fixed entries or in the cluster's service range; it may sit in the VNet (a proxy VM beside the cluster).
    """
    problems: list[tuple[str, str]] = []
    for key, url in (("httpProxy", proxy.http_proxy), ("httpsProxy", proxy.https_proxy)):
        if url is None:
            continue
        try:
            check_proxy_url(url, secret=secret)
        except ValueError as error:
            problems.append((key, str(error)))
    entries: list[str] = []
    for index, entry in enumerate(proxy.no_proxy):
        try:
            entries.append(check_no_proxy_entry(entry))
        except ValueError as error:
            problems.append((f"noProxy[{index}]", str(error)))
    if proxy.trusted_ca is not None:
        try:
            check_trusted_ca(proxy.trusted_ca)
        except ValueError as error:
            problems.append(("trustedCa", str(error)))
    if problems:
        return problems  # the rules below need valid URLs
    try:
        proxy_cidrs(proxy)
    except ValueError as error:
        problems.append(("addresses", str(error)))
    try:
        check_proxy_not_bypassed(proxy, [*LOOPBACK_AND_PLATFORM, *CLUSTER_DOMAINS, service_cidr, *entries])
    except ValueError as error:
        problems.append(("noProxy", str(error)))
    return problems


# --- what the address plan decides ---------------------------------------------------------------------------


def api_server_fqdn(dns_prefix: str, location: str, hub_domain: str) -> str:
    """The API server's name on a hub: its public IP's DNS label under `<region>.cloudapp.<domain>`."""
    return f"{dns_prefix}.{location}.cloudapp.{hub_domain}".lower()


def effective_no_proxy(
    *,
    service_cidr: str,
    vnet_cidr: str,
    api_server_fqdn: str,
    arm_endpoint: str,
    storage_suffix: str,
    extra: Sequence[str] = (),
) -> tuple[str, ...]:
    """Every destination reached without the proxy, de-duplicated, in a stable order (shown in the preview).

    - loopback, the instance metadata address and Azure's platform address;
    - the cluster: `.svc` and `.cluster.local`, the service range, the VNet (with Azure CNI pods have VNet
      addresses, and the nodes and masters live there);
    - the hub: the API server's name, the ARM host, and `.<storage suffix>`. A hub's storage endpoint suffix is
      its region's domain (`az cloud register --suffix-storage-endpoint "local.azurestack.external"`), so that one
      entry also covers AD FS, Key Vault and the `cloudapp` names: nothing on the hub goes through the proxy;
    - then `extra`, the user's own entries, in their order.
    """
    arm_host = (urlsplit(arm_endpoint).hostname or "").lower()
    if not arm_host:
        raise ValueError(f"arm_endpoint {arm_endpoint!r} has no host")
    suffix = storage_suffix.strip().lower().strip(".")
    candidates = [
        *LOOPBACK_AND_PLATFORM,
        *CLUSTER_DOMAINS,
        service_cidr,
        vnet_cidr,
        api_server_fqdn,
        arm_host,
        f".{suffix}",
        *extra,
    ]
    return tuple(dict.fromkeys(check_no_proxy_entry(entry) for entry in candidates))


def proxy_environment(proxy: EgressProxy, no_proxy: Sequence[str]) -> dict[str, str]:
    """The variables every client above reads, in both spellings with the same values.

    Holds the proxy's credentials when its URLs do: wrap the result in a secret then (`proxy.has_credentials`).
    """
    joined = ",".join(no_proxy)
    return {
        "HTTP_PROXY": proxy.http_proxy,
        "http_proxy": proxy.http_proxy,
        "HTTPS_PROXY": proxy.https,
        "https_proxy": proxy.https,
        "NO_PROXY": joined,
        "no_proxy": joined,
    }


# --- helpers ---------------------------------------------------------------------------------------------------


def _ipv4(value: str) -> ipaddress.IPv4Address | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return address if isinstance(address, ipaddress.IPv4Address) else None


def _certificates(pem: str) -> tuple[x509.Certificate, ...]:
    found: list[x509.Certificate] = []
    for number, (kind, body) in enumerate(_PEM_BLOCK.findall(pem), start=1):
        if kind != "CERTIFICATE":
            continue
        block = f"-----BEGIN CERTIFICATE-----{body}-----END CERTIFICATE-----\n"
        try:
            found.append(x509.load_pem_x509_certificate(block.encode()))
        except ValueError:
            raise ValueError(f"certificate {number} is not a valid X.509 certificate in PEM") from None
    return tuple(found)


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca:
        return False
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True  # no key usage extension: every usage is allowed (RFC 5280 4.2.1.3)
    return usage.key_cert_sign
