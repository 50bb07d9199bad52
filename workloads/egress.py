"""What applies the egress proxy on a cluster: the nodes' configuration, the pods that call out, their policies.

Pure functions returning manifests and Helm values as plain dicts (the proxy setting and the no-proxy list come
from `planning.egress`). Nothing here is used on a hub without `egressProxy`: such a hub gets no object from it.

## Nodes

AKS Engine has no apimodel field for a proxy, so a DaemonSet configures every node, including those a later
`scale` or `upgrade` adds: systemd drop-ins give containerd (image pulls) and the kubelet the proxy variables, an
apt.conf file gives apt the proxy, and the trusted CA goes to `/usr/local/share/ca-certificates/` followed by
`update-ca-certificates`. The work is done by an init container (`NODE_SCRIPT`), so a pod becomes Ready only once
its node is configured and containerd is back.

Only what changed is written, and containerd (or the kubelet) restarts only when its drop-in or the CA changed.
Restarts happen one node at a time, under a node lock: the Lease `LEASE_NAME`, taken with an optimistic update
(`resourceVersion`) before anything is written and released once the restarted services are active again. The
DaemonSet's rolling update (`maxUnavailable: 1`, `minReadySeconds`) alone would serialise only updates of the
DaemonSet: its first creation (adding `egressProxy` to a running hub) and a scale that adds several nodes start
every pod at once. A node whose services do not come back keeps the lock, so no other node takes the same
configuration until someone has looked (`kubectl -n node-egress get lease node-egress-proxy -o yaml`).

What happens to running pods while containerd restarts: nothing visible to them. containerd's unit stops only
the daemon (`KillMode=process`, containerd `containerd.service`); each container's parent is its own shim, which
keeps running, and containerd reconnects to the shims when it starts (containerd `design/lifecycle.md`: "the
containers themselves are not tied to the lifecycle of containerd"). For the few seconds it is down, the kubelet's
CRI calls fail: no pod starts or stops, no image is pulled, `kubectl exec`/`logs -f` streams are cut, and exec
probes fail (the containers keep running; a liveness probe that fails `failureThreshold` times in a row restarts
its container once containerd is back). The kubelet restarting does not stop pods either.

The node configurator's image is pulled before the node knows the proxy: it must come from a registry the nodes
reach directly (the site's mirror, `imageRegistry`, in the no-proxy list).

## Pods that call out

cert-manager's controller (ACME, Azure DNS, Entra ID), Fluent Bit (Logs Ingestion API) and the backup job (Blob
storage) get the proxy variables, and the trusted CA mounted as `/etc/ssl/certs/<subject hash>.0`. OpenSSL looks
a CA up in its default directory by that name (Python; Fluent Bit, which loads the system bundle and a fixed CA
directory and ignores `SSL_CERT_DIR`, fluent-bit `src/tls/openssl.c`), and Go reads every file of
`/etc/ssl/certs`: no image needs rebuilding and no variable replaces the system roots. Containers that stay inside
the cluster (cert-manager's webhook and cainjector, the application, the database, a backup's dump) get nothing.
The callers' NetworkPolicies let them reach DNS, the API server and the proxy, and nothing else outside the
cluster.

A proxy URL with credentials never sits in a Helm value or a container's `env` value, where anyone who reads the
Deployment, the DaemonSet or the release could see it: each namespace whose pods call out then gets the URLs in a
Secret (`proxy_secret`), and the variables reference it (`valueFrom.secretKeyRef`); the no-proxy list stays a plain
value. Without credentials every variable is a plain value, so that a preview shows what the pods get. A pod reads
its environment when it starts: after a password rotation, restart the callers (`kubectl rollout restart`).

The node DaemonSet's privileges are deliberate and listed (`NODE_PRIVILEGES`); each check they fail carries its
reason on the DaemonSet itself (`workloads.scan_exceptions.node_access_exceptions`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509

from planning.egress import (
    AKS_ENGINE_DNS_SERVICE_IP,
    EgressProxy,
    check_no_proxy_entry,
    proxy_cidrs,
    proxy_environment,
)
from planning.names import image_reference_problem
from workloads.scan_exceptions import PULL_POLICY, image_exceptions, node_access_exceptions, skip_annotations

NODE_NAMESPACE = "node-egress"
NODE_APP = "node-egress-proxy"
LEASE_NAME = NODE_APP
NODE_LABELS = {"app.kubernetes.io/name": NODE_APP, "app.kubernetes.io/part-of": "stackhub-ha"}
DEFAULT_NODE_IMAGE = "python:3.12.8-slim"
"""Debian bookworm with Python 3 (the lock's API client) and util-linux's `nsenter` (Essential in Debian)."""
LEASE_SECONDS = 600
"""How long a lock lives if its holder vanishes; well above a restart (seconds) and the wait for it (`WAIT_TRIES`)."""
FAILED_LEASE_SECONDS = 86_400
"""How long a node whose services did not come back keeps the lock: long enough for a person to look."""
WAIT_TRIES = 60
"""Checks (two seconds apart) that a restarted unit is active before the node counts as failed."""

CA_CONFIGMAP = "egress-proxy-ca"
"""ConfigMap holding the trusted CA in every namespace whose pods call out."""
PROXY_SECRET = "egress-proxy"  # noqa: S105 (a Secret's name)
"""Secret holding the proxy URLs in every namespace whose pods call out, when the URLs carry credentials."""
PROXY_SECRET_KEYS = {"http": "http-proxy", "https": "https-proxy"}
"""The Secret's key of each URL: `EgressProxy.http_proxy` and `EgressProxy.https`."""
SYSTEM_CA_DIR = "/etc/ssl/certs"
CERT_MANAGER_CONTROLLER_LABELS = {
    # The controller Deployment's selector (cert-manager chart `templates/deployment.yaml`); the webhook and the
    # cainjector carry other components and stay inside the cluster.
    "app.kubernetes.io/name": "cert-manager",
    "app.kubernetes.io/instance": "cert-manager",
    "app.kubernetes.io/component": "controller",
}
KUBE_DNS_LABELS = {"k8s-app": "kube-dns"}

# Host paths the node configurator writes, and the files it owns there.
CONTAINERD_DROPIN_DIR = "/etc/systemd/system/containerd.service.d"
KUBELET_DROPIN_DIR = "/etc/systemd/system/kubelet.service.d"
APT_CONF_DIR = "/etc/apt/apt.conf.d"
HOST_CA_DIR = "/usr/local/share/ca-certificates"
DROPIN_FILE = "http-proxy.conf"
APT_FILE = "95stackhub-egress-proxy"
CA_FILE_PREFIX = "stackhub-egress-proxy-"
HOST_MOUNT = "/host"
"""Where the host directories appear inside the configurator (`/host/etc/...`)."""
CONFIG_MOUNT = "/etc/node-egress"

NODE_PURPOSE = (
    "runs the host's systemctl and update-ca-certificates in PID 1's mount namespace through nsenter, to restart "
    "containerd and the kubelet with the proxy and to trust its CA"
)
"""What the configurator does on the host: the reason of its checkov exceptions (no `=`, one line)."""
NODE_PRIVILEGES = (
    "hostPID: true (nsenter reaches PID 1's mount namespace to run the host's systemctl and update-ca-certificates)",
    "init container `configure`: privileged, as root (setns into PID 1's namespaces needs CAP_SYS_ADMIN, "
    "CAP_SYS_PTRACE and no AppArmor/seccomp confinement)",
    f"hostPath {CONTAINERD_DROPIN_DIR} (read-write, DirectoryOrCreate): containerd's proxy drop-in",
    f"hostPath {KUBELET_DROPIN_DIR} (read-write, DirectoryOrCreate): the kubelet's proxy drop-in",
    f"hostPath {APT_CONF_DIR} (read-write, Directory): apt's proxy",
    f"hostPath {HOST_CA_DIR} (read-write, DirectoryOrCreate): the trusted CA",
    f"API: get and update of the Lease {LEASE_NAME} only, with a token mounted in the init container only",
    "container `hold`: unprivileged (non-root, read-only root, no capabilities); no hostNetwork, no host ports",
)
"""Everything the node DaemonSet is granted, for review (the tests check the manifests against this list)."""


# --- the trusted CA in pods --------------------------------------------------------------------------------------


def openssl_subject_hash(certificate_pem: str) -> str:
    """OpenSSL's subject name hash (`openssl x509 -subject_hash`), the file name its directory lookup opens.

    SHA-1 of the name's canonical encoding (OpenSSL `x509_name_canon`): every string attribute re-encoded as
    UTF8String, trimmed, inner white space collapsed to one space and ASCII lower-cased; each RDN's DER `SET`
    concatenated without the outer `SEQUENCE`. The hash is the digest's first four bytes read little-endian.
    """
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    tag, name, _ = _der_read(certificate.subject.public_bytes(), 0)
    if tag != 0x30:
        raise ValueError("the certificate's subject is not a DER SEQUENCE")
    canonical = bytearray()
    offset = 0
    while offset < len(name):
        tag, rdn, offset = _der_read(name, offset)
        attributes: list[bytes] = []
        position = 0
        while position < len(rdn):
            _, attribute, position = _der_read(rdn, position)
            _, _, oid_end = _der_read(attribute, 0)
            value_tag, value, _ = _der_read(attribute, oid_end)
            encoded_value = (
                _der(0x0C, _canonical_text(value_tag, value)) if value_tag in _TEXT_ENCODINGS else attribute[oid_end:]
            )
            attributes.append(_der(0x30, attribute[:oid_end] + encoded_value))
        canonical += _der(0x31, b"".join(sorted(attributes)))  # DER sorts the members of a SET OF
    digest = hashlib.sha1(bytes(canonical), usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def ca_file_names(proxy: EgressProxy) -> list[tuple[str, str]]:
    """(ConfigMap key, file name in /etc/ssl/certs) per trusted CA: `<hash>.0`, `.1` when two hashes collide."""
    names: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for index, pem in enumerate(proxy.ca_certificates()):
        digest = openssl_subject_hash(pem)
        number = seen.get(digest, 0)
        seen[digest] = number + 1
        names.append((f"ca-{index}.crt", f"{digest}.{number}"))
    return names


def ca_config_map(namespace: str, proxy: EgressProxy) -> dict[str, Any] | None:
    """The trusted CA for the pods of one namespace; None without `trustedCa`."""
    pems = proxy.ca_certificates()
    if not pems:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CA_CONFIGMAP,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "stackhub-ha"},
        },
        "data": {f"ca-{index}.crt": pem for index, pem in enumerate(pems)},
    }


def ca_volume(proxy: EgressProxy) -> dict[str, Any] | None:
    """The pod volume of the trusted CA, its keys under their hash names; None without `trustedCa`."""
    names = ca_file_names(proxy)
    if not names:
        return None
    items = [{"key": key, "path": path} for key, path in names]
    return {"name": CA_CONFIGMAP, "configMap": {"name": CA_CONFIGMAP, "items": items, "defaultMode": 0o444}}


def ca_mounts(proxy: EgressProxy) -> list[dict[str, Any]]:
    """One read-only file per CA into the image's own /etc/ssl/certs (subPath keeps the system roots visible)."""
    return [
        {"name": CA_CONFIGMAP, "mountPath": f"{SYSTEM_CA_DIR}/{path}", "subPath": path, "readOnly": True}
        for _, path in ca_file_names(proxy)
    ]


def proxy_env(proxy: EgressProxy, no_proxy: Sequence[str]) -> list[dict[str, str]]:
    """The proxy variables as a container's `env`, as plain values.

    They hold the proxy's credentials when its URLs do: such a caller moves them out (`proxy_secret` and
    `proxy_url_env` here; the backup pods mount them as files, `workloads.backup.jobs`).
    """
    return [{"name": name, "value": value} for name, value in proxy_environment(proxy, no_proxy).items()]


def proxy_secret(namespace: str, proxy: EgressProxy) -> dict[str, Any] | None:
    """The proxy URLs as a Secret in a namespace whose pods call out; None when they carry no credentials."""
    if not proxy.has_credentials:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": PROXY_SECRET,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "stackhub-ha"},
        },
        "type": "Opaque",
        "stringData": {PROXY_SECRET_KEYS["http"]: proxy.http_proxy, PROXY_SECRET_KEYS["https"]: proxy.https},
    }


def proxy_url_env(name: str, proxy: EgressProxy, url: Literal["http", "https"]) -> dict[str, Any]:
    """One proxy URL variable (`url`: "http" or "https"): its value, or a reference to `proxy_secret` when the
    URLs carry credentials."""
    if not proxy.has_credentials:
        return {"name": name, "value": proxy.http_proxy if url == "http" else proxy.https}
    reference = {"name": PROXY_SECRET, "key": PROXY_SECRET_KEYS[url]}
    return {"name": name, "valueFrom": {"secretKeyRef": reference}}


def with_egress(
    pod_spec: Mapping[str, Any], containers: Sequence[str], proxy: EgressProxy, no_proxy: Sequence[str]
) -> dict[str, Any]:
    """A copy of `pod_spec` whose named containers (init or regular) get the proxy variables and the CA.

    Only the named containers: a backup pod's `dump` step talks to the database and stays without them.
    """
    spec = copy.deepcopy(dict(pod_spec))
    wanted = set(containers)
    found = set()
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            if container["name"] not in wanted:
                continue
            found.add(container["name"])
            names = set(proxy_environment(proxy, no_proxy))
            kept = [item for item in container.get("env") or [] if item["name"] not in names]
            container["env"] = kept + proxy_env(proxy, no_proxy)
            mounts = ca_mounts(proxy)
            if mounts:
                container["volumeMounts"] = [*(container.get("volumeMounts") or []), *mounts]
    missing = sorted(wanted - found)
    if missing:
        raise KeyError(f"containers {missing} are not in the pod spec")
    volume = ca_volume(proxy)
    if volume is not None:
        spec["volumes"] = [*(spec.get("volumes") or []), volume]
    return spec


def with_cert_manager_egress(
    values: Mapping[str, Any],
    proxy: EgressProxy,
    no_proxy: Sequence[str],
    cluster_dns: str = f"{AKS_ENGINE_DNS_SERVICE_IP}:53",
) -> dict[str, Any]:
    """cert-manager's values with the proxy and the CA for its controller only.

    The chart's top-level `http_proxy`, `https_proxy` and `no_proxy` set `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`
    on the controller's container alone, as do `extraEnv`, `volumes` and `volumeMounts` (chart
    `templates/deployment.yaml`); the controller is a Go program, which reads the upper-case spelling. The chart
    writes `http_proxy` and `https_proxy` as plain values, so URLs with credentials go through `extraEnv` (whole
    EnvVar objects) as references to `proxy_secret` instead.

    DNS-01 propagation checks ask the zone's authoritative servers directly over port 53 by default; behind a proxy
    (and a NetworkPolicy allowing only the cluster's DNS) they could never answer, so the checks go to the cluster
    DNS Service instead (`dns01RecursiveNameserversOnly`), which forwards to the hub's resolvers.
    """
    result = copy.deepcopy(dict(values))
    if proxy.has_credentials:
        urls = [proxy_url_env("HTTP_PROXY", proxy, "http"), proxy_url_env("HTTPS_PROXY", proxy, "https")]
        result["extraEnv"] = [*result.get("extraEnv", []), *urls]
    else:
        result.update({"http_proxy": proxy.http_proxy, "https_proxy": proxy.https})
    result["no_proxy"] = ",".join(no_proxy)
    result.update({"dns01RecursiveNameserversOnly": True, "dns01RecursiveNameservers": cluster_dns})
    volume = ca_volume(proxy)
    if volume is not None:
        result["volumes"] = [*result.get("volumes", []), volume]
        result["volumeMounts"] = [*result.get("volumeMounts", []), *ca_mounts(proxy)]
    return result


def with_fluent_bit_egress(values: Mapping[str, Any], proxy: EgressProxy, no_proxy: Sequence[str]) -> dict[str, Any]:
    """Fluent Bit's values with the proxy (`env`) and the CA (`extraVolumes`, `extraVolumeMounts`).

    Fluent Bit reads `HTTP_PROXY` for all its traffic and has no `HTTPS_PROXY`: everything it sends (the Logs
    Ingestion API, Entra ID tokens) is HTTPS, so its `HTTP_PROXY` is the HTTPS proxy. The chart's `env` takes whole
    EnvVar objects: URLs with credentials are references to `proxy_secret`.
    """
    result = copy.deepcopy(dict(values))
    joined = ",".join(no_proxy)
    variables: list[dict[str, Any]] = [
        proxy_url_env("HTTP_PROXY", proxy, "https"),
        proxy_url_env("http_proxy", proxy, "https"),
        {"name": "NO_PROXY", "value": joined},
        {"name": "no_proxy", "value": joined},
    ]
    names = {item["name"] for item in variables}
    kept = [item for item in result.get("env", []) if item["name"] not in names]
    result["env"] = kept + variables
    volume = ca_volume(proxy)
    if volume is not None:
        result["extraVolumes"] = [*result.get("extraVolumes", []), volume]
        result["extraVolumeMounts"] = [*result.get("extraVolumeMounts", []), *ca_mounts(proxy)]
    return result


# --- NetworkPolicy ---------------------------------------------------------------------------------------------


def proxy_egress_rules(proxy: EgressProxy) -> list[dict[str, Any]]:
    """Egress to the proxy, one rule per port, its addresses as `ipBlock`s.

    A NetworkPolicy cannot name a host: when the proxy URLs use a DNS name, `egressProxy.addresses` gives the
    ranges (`planning.egress.proxy_cidrs`). Resolving the name here would pin whatever address the machine running
    Pulumi saw, and a proxy farm behind DNS changes address without a deploy.
    """
    peers = [{"ipBlock": {"cidr": cidr}} for cidr in proxy_cidrs(proxy)]
    ports = sorted({endpoint.port for endpoint in proxy.endpoints})
    return [{"to": peers, "ports": [{"protocol": "TCP", "port": port}]} for port in ports]


def dns_egress_rule() -> dict[str, Any]:
    """Egress to the cluster's DNS (CoreDNS in kube-system), UDP and TCP 53."""
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": dict(KUBE_DNS_LABELS)},
    }
    return {"to": [peer], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def api_server_egress_rule(masters_cidr: str) -> dict[str, Any]:
    """Egress to the API server: the masters' block on 443.

    The `kubernetes` Service's address is translated to a master's before the policy is applied, so the rule names
    the masters (planning.network.master_block), not the service range.
    """
    return {"to": [{"ipBlock": {"cidr": masters_cidr}}], "ports": [{"protocol": "TCP", "port": 443}]}


def egress_policy(
    name: str, namespace: str, pod_labels: Mapping[str, str], rules: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A NetworkPolicy limiting the selected pods' egress to `rules` (their ingress is left to other policies)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": dict(pod_labels)},
            "policyTypes": ["Egress"],
            "egress": [dict(rule) for rule in rules],
        },
    }


def pods_egress_rule(namespace: str, pod_labels: Mapping[str, str], ports: Sequence[int]) -> dict[str, Any]:
    """Egress to some pods of another namespace on TCP `ports`.

    cert-manager's controller needs one to the ingress controller's pods on 80: its HTTP-01 self-check asks the
    hub's own name, which the no-proxy list sends directly to the ingress address, and the Service rules turn that
    address into an ingress pod before the policy looks.
    """
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": dict(pod_labels)},
    }
    return {"to": [peer], "ports": [{"protocol": "TCP", "port": port} for port in ports]}


def caller_egress_policy(
    name: str,
    namespace: str,
    pod_labels: Mapping[str, str],
    proxy: EgressProxy,
    masters_cidr: str,
    *,
    extra: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The policy of a pod that calls out through the proxy and talks to the API server: DNS, API, proxy, `extra`."""
    rules = [dns_egress_rule(), api_server_egress_rule(masters_cidr), *proxy_egress_rules(proxy), *extra]
    return egress_policy(name, namespace, pod_labels, rules)


# --- the nodes -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeProxySettings:
    """What the node DaemonSet installs."""

    proxy: EgressProxy | None
    """The proxy; None renders a DaemonSet that removes what an earlier one installed (run it once, then delete)."""
    no_proxy: Sequence[str]
    """The effective no-proxy list (planning.egress.effective_no_proxy)."""
    masters_cidr: str
    """The masters' block (planning.network.master_block): the lock is taken through the API server there."""
    image: str = DEFAULT_NODE_IMAGE
    """A pinned image with Python 3 and nsenter, from a registry the nodes reach without the proxy."""
    namespace: str = NODE_NAMESPACE
    """The configurator's namespace (Pod Security `privileged`)."""

    def __post_init__(self) -> None:
        # The one image rule (planning/names.py), as the stack's egressNodeImage key is checked.
        if (why := image_reference_problem(self.image)) is not None:
            raise ValueError(f"image {self.image!r}: {why}")


def node_files(proxy: EgressProxy | None, no_proxy: Sequence[str]) -> dict[str, str]:
    """The proxy files by key (empty without a proxy): containerd's and the kubelet's drop-ins, apt's file."""
    if proxy is None:
        return {}
    environment = proxy_environment(proxy, no_proxy)
    # systemd expands `%` specifiers inside Environment=; percent-encoded credentials must survive as written.
    lines = [f'Environment="{name}={value.replace("%", "%%")}"' for name, value in environment.items()]
    header = "# Written by the node-egress-proxy DaemonSet (stackhub-ha). Changes here are overwritten.\n"
    dropin = header + "[Service]\n" + "\n".join(lines) + "\n"
    # apt reads no NO_PROXY: the user's own hosts (a package mirror) are listed one by one; ranges and domains
    # cannot be, and nothing else in the list serves packages.
    direct = [host for host in map(check_no_proxy_entry, proxy.no_proxy) if "/" not in host and host[0] != "."]
    apt = [
        f'Acquire::http::Proxy "{proxy.http_proxy}";',
        f'Acquire::https::Proxy "{proxy.https}";',
        *(f'Acquire::{scheme}::Proxy::{host} "DIRECT";' for host in direct for scheme in ("http", "https")),
    ]
    return {
        "containerd-http-proxy.conf": dropin,
        "kubelet-http-proxy.conf": dropin,
        "apt-proxy.conf": header + "\n".join(apt) + "\n",
    }


def node_plan(settings: NodeProxySettings) -> dict[str, Any]:
    """What `NODE_SCRIPT` converges a node to: each owned host file (its source, or absent) and what follows it."""
    files = node_files(settings.proxy, settings.no_proxy)
    restart_both = ["update-ca-certificates", "restart:containerd", "restart:kubelet"]
    # Readable by root only when the URLs carry credentials (systemd and apt read them as root).
    mode = 0o600 if settings.proxy is not None and settings.proxy.has_credentials else 0o644

    def entry(key: str, target: str, after: list[str]) -> dict[str, Any]:
        source = f"{CONFIG_MOUNT}/files/{key}" if key in files else None
        return {"source": source, "target": f"{HOST_MOUNT}{target}", "mode": mode, "after": after}

    plan_files = [
        entry("containerd-http-proxy.conf", f"{CONTAINERD_DROPIN_DIR}/{DROPIN_FILE}", ["restart:containerd"]),
        entry("kubelet-http-proxy.conf", f"{KUBELET_DROPIN_DIR}/{DROPIN_FILE}", ["restart:kubelet"]),
        entry("apt-proxy.conf", f"{APT_CONF_DIR}/{APT_FILE}", []),
    ]
    pems = settings.proxy.ca_certificates() if settings.proxy else ()
    plan_files += [
        {
            "source": f"{CONFIG_MOUNT}/config/ca-{index}.crt",
            "target": f"{HOST_MOUNT}{HOST_CA_DIR}/{CA_FILE_PREFIX}{index}.crt",
            "mode": 0o644,
            # Go and OpenSSL read the system roots once per process: the services restart to trust a new CA.
            "after": restart_both,
        }
        for index in range(len(pems))
    ]
    return {
        "files": plan_files,
        # Any other CA file of ours (a CA removed from trustedCa) is deleted.
        "owned": [{"directory": f"{HOST_MOUNT}{HOST_CA_DIR}", "prefix": CA_FILE_PREFIX, "after": restart_both}],
        "lease": f"{settings.namespace}/{LEASE_NAME}",
        "leaseSeconds": LEASE_SECONDS,
        "failedLeaseSeconds": FAILED_LEASE_SECONDS,
        "waitTries": WAIT_TRIES,
    }


def node_manifests(settings: NodeProxySettings) -> list[dict[str, Any]]:
    """Namespace, ServiceAccount, lock (Lease, Role, RoleBinding), configuration, DaemonSet and NetworkPolicy.

    The proxy files go into a Secret: a proxy URL may carry credentials. The CA and the script are public.
    """
    namespace = settings.namespace
    labels = dict(NODE_LABELS)
    files = node_files(settings.proxy, settings.no_proxy)
    pems = settings.proxy.ca_certificates() if settings.proxy else ()
    plan = node_plan(settings)
    public = {"configure_node.py": NODE_SCRIPT, **{f"ca-{i}.crt": pem for i, pem in enumerate(pems)}}
    # The pod template changes with the configuration, so a change rolls out node by node. The digest leaves the
    # proxy URLs out (a hash of a URL with a weak password can be reversed by guessing); a password rotation alone
    # is rolled out with `kubectl -n node-egress rollout restart daemonset/node-egress-proxy`.
    digest = hashlib.sha256(
        json.dumps(
            {"public": public, "plan": plan, "noProxy": list(settings.no_proxy), "endpoints": _endpoints(settings)},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    metadata = {"namespace": namespace, "labels": labels}
    lock_rules = [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [LEASE_NAME],
         "verbs": ["get", "update"]},
    ]  # fmt: skip
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {
                    **labels,
                    # hostPID, hostPath and a privileged container: only the privileged level admits them.
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/warn": "privileged",
                    "pod-security.kubernetes.io/audit": "privileged",
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NODE_APP, **metadata},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME, **metadata},
            "spec": {},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": f"{NODE_APP}-lock", **metadata},
            "rules": lock_rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{NODE_APP}-lock", **metadata},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{NODE_APP}-lock"},
            "subjects": [{"kind": "ServiceAccount", "name": NODE_APP, "namespace": namespace}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": NODE_APP, **metadata}, "data": public},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{NODE_APP}-files", **metadata},
            "type": "Opaque",
            "stringData": files,
        },
        _daemon_set(settings, plan, digest),
        egress_policy(NODE_APP, namespace, labels, [api_server_egress_rule(settings.masters_cidr)]),
    ]


def _endpoints(settings: NodeProxySettings) -> list[str]:
    if settings.proxy is None:
        return []
    return [f"{e.host}:{e.port}:{e.has_credentials}" for e in settings.proxy.endpoints]


def _host_path(name: str, path: str, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    volume = {"name": name, "hostPath": {"path": path, "type": kind}}
    mount = {"name": name, "mountPath": f"{HOST_MOUNT}{path}"}
    return volume, mount


def _host_paths() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The host directories the configurator writes, as (volume, mount) pairs."""
    return [
        _host_path("containerd-dropins", CONTAINERD_DROPIN_DIR, "DirectoryOrCreate"),
        _host_path("kubelet-dropins", KUBELET_DROPIN_DIR, "DirectoryOrCreate"),
        _host_path("apt-conf", APT_CONF_DIR, "Directory"),
        _host_path("ca-certificates", HOST_CA_DIR, "DirectoryOrCreate"),
    ]


def _configure_container(
    settings: NodeProxySettings, plan: Mapping[str, Any], host_mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    """The init container that converges the node to `plan` (privileged, in the host's PID namespace)."""
    return {
        "name": "configure",
        "image": settings.image,
        "imagePullPolicy": PULL_POLICY,
        "command": ["python", "-S", f"{CONFIG_MOUNT}/config/configure_node.py"],
        "env": [
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "EGRESS_PLAN", "value": json.dumps(plan, sort_keys=True)},
            {"name": "EGRESS_LOCK_TOKEN_DIR", "value": "/var/run/secrets/node-egress-lock"},
        ],
        "volumeMounts": [
            {"name": "config", "mountPath": f"{CONFIG_MOUNT}/config", "readOnly": True},
            {"name": "files", "mountPath": f"{CONFIG_MOUNT}/files", "readOnly": True},
            {"name": "lock-token", "mountPath": "/var/run/secrets/node-egress-lock", "readOnly": True},
            *host_mounts,
        ],
        "securityContext": {
            "privileged": True,
            "runAsUser": 0,
            "runAsNonRoot": False,
            "readOnlyRootFilesystem": True,
        },
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _hold_container(settings: NodeProxySettings) -> dict[str, Any]:
    """The container that keeps the pod (and with it the node's Ready mark for the rollout), unprivileged."""
    return {
        "name": "hold",
        "image": settings.image,
        # Does nothing but wait.
        "command": ["python", "-S", "-c", "import signal; signal.pause()"],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "imagePullPolicy": PULL_POLICY,
        # Ready as soon as it runs: it starts only after `configure` has finished on this node.
        "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 60},
        # Alive while the runtime can still run a command in it. Generous: while containerd restarts (a later
        # change on this node), exec probes fail for a few seconds, and that is no reason to restart it.
        "livenessProbe": {
            "exec": {"command": ["true"]},
            "periodSeconds": 60,
            "timeoutSeconds": 10,
            "failureThreshold": 5,
        },
        "resources": {"requests": {"cpu": "1m", "memory": "8Mi"}, "limits": {"cpu": "10m", "memory": "32Mi"}},
    }


def _node_volumes(host_volumes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The script and CA (ConfigMap), the proxy files (Secret), the Lease credentials, then the host directories."""
    lock_token = {
        "name": "lock-token",
        "projected": {
            "defaultMode": 0o400,
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            ],
        },
    }
    return [
        {"name": "config", "configMap": {"name": NODE_APP, "defaultMode": 0o444}},
        {"name": "files", "secret": {"secretName": f"{NODE_APP}-files", "defaultMode": 0o400}},
        lock_token,
        *host_volumes,
    ]


def _daemon_set(settings: NodeProxySettings, plan: Mapping[str, Any], digest: str) -> dict[str, Any]:
    """One pod per node, one node at a time: `configure` converges the node, then `hold` keeps the pod."""
    labels = dict(NODE_LABELS)
    host = _host_paths()
    # Each deliberate privilege, and an image pinned by tag, carries its checkov exception with the reason.
    exceptions = [*node_access_exceptions("configure", NODE_PURPOSE), *image_exceptions([settings.image])]
    metadata = {"name": NODE_APP, "namespace": settings.namespace, "labels": labels}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {**metadata, "annotations": skip_annotations(exceptions)},
        "spec": {
            "selector": {"matchLabels": labels},
            # One node at a time on every update; the Lease covers the first creation and multi-node scales.
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "minReadySeconds": 30,
            "template": {
                "metadata": {"labels": labels, "annotations": {"stackhub-ha/node-egress-digest": digest}},
                "spec": {
                    "hostPID": True,
                    "serviceAccountName": NODE_APP,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    # Nodes are configured before anything else depends on their image pulls.
                    "priorityClassName": "system-node-critical",
                    # Every node, masters and tainted ones included: each pulls images.
                    "tolerations": [{"operator": "Exists"}],
                    "terminationGracePeriodSeconds": 5,
                    # Unprivileged unless a container says otherwise: only `configure` does.
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": [_configure_container(settings, plan, [mount for _, mount in host])],
                    "containers": [_hold_container(settings)],
                    "volumes": _node_volumes([volume for volume, _ in host]),
                },
            },
        },
    }


# --- helpers ---------------------------------------------------------------------------------------------------

# ASN.1 string types OpenSSL canonicalises (ASN1_MASK_CANON), with how their bytes decode.
_TEXT_ENCODINGS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # T61String (read as Latin-1, as OpenSSL does)
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}
_SPACE = b" \t\n\v\f\r"


def _canonical_text(tag: int, value: bytes) -> bytes:
    text = value.decode(_TEXT_ENCODINGS[tag]).encode("utf-8").strip(_SPACE)
    out = bytearray()
    previous_space = False
    for byte in text:
        if byte in _SPACE:
            if not previous_space:
                out.append(0x20)
            previous_space = True
            continue
        previous_space = False
        out.append(byte + 32 if 0x41 <= byte <= 0x5A else byte)
    return bytes(out)


def _der_read(data: bytes, offset: int) -> tuple[int, bytes, int]:
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    return tag, data[start : start + length], start + length


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


NODE_SCRIPT = r'''"""Converge this node to the egress proxy plan (EGRESS_PLAN), restarting services under the node lock.

Runs as the node-egress-proxy DaemonSet's init container (workloads/egress.py explains the design). Standard
library only. Exit 0 when the node is configured (or already was), 1 when it could not be.
"""

import datetime
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

HOST = json.loads(os.environ.get("EGRESS_HOST_COMMAND", '["nsenter", "--target", "1", "--mount", "--"]'))
WAIT_SECONDS = float(os.environ.get("EGRESS_WAIT_SECONDS", "2"))
POLL_SECONDS = float(os.environ.get("EGRESS_POLL_SECONDS", "10"))
UNIT_ORDER = ("containerd", "kubelet")


def say(message):
    print(f"node-egress: {message}", flush=True)


def read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def changes(plan):
    """(target, desired bytes or None, mode, after) for every owned file that differs from the plan."""
    found = []
    targets = set()
    for item in plan["files"]:
        targets.add(item["target"])
        desired = read(item["source"]) if item["source"] else None
        if read(item["target"]) != desired:
            found.append((item["target"], desired, item["mode"], item["after"]))
    for owned in plan["owned"]:
        try:
            names = sorted(os.listdir(owned["directory"]))
        except FileNotFoundError:
            names = []
        for name in names:
            path = os.path.join(owned["directory"], name)
            if name.startswith(owned["prefix"]) and path not in targets:
                found.append((path, None, 0, owned["after"]))
    return found


def write(path, content, mode):
    if content is None:
        os.remove(path)
        return
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    temporary = f"{path}.node-egress.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def host(*argv):
    return subprocess.run([*HOST, *argv], check=False).returncode


def wait_active(unit, tries):
    for _ in range(tries):
        if host("/usr/bin/systemctl", "is-active", "--quiet", unit) == 0:
            return True
        time.sleep(WAIT_SECONDS)
    return False


class Lock:
    """The Lease `namespace/name`, held by this node's name while its services restart."""

    def __init__(self, reference, node, seconds):
        namespace, name = reference.split("/")
        base = os.environ.get("EGRESS_API_URL") or (
            f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
        )
        self.url = f"{base}/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self.node = node
        self.seconds = seconds
        tokens = os.environ.get("EGRESS_LOCK_TOKEN_DIR", "/var/run/secrets/node-egress-lock")
        self.token_path = os.path.join(tokens, "token")
        self.context = None
        if self.url.startswith("https://"):
            self.context = ssl.create_default_context(cafile=os.path.join(tokens, "ca.crt"))

    def _call(self, method, body=None):
        with open(self.token_path, encoding="utf-8") as handle:
            token = handle.read().strip()
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/json")
        # The API server is reached directly: this pod never has proxy variables, and urllib must not find any.
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self.context)
        )
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, {}

    @staticmethod
    def _now():
        return datetime.datetime.now(datetime.timezone.utc)

    @classmethod
    def _stamp(cls):
        return cls._now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _expired(self, spec):
        renewed = spec.get("renewTime") or spec.get("acquireTime")
        if not renewed:
            return True
        moment = datetime.datetime.strptime(renewed, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        return moment + datetime.timedelta(seconds=spec.get("leaseDurationSeconds") or 0) < self._now()

    def acquire(self):
        while True:
            status, lease = self._call("GET")
            if status != 200:
                raise RuntimeError(f"cannot read the lock lease (HTTP {status})")
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity")
            if holder in (None, "", self.node) or self._expired(spec):
                stamp = self._stamp()
                lease["spec"] = {**spec, "holderIdentity": self.node, "leaseDurationSeconds": self.seconds,
                                 "acquireTime": stamp, "renewTime": stamp}
                status, _ = self._call("PUT", lease)
                if status == 200:
                    say(f"took the node lock (previous holder: {holder or 'none'})")
                    return
                if status != 409:
                    raise RuntimeError(f"cannot take the lock lease (HTTP {status})")
                continue  # another node updated it first: read again
            say(f"waiting: {holder} holds the node lock")
            time.sleep(POLL_SECONDS)

    def hold(self, seconds):
        """Keep the lock after a failure, so no other node takes the same configuration."""
        for _ in range(5):
            status, lease = self._call("GET")
            spec = lease.get("spec") or {}
            if status != 200 or spec.get("holderIdentity") != self.node:
                return
            lease["spec"] = {**spec, "leaseDurationSeconds": seconds, "renewTime": self._stamp()}
            if self._call("PUT", lease)[0] != 409:
                return

    def release(self):
        for _ in range(5):
            status, lease = self._call("GET")
            spec = lease.get("spec") or {}
            if status != 200 or spec.get("holderIdentity") != self.node:
                return
            lease["spec"] = {key: value for key, value in spec.items() if key not in ("holderIdentity", "acquireTime",
                                                                                      "renewTime")}
            status, _ = self._call("PUT", lease)
            if status == 200:
                say("released the node lock")
                return


def converge(plan, lock):
    pending = changes(plan)
    if not pending:
        say("node already configured")
        return 0
    lock.acquire()
    pending = changes(plan)  # what is left once the lock is ours (an earlier pod may have done part of it)
    if not pending:
        lock.release()
        say("node already configured")
        return 0
    actions = []
    for _, _, _, after in pending:
        actions += [action for action in after if action not in actions]
    try:
        for path, content, mode, _ in pending:
            write(path, content, mode)
            say(f"{'removed' if content is None else 'wrote'} {path}")
        if "update-ca-certificates" in actions and host("/usr/sbin/update-ca-certificates") != 0:
            raise RuntimeError("update-ca-certificates failed")
        if host("/usr/bin/systemctl", "daemon-reload") != 0:
            raise RuntimeError("systemctl daemon-reload failed")
        for unit in UNIT_ORDER:
            if f"restart:{unit}" not in actions:
                continue
            say(f"restarting {unit}")
            if host("/usr/bin/systemctl", "restart", unit) != 0 or not wait_active(unit, plan["waitTries"]):
                raise RuntimeError(f"{unit} is not active after its restart")
            say(f"{unit} is active")
    except (OSError, RuntimeError) as error:
        say(f"FAILED: {error}; this node keeps the lock so that no other node takes this configuration")
        lock.hold(plan["failedLeaseSeconds"])
        return 1
    lock.release()
    return 0


def main():
    plan = json.loads(os.environ["EGRESS_PLAN"])
    lock = Lock(plan["lease"], os.environ["NODE_NAME"], plan["leaseSeconds"])
    try:
        return converge(plan, lock)
    except (OSError, RuntimeError, ValueError) as error:
        say(f"FAILED before changing anything: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
'''
"""The node configurator, shipped in the ConfigMap and run by the DaemonSet's init container (standard library)."""
