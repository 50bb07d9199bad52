"""The `egressProxy` rules, the computed no-proxy list of both shipped hubs, and how clients read the variables."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
import requests.utils
import yaml

from planning.egress import (
    AKS_ENGINE_SERVICE_CIDR,
    EgressProxy,
    api_server_fqdn,
    bypassing_entry,
    check_no_proxy_entry,
    check_proxy_url,
    check_trusted_ca,
    effective_no_proxy,
    egress_proxy_problems,
    proxy_cidrs,
    proxy_environment,
    redact_url,
)
from planning.network import master_block, node_capacity
from stacks.config import validate
from stacks.hub import HubConfig
from tests.conftest import config_of
from tests.egress.certs import NOW, certificate_pem, private_key_pem

SECRETS = {"armClientSecret", "dnsSolverClientSecret", "backupVerificationKey"}
PROXY = "http://10.250.0.10:3128"


def hub_no_proxy(stack: str, extra: tuple[str, ...] = ()) -> tuple[HubConfig, tuple[str, ...]]:
    """The list as the hub config will compute it: from the stack file, read by the project's own loader."""
    config = validate(HubConfig, stack, config_of(stack), SECRETS)
    listed = effective_no_proxy(
        service_cidr=AKS_ENGINE_SERVICE_CIDR,
        vnet_cidr=config.vnet_cidr,
        api_server_fqdn=api_server_fqdn(config.dns_prefix or config.hub_name, config.location, config.domain),
        arm_endpoint=config.arm_endpoint,
        storage_suffix=f"{config.location}.{config.domain}",
        extra=extra,
    )
    return config, listed


# --- the setting's rules ---------------------------------------------------------------------------------------

BAD_URLS = [
    ("https://10.250.0.10:3128", "scheme 'https' is not supported: must be http://<host>:<port>"),
    ("socks5://10.250.0.10:1080", "scheme 'socks5' is not supported"),
    ("10.250.0.10:3128", "is not supported"),
    ("http://10.250.0.10", "has no port"),
    ("http://10.250.0.10:0", "has no port"),
    ("http://10.250.0.10:70000", "has an invalid port"),
    ("http://proxy.contoso.com:3128/path", "must not have a path, query or fragment"),
    ("http://proxy.contoso.com:3128/?x=1", "must not have a path, query or fragment"),
    ("http://[fd00::1]:3128", "IPv6 proxy address is not supported"),
    ("http://proxy_server:3128", "has no valid host"),
    ("http://:3128", "has no valid host"),
    ("http://proxy.contoso.com:3128 #", "without spaces, quotes or '#'"),
    ('http://proxy"x:3128', "without spaces, quotes or '#'"),
    ("", "without spaces, quotes or '#'"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS, ids=[u or "empty" for u, _ in BAD_URLS])
def test_a_bad_proxy_url_is_refused_saying_what_is_allowed(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_proxy_url(url, secret=True)


def test_a_good_proxy_url_gives_its_host_and_port() -> None:
    endpoint = check_proxy_url("http://Proxy.Contoso.com:8080/", secret=False)
    assert (endpoint.host, endpoint.port, endpoint.has_credentials, endpoint.is_address) == (
        "proxy.contoso.com", 8080, False, False
    )  # fmt: skip
    assert check_proxy_url(PROXY, secret=False).is_address


def test_credentials_are_refused_in_plain_text_and_never_echoed() -> None:
    url = "http://svc-egress:S3cr3t%21@10.250.0.10:3128"
    with pytest.raises(ValueError, match="in plain text: store egressProxy as a secret") as caught:
        check_proxy_url(url, secret=False)
    assert "S3cr3t" not in str(caught.value)
    assert check_proxy_url(url, secret=True).has_credentials
    assert redact_url(url) == "http://***@10.250.0.10:3128"
    assert redact_url(PROXY) == PROXY
    problems = egress_proxy_problems(EgressProxy(url, https_proxy=url), secret=False)
    assert [key for key, _ in problems] == ["httpProxy", "httpsProxy"]
    assert all("S3cr3t" not in message for _, message in problems)
    assert egress_proxy_problems(EgressProxy(url), secret=True) == []


BAD_ENTRIES = [
    ("*", "would send nothing through the proxy"),
    ("0.0.0.0/0", "would send nothing through the proxy"),
    ("*.contoso.com", "write '.contoso.com' for the subdomains"),
    ("10.250.0.1/24", "not a CIDR with no host bits set"),
    ("fd00::/8", "IPv6 is not supported"),
    ("registry.contoso.com:5000", "ports and IPv6 addresses are not understood"),
    ("bad_name.contoso.com", "is not a valid name"),
    ("  ", "is empty"),
]


@pytest.mark.parametrize(("entry", "message"), BAD_ENTRIES, ids=[e for e, _ in BAD_ENTRIES])
def test_a_bad_no_proxy_entry_is_refused(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_no_proxy_entry(entry)


def test_no_proxy_entries_are_normalised() -> None:
    assert check_no_proxy_entry(" Registry.Contoso.COM. ") == "registry.contoso.com"
    assert check_no_proxy_entry(".Contoso.com") == ".contoso.com"
    assert check_no_proxy_entry("10.250.0.0/16") == "10.250.0.0/16"
    assert check_no_proxy_entry("10.250.0.5") == "10.250.0.5"


@pytest.mark.parametrize(
    ("no_proxy", "entry"),
    [
        (("10.250.0.0/16",), "10.250.0.0/16"),
        (("10.250.0.10",), "10.250.0.10"),
        (("proxy.contoso.com",), "proxy.contoso.com"),
        ((".contoso.com",), ".contoso.com"),
        (("contoso.com",), "contoso.com"),
    ],
)
def test_a_proxy_inside_the_no_proxy_list_is_refused(no_proxy: tuple[str, ...], entry: str) -> None:
    host = "10.250.0.10" if entry[0].isdigit() else "proxy.contoso.com"
    proxy = EgressProxy(f"http://{host}:3128", no_proxy=no_proxy, addresses=("10.250.0.10",))
    assert egress_proxy_problems(proxy, secret=False) == [
        ("noProxy", f"the proxy {host}:3128 is itself in the no-proxy list (entry {entry!r}): remove that entry, "
                    "or use a proxy outside the ranges reached directly"),
    ]  # fmt: skip


def test_a_proxy_in_the_service_range_or_on_loopback_is_refused_but_one_in_the_vnet_is_not() -> None:
    for host, entry in (("10.0.0.50", "10.0.0.0/16"), ("127.0.0.1", "127.0.0.1"), ("localhost", "localhost")):
        problems = egress_proxy_problems(EgressProxy(f"http://{host}:3128", addresses=("10.250.0.10",)), secret=False)
        assert [key for key, _ in problems] == ["noProxy"]
        assert f"the proxy {host}:3128 is itself in the no-proxy list (entry {entry!r})" in problems[0][1]
    # A proxy VM in the hub's own VNet (another subnet) is fine: the VNet is reached directly, the proxy too.
    assert egress_proxy_problems(EgressProxy("http://10.10.8.4:3128"), secret=False) == []


def test_a_proxy_named_by_dns_needs_its_addresses_for_network_policy() -> None:
    named = EgressProxy("http://proxy.contoso.com:3128")
    assert egress_proxy_problems(named, secret=False) == [
        ("addresses", "the proxy is named by DNS name (proxy.contoso.com): NetworkPolicy matches addresses only, so "
                      "list its IPv4 addresses or ranges in egressProxy.addresses"),
    ]  # fmt: skip
    assert proxy_cidrs(EgressProxy("http://proxy.contoso.com:3128", addresses=("10.250.0.8/30",))) == ("10.250.0.8/30",)
    both = EgressProxy(PROXY, https_proxy="http://10.250.0.11:3129")
    assert proxy_cidrs(both) == ("10.250.0.10/32", "10.250.0.11/32")
    for bad, message in (("10.250.0.9/30", "no host bits"), ("0.0.0.0/0", "never IPv6 or 0.0.0.0/0")):
        with pytest.raises(ValueError, match=message):
            proxy_cidrs(EgressProxy("http://proxy.contoso.com:3128", addresses=(bad,)))


BYPASS_CASES = [
    # (host, entries, the entry that sends it directly) as Go's httpproxy decides.
    ("contoso.com", (".contoso.com",), None),
    ("x.contoso.com", (".contoso.com",), ".contoso.com"),
    ("contoso.com", ("contoso.com",), "contoso.com"),
    ("a.b.contoso.com", ("contoso.com",), "contoso.com"),
    ("notcontoso.com", ("contoso.com",), None),
    ("10.10.3.7", ("10.10.0.0/16",), "10.10.0.0/16"),
    ("10.11.0.1", ("10.10.0.0/16",), None),
    ("10.250.0.10", ("10.250.0.10",), "10.250.0.10"),
    ("10.250.0.11", ("10.250.0.10",), None),
    ("kubernetes.default.svc", (".svc", ".cluster.local"), ".svc"),
    ("svc", (".svc",), None),
]


@pytest.mark.parametrize(("host", "entries", "entry"), BYPASS_CASES)
def test_which_entry_sends_a_host_directly(host: str, entries: tuple[str, ...], entry: str | None) -> None:
    assert bypassing_entry(host, entries) == entry


def test_the_https_proxy_defaults_to_the_http_one_and_endpoints_are_distinct() -> None:
    proxy = EgressProxy(PROXY)
    assert proxy.https == PROXY
    assert [(e.host, e.port) for e in proxy.endpoints] == [("10.250.0.10", 3128)]
    split = EgressProxy(PROXY, https_proxy="http://10.250.0.11:3129")
    assert [(e.host, e.port) for e in split.endpoints] == [("10.250.0.10", 3128), ("10.250.0.11", 3129)]


# --- the trusted CA --------------------------------------------------------------------------------------------


def test_a_ca_bundle_is_accepted_and_split_into_certificates() -> None:
    bundle = "# Contoso roots\n" + certificate_pem("Contoso Root") + certificate_pem("Contoso Inspection")
    assert [c.subject.rfc4514_string() for c in check_trusted_ca(bundle)] == [
        "CN=Contoso Root",
        "CN=Contoso Inspection",
    ]
    assert len(EgressProxy(PROXY, trusted_ca=bundle).ca_certificates()) == 2


BAD_CAS = [
    ("not a certificate at all", "is not PEM: expected one or more -----BEGIN CERTIFICATE----- blocks"),
    ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
     "certificate 1 is not a valid X.509 certificate in PEM"),
    ("server", "certificate 1 (CN=proxy.contoso.com) is not a CA certificate"),
    ("ca-false-but-cert-sign", "is not a CA certificate (basicConstraints CA:TRUE and keyCertSign)"),
    ("no-constraints", "is not a CA certificate (basicConstraints CA:TRUE and keyCertSign)"),
    ("ca-without-cert-sign", "is not a CA certificate"),
    ("expired", "expired on"),
    ("future", "is not valid before"),
    ("with-key", "holds a private key: give the CA's certificate only"),
    ("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "holds X509 CRL blocks: only CERTIFICATE blocks"),
]  # fmt: skip


def _bad_ca(kind: str) -> str:
    made = {
        "server": lambda: certificate_pem("proxy.contoso.com", ca=False, cert_sign=False),
        "no-constraints": lambda: certificate_pem("Contoso", basic_constraints=False),
        "ca-false-but-cert-sign": lambda: certificate_pem("Contoso", ca=False, cert_sign=True),
        "ca-without-cert-sign": lambda: certificate_pem("Contoso", cert_sign=False),
        "expired": lambda: certificate_pem("Old CA", days=10, starts_in_days=-30),
        "future": lambda: certificate_pem("New CA", starts_in_days=30),
        "with-key": lambda: certificate_pem() + private_key_pem(),
    }
    return made[kind]() if kind in made else kind


@pytest.mark.parametrize(("kind", "message"), BAD_CAS, ids=[k[:20] for k, _ in BAD_CAS])
def test_a_trusted_ca_that_is_not_a_usable_pem_ca_is_refused(kind: str, message: str) -> None:
    pem = _bad_ca(kind)
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        check_trusted_ca(pem, now=NOW)
    assert egress_proxy_problems(EgressProxy(PROXY, trusted_ca=pem), secret=False) == [("trustedCa", str(caught.value))]


def test_every_broken_rule_is_reported_at_once_with_its_key() -> None:
    proxy = EgressProxy("https://proxy:3128", https_proxy="http://10.250.0.10", no_proxy=("ok.contoso.com", "*"),
                        trusted_ca="nope")  # fmt: skip
    assert [key for key, _ in egress_proxy_problems(proxy, secret=False)] == [
        "httpProxy", "httpsProxy", "noProxy[1]", "trustedCa"
    ]  # fmt: skip


# --- the computed no-proxy list of the shipped hubs ------------------------------------------------------------

SEATTLE = (
    "localhost", "127.0.0.1", "169.254.169.254", "168.63.129.16", ".svc", ".cluster.local",
    "10.0.0.0/16", "10.10.0.0/16", "hub-seattle.seattle.cloudapp.azurestack.contoso.com",
    "management.seattle.azurestack.contoso.com", ".seattle.azurestack.contoso.com",
)  # fmt: skip
DENVER = (
    "localhost", "127.0.0.1", "169.254.169.254", "168.63.129.16", ".svc", ".cluster.local",
    "10.0.0.0/16", "10.20.0.0/16", "hub-denver.denver.cloudapp.hub.contoso.local",
    "management.denver.hub.contoso.local", ".denver.hub.contoso.local",
)  # fmt: skip


@pytest.mark.parametrize(("stack", "expected"), [("hub-seattle", SEATTLE), ("hub-denver", DENVER)])
def test_the_no_proxy_list_of_each_shipped_hub(stack: str, expected: tuple[str, ...]) -> None:
    _, listed = hub_no_proxy(stack)
    assert listed == expected


@pytest.mark.parametrize("stack", ["hub-seattle", "hub-denver"])
def test_the_list_covers_the_address_plan(stack: str) -> None:
    config, listed = hub_no_proxy(stack)
    vnet = ipaddress.IPv4Network(config.vnet_cidr)
    service = ipaddress.IPv4Network(AKS_ENGINE_SERVICE_CIDR)
    # The service range must not overlap the VNet, or a Service address would also be a node's.
    assert not service.overlaps(vnet)
    subnet = ipaddress.IPv4Network(config.cluster_subnet_cidr)
    masters = master_block(config.cluster_subnet_cidr)
    capacity = node_capacity(config.cluster_subnet_cidr, config.max_pods)
    # Every address a master, node or (Azure CNI) pod can have, the API's Service address and CoreDNS's.
    last_node_address = subnet.network_address + 4 + capacity * (config.max_pods + 1) - 1
    assert last_node_address < ipaddress.IPv4Address(masters.first_ip)
    samples = [str(subnet.network_address + 4), str(last_node_address), masters.first_ip, "10.0.0.1", "10.0.0.10"]
    for address in samples:
        assert bypassing_entry(address, listed) is not None, address
    hub = f"{config.location}.{config.domain}"
    for name in (f"management.{hub}", f"adfs.{hub}", f"backups.blob.{hub}", f"vault1.vault.{hub}",
                 f"{config.hub_name}.{config.location}.cloudapp.{config.domain}", "kubernetes.default.svc",
                 "ratings-mongodb-0.ratings-mongodb.ratingsapp.svc.cluster.local"):  # fmt: skip
        assert bypassing_entry(name, listed) is not None, name
    # What calls out goes through the proxy.
    for name in ("acme-v02.api.letsencrypt.org", "login.microsoftonline.com", "management.azure.com",
                 "dce-1.westeurope-1.ingest.monitor.azure.com", "stackhubshared.blob.core.windows.net",
                 "registry.contoso.com", "azure.archive.ubuntu.com", "10.250.0.10"):  # fmt: skip
        assert bypassing_entry(name, listed) is None, name


def test_user_entries_come_last_without_duplicates() -> None:
    _, listed = hub_no_proxy("hub-denver", extra=("Registry.Denver.Hub.Contoso.Local", "10.20.0.0/16", ".svc"))
    assert listed == (*DENVER, "registry.denver.hub.contoso.local")


def test_the_list_is_a_plain_yaml_scalar_for_the_cert_manager_chart() -> None:
    # cert-manager's chart writes `value: {{ .Values.no_proxy }}` unquoted (templates/deployment.yaml).
    for stack in ("hub-seattle", "hub-denver"):
        joined = ",".join(hub_no_proxy(stack)[1])
        assert yaml.safe_load(f"value: {joined}") == {"value": joined}
        assert yaml.safe_load(f"value: {PROXY}") == {"value": PROXY}


# --- the environment, and what each client decides from it ------------------------------------------------------


def test_the_environment_sets_both_spellings_alike() -> None:
    proxy = EgressProxy(PROXY, https_proxy="http://10.250.0.11:3129")
    env = proxy_environment(proxy, SEATTLE)
    assert env == {
        "HTTP_PROXY": PROXY, "http_proxy": PROXY,
        "HTTPS_PROXY": "http://10.250.0.11:3129", "https_proxy": "http://10.250.0.11:3129",
        "NO_PROXY": ",".join(SEATTLE), "no_proxy": ",".join(SEATTLE),
    }  # fmt: skip


IN_CLUSTER = ["https://10.0.0.1/", "https://10.10.1.37/", "https://kubernetes.default.svc/",
              "https://ratings-api.ratingsapp.svc.cluster.local/", "https://localhost:8443/",
              "https://management.seattle.azurestack.contoso.com/",
              "https://acct.blob.seattle.azurestack.contoso.com/",
              "https://hub-seattle.seattle.cloudapp.azurestack.contoso.com/", "http://168.63.129.16/"]  # fmt: skip
OUTSIDE = ["https://acme-v02.api.letsencrypt.org/", "https://login.microsoftonline.com/",
           "https://dce-1.westeurope-1.ingest.monitor.azure.com/", "https://stackhubshared.blob.core.windows.net/",
           "http://azure.archive.ubuntu.com/", "https://registry.contoso.com/"]  # fmt: skip


@pytest.fixture
def seattle_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(key)
    env = proxy_environment(EgressProxy(PROXY), SEATTLE)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_python_requests_reads_the_list_as_intended(seattle_env: dict[str, str]) -> None:
    # azure-core's transport (the ARM provider) decides with requests.
    for url in IN_CLUSTER:
        assert requests.utils.should_bypass_proxies(url, no_proxy=None), url
    for url in OUTSIDE:
        assert not requests.utils.should_bypass_proxies(url, no_proxy=None), url
        assert requests.utils.get_environ_proxies(url)[url.split(":")[0]] == PROXY


def test_python_urllib_misses_ranges_so_names_carry_in_cluster_traffic(seattle_env: dict[str, str]) -> None:
    # urllib (the backup job) understands no CIDR: a pod address is proxied, in-cluster names are not. That is
    # why `.svc` and `.cluster.local` are in the list, and why urllib clients must use names inside the cluster.
    # `proxy_bypass` is what urllib's ProxyHandler asks; on Linux it reads `no_proxy` from the environment.
    assert urllib.request.getproxies()["https"] == PROXY
    assert not urllib.request.proxy_bypass("10.10.1.37")
    for host in ("kubernetes.default.svc", "ratings-api.ratingsapp.svc.cluster.local",
                 "acct.blob.seattle.azurestack.contoso.com"):  # fmt: skip
        assert urllib.request.proxy_bypass(host), host
    assert not urllib.request.proxy_bypass("stackhubshared.blob.core.windows.net")


GO_PROBE = """package main

import (
\t"fmt"
\t"net/http"
\t"os"
)

// Prints, for each URL, the proxy Go's net/http would use (ProxyFromEnvironment), or "direct".
func main() {
\tfor _, u := range os.Args[1:] {
\t\treq, err := http.NewRequest("GET", u, nil)
\t\tif err != nil {
\t\t\tpanic(err)
\t\t}
\t\tproxy, err := http.ProxyFromEnvironment(req)
\t\tif err != nil {
\t\t\tpanic(err)
\t\t}
\t\tif proxy == nil {
\t\t\tfmt.Println(u, "direct")
\t\t} else {
\t\t\tfmt.Println(u, proxy.String())
\t\t}
\t}
}
"""


@pytest.fixture(scope="module")
def go_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        pytest.skip("no Go toolchain: the Go clients' reading of the list is checked where Go is installed")
    folder = tmp_path_factory.mktemp("go-probe")
    (folder / "main.go").write_text(GO_PROBE)
    built = subprocess.run([go, "build", "-o", str(folder / "probe"), "main.go"], cwd=folder, capture_output=True,
                           text=True, check=False, timeout=600)  # fmt: skip
    if built.returncode != 0:
        pytest.skip(f"the Go toolchain could not build the probe: {built.stderr[-300:]}")
    return folder / "probe"


def test_the_bypass_rule_here_is_go_s(go_probe: Path) -> None:
    # `bypassing_entry` decides the config checks; Go decides for containerd and the kubelet: they must agree.
    for host, entries, entry in BYPASS_CASES:
        env = {"PATH": os.defpath, "HTTPS_PROXY": PROXY, "NO_PROXY": ",".join(entries)}
        done = subprocess.run([str(go_probe), f"https://{host}/"], env=env, capture_output=True, text=True, check=True)
        assert done.stdout.split()[1] == ("direct" if entry else PROXY), (host, entries)


def test_go_clients_read_the_list_as_intended(go_probe: Path) -> None:
    # containerd, the kubelet, cert-manager, aks-engine-azurestack and Helm decide with Go's net/http.
    env = {"PATH": os.defpath, **proxy_environment(EgressProxy(PROXY), SEATTLE)}
    done = subprocess.run([str(go_probe), *IN_CLUSTER, *OUTSIDE], env=env, capture_output=True, text=True, check=True)
    decided = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert decided == {**dict.fromkeys(IN_CLUSTER, "direct"), **dict.fromkeys(OUTSIDE, PROXY)}
