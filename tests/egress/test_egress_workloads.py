"""The node DaemonSet, the pods that call out and their NetworkPolicies, checked as the cluster would check them."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from aksengine.versions import DEFAULT_KUBERNETES_VERSION
from planning.egress import EgressProxy, effective_no_proxy
from planning.network import master_block
from policy.stackhub_policies.pod_security import restricted_violations
from tests.egress.certs import certificate_pem
from tests.workloads.network_paths import Path, Pod, allowed_paths
from tests.workloads.values_schema import values_errors
from workloads.backup.jobs import JobSettings, backup_pod_spec, cronjob, verify_pod_spec
from workloads.charts import INGRESS_CONTROLLER_POD_LABELS
from workloads.egress import (
    APT_CONF_DIR,
    CA_CONFIGMAP,
    CERT_MANAGER_CONTROLLER_LABELS,
    CONTAINERD_DROPIN_DIR,
    HOST_CA_DIR,
    KUBELET_DROPIN_DIR,
    LEASE_NAME,
    NODE_APP,
    NODE_NAMESPACE,
    NODE_PRIVILEGES,
    PROXY_SECRET,
    NodeProxySettings,
    ca_config_map,
    caller_egress_policy,
    node_files,
    node_manifests,
    node_plan,
    openssl_subject_hash,
    pods_egress_rule,
    proxy_secret,
    with_cert_manager_egress,
    with_egress,
    with_fluent_bit_egress,
)
from workloads.log_shipping import IngestionTarget, container_log_values, event_values
from workloads.platform_values import cert_manager_values
from workloads.scan_exceptions import (
    CAPABILITIES,
    HOST_PID,
    IMAGE_DIGEST,
    NET_RAW,
    PRIVILEGE_ESCALATION,
    PRIVILEGED,
    PULL_POLICY_ALWAYS,
    SKIP_ANNOTATION_PREFIX,
)

PROXY = "http://10.250.0.10:3128"
CREDENTIALED = "http://svc-egress:S3cr3t%25pw@10.250.0.10:3128"
NO_PROXY = effective_no_proxy(
    service_cidr="10.0.0.0/16",
    vnet_cidr="10.10.0.0/16",
    api_server_fqdn="hub-seattle.seattle.cloudapp.azurestack.contoso.com",
    arm_endpoint="https://management.seattle.azurestack.contoso.com",
    storage_suffix="seattle.azurestack.contoso.com",
    extra=("mirror.contoso.com", ".corp.contoso.com", "10.250.20.0/24"),
)
MASTERS = master_block("10.10.0.0/22").cidr
CA = certificate_pem("Contoso TLS Inspection CA")
DIGEST = "sha256:" + "5e" * 32
OPENSSL = shutil.which("openssl") or ""
TARGET = IngestionTarget(
    endpoint="https://dce-1.westeurope-1.ingest.monitor.azure.com",
    dcr_immutable_id="dcr-0123456789abcdef0123456789abcdef",
    container_log_stream="Custom-StackHubKubernetes",
    event_stream="Custom-StackHubEvents",
)


def proxy(url: str = PROXY, *, ca: str | None = CA) -> EgressProxy:
    return EgressProxy(url, no_proxy=("mirror.contoso.com", ".corp.contoso.com", "10.250.20.0/24"), trusted_ca=ca)


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [obj["kind"] for obj in objects]
    assert len(set(kinds)) == len(kinds), kinds
    return {obj["kind"]: obj for obj in objects}


def validate(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, DEFAULT_KUBERNETES_VERSION, strict=True)


SETTINGS = {
    "with a CA": NodeProxySettings(
        proxy(), NO_PROXY, MASTERS, image="registry.seattle.contoso.local/python:3.12.8-slim"
    ),
    "without a CA": NodeProxySettings(proxy(ca=None), NO_PROXY, MASTERS),
    "with credentials": NodeProxySettings(proxy(CREDENTIALED), NO_PROXY, MASTERS),
    "removing": NodeProxySettings(None, NO_PROXY, MASTERS),
}


# --- the node DaemonSet ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", SETTINGS)
def test_the_node_objects_pass_the_kubernetes_schemas_strictly(case: str) -> None:
    objects = node_manifests(SETTINGS[case])
    assert [obj["kind"] for obj in objects] == [
        "Namespace", "ServiceAccount", "Lease", "Role", "RoleBinding", "ConfigMap", "Secret", "DaemonSet",
        "NetworkPolicy",
    ]  # fmt: skip
    for obj in objects:
        validate(obj)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NODE_NAMESPACE


def test_a_misspelt_field_would_be_caught_by_that_check() -> None:
    daemon_set = by_kind(node_manifests(SETTINGS["with a CA"]))["DaemonSet"]
    daemon_set["spec"]["template"]["spec"]["hostPid"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(daemon_set)


def _pod(case: str = "with a CA") -> dict[str, Any]:
    pod: dict[str, Any] = by_kind(node_manifests(SETTINGS[case]))["DaemonSet"]["spec"]["template"]["spec"]
    return pod


def test_the_namespace_admits_privileged_pods_and_says_so() -> None:
    labels = by_kind(node_manifests(SETTINGS["with a CA"]))["Namespace"]["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "privileged"


def test_the_daemon_set_has_exactly_the_privileges_listed() -> None:
    pod = _pod()
    # What the restricted profile refuses is exactly what the configurator needs, and nothing else.
    assert sorted(restricted_violations(pod)) == sorted([
        "pod: hostPID must not be true",
        "volume containerd-dropins: type ['hostPath'] is not allowed",
        "volume kubelet-dropins: type ['hostPath'] is not allowed",
        "volume apt-conf: type ['hostPath'] is not allowed",
        "volume ca-certificates: type ['hostPath'] is not allowed",
        *[v for v in restricted_violations(pod) if v.startswith("initContainers/configure:")],
    ])  # fmt: skip
    configure = [v for v in restricted_violations(pod) if v.startswith("initContainers/configure:")]
    assert "initContainers/configure: privileged" in configure
    hold_only = {**pod, "hostPID": False, "volumes": [], "initContainers": []}
    assert restricted_violations(hold_only) == []
    assert "hostNetwork" not in pod
    assert "hostIPC" not in pod
    assert pod["hostPID"] is True
    host_paths = {v["hostPath"]["path"]: v["hostPath"]["type"] for v in pod["volumes"] if "hostPath" in v}
    assert host_paths == {
        CONTAINERD_DROPIN_DIR: "DirectoryOrCreate",
        KUBELET_DROPIN_DIR: "DirectoryOrCreate",
        APT_CONF_DIR: "Directory",
        HOST_CA_DIR: "DirectoryOrCreate",
    }
    for path, kind in host_paths.items():
        assert any(path in line and kind in line for line in NODE_PRIVILEGES), path
    [configure_container] = pod["initContainers"]
    [hold] = pod["containers"]
    assert configure_container["securityContext"] == {
        "privileged": True, "runAsUser": 0, "runAsNonRoot": False, "readOnlyRootFilesystem": True
    }  # fmt: skip
    assert "ports" not in configure_container
    assert "ports" not in hold
    assert hold["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "volumeMounts" not in hold


def test_only_the_init_container_gets_a_token_and_it_can_touch_one_lease() -> None:
    objects = by_kind(node_manifests(SETTINGS["with a CA"]))
    pod = _pod()
    assert pod["automountServiceAccountToken"] is False
    assert objects["ServiceAccount"]["automountServiceAccountToken"] is False
    token_volumes = [v["name"] for v in pod["volumes"] if "projected" in v]
    assert token_volumes == ["lock-token"]
    mounted = [c["name"] for c in pod["initContainers"] + pod["containers"]
               if any(m["name"] == "lock-token" for m in c.get("volumeMounts", []))]  # fmt: skip
    assert mounted == ["configure"]
    assert objects["Role"]["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [LEASE_NAME],
         "verbs": ["get", "update"]}
    ]  # fmt: skip
    assert objects["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": NODE_APP, "namespace": NODE_NAMESPACE}
    ]
    assert objects["Lease"]["metadata"]["name"] == LEASE_NAME
    # Its only way out of the pod network is the API server, for the lock.
    assert objects["NetworkPolicy"]["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": MASTERS}}], "ports": [{"protocol": "TCP", "port": 443}]}
    ]


def test_the_daemon_set_runs_on_every_node_one_node_at_a_time_with_a_pinned_image() -> None:
    daemon_set = by_kind(node_manifests(SETTINGS["with a CA"]))["DaemonSet"]
    spec = daemon_set["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["minReadySeconds"] >= 10
    pod = spec["template"]["spec"]
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["priorityClassName"] == "system-node-critical"
    images = {c["image"] for c in pod["initContainers"] + pod["containers"]}
    assert images == {"registry.seattle.contoso.local/python:3.12.8-slim"}
    for bad in ("python", "python:latest", "registry.contoso.local:5000/python"):
        with pytest.raises(ValueError, match="latest"):
            NodeProxySettings(proxy(), NO_PROXY, MASTERS, image=bad)


def skipped(obj: dict[str, Any]) -> dict[str, str]:
    """checkov's skip annotations of an object as {check id: reason}, read as checkov reads them."""
    found: dict[str, str] = {}
    for key, value in (obj["metadata"].get("annotations") or {}).items():
        if SKIP_ANNOTATION_PREFIX in key:
            check_id, reason = value.split("=")
            found[check_id] = reason
    return found


def test_each_deliberate_privilege_of_the_daemon_set_carries_its_reason_on_the_object() -> None:
    daemon_set = by_kind(node_manifests(SETTINGS["with a CA"]))["DaemonSet"]
    reasons = skipped(daemon_set)
    node_checks = {PRIVILEGED, HOST_PID, PRIVILEGE_ESCALATION, NET_RAW, CAPABILITIES}
    assert set(reasons) == node_checks | {IMAGE_DIGEST, PULL_POLICY_ALWAYS}
    for check in node_checks:
        assert "`configure`" in reasons[check], check
    assert "systemctl" in reasons[PRIVILEGED]
    assert "PID 1" in reasons[HOST_PID]
    assert "registry.seattle.contoso.local/python:3.12.8-slim" in reasons[IMAGE_DIGEST]
    # Each skip stands for what the pod really is: one privileged container in the host's PID namespace, and
    # another that escalates nothing and drops every capability.
    pod = daemon_set["spec"]["template"]["spec"]
    [configure] = pod["initContainers"]
    [hold] = pod["containers"]
    assert pod["hostPID"] is True
    assert configure["securityContext"]["privileged"] is True
    # The API server refuses allowPrivilegeEscalation false beside privileged true: it is simply not set.
    assert "allowPrivilegeEscalation" not in configure["securityContext"]
    assert hold["securityContext"]["allowPrivilegeEscalation"] is False
    assert hold["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in hold["securityContext"]


def test_a_node_image_with_a_digest_leaves_only_the_privileges_to_skip() -> None:
    image = f"registry.seattle.contoso.local/python:3.12.8-slim@{DIGEST}"
    daemon_set = by_kind(node_manifests(NodeProxySettings(proxy(), NO_PROXY, MASTERS, image=image)))["DaemonSet"]
    assert set(skipped(daemon_set)) == {PRIVILEGED, HOST_PID, PRIVILEGE_ESCALATION, NET_RAW, CAPABILITIES}
    pod = daemon_set["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["initContainers"] + pod["containers"]} == {image}


def test_what_is_not_a_deliberate_privilege_the_daemon_set_meets() -> None:
    pod = _pod()
    # A pod security context whose defaults are unprivileged: only `configure` overrides them, as root.
    assert pod["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534, "seccompProfile": {"type": "RuntimeDefault"}
    }  # fmt: skip
    [configure] = pod["initContainers"]
    [hold] = pod["containers"]
    assert (configure["securityContext"]["runAsUser"], configure["securityContext"]["runAsNonRoot"]) == (0, False)
    # The images are pulled like every other image of the project, and `hold` has a liveness probe that a
    # containerd restart of a few seconds does not trip.
    assert {c["imagePullPolicy"] for c in (configure, hold)} == {"IfNotPresent"}
    probe = hold["livenessProbe"]
    assert probe["exec"] == {"command": ["true"]}
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 120
    validate(by_kind(node_manifests(SETTINGS["with a CA"]))["DaemonSet"])


def test_a_change_of_configuration_rolls_out_and_an_unchanged_one_does_not() -> None:
    def digest(settings: NodeProxySettings) -> str:
        daemon_set = by_kind(node_manifests(settings))["DaemonSet"]
        value: str = daemon_set["spec"]["template"]["metadata"]["annotations"]["stackhub-ha/node-egress-digest"]
        return value

    base = digest(SETTINGS["with a CA"])
    assert digest(SETTINGS["with a CA"]) == base
    image = "registry.seattle.contoso.local/python:3.12.8-slim"
    changed = [
        NodeProxySettings(proxy(ca=certificate_pem("Another CA")), NO_PROXY, MASTERS, image=image),
        NodeProxySettings(proxy(), (*NO_PROXY, "extra.contoso.com"), MASTERS, image=image),
        NodeProxySettings(proxy("http://10.250.0.11:3128"), NO_PROXY, MASTERS, image=image),
    ]
    assert all(digest(settings) != base for settings in changed)
    # The digest never carries a credential: rotating only the password keeps it (documented: rollout restart).
    rotated = NodeProxySettings(proxy(CREDENTIALED.replace("S3cr3t", "N3w")), NO_PROXY, MASTERS)
    assert digest(rotated) == digest(SETTINGS["with credentials"])


def test_credentials_stay_in_the_secret() -> None:
    objects = node_manifests(SETTINGS["with credentials"])
    for obj in objects:
        text = json.dumps(obj)
        assert ("S3cr3t" in text) == (obj["kind"] == "Secret"), obj["kind"]
    plan = node_plan(SETTINGS["with credentials"])
    assert {item["mode"] for item in plan["files"][:3]} == {0o600}
    assert {item["mode"] for item in node_plan(SETTINGS["without a CA"])["files"]} == {0o644}


def test_the_node_files_give_containerd_the_kubelet_and_apt_the_proxy() -> None:
    files = node_files(proxy(CREDENTIALED), NO_PROXY)
    assert files["containerd-http-proxy.conf"] == files["kubelet-http-proxy.conf"]
    dropin = files["containerd-http-proxy.conf"].splitlines()
    assert dropin[1] == "[Service]"
    environment = [line for line in dropin if line.startswith("Environment=")]
    joined = ",".join(NO_PROXY)
    # systemd reads `%%` as `%`: the percent-encoded password arrives as written.
    escaped = CREDENTIALED.replace("%", "%%")
    assert environment == [
        f'Environment="HTTP_PROXY={escaped}"', f'Environment="http_proxy={escaped}"',
        f'Environment="HTTPS_PROXY={escaped}"', f'Environment="https_proxy={escaped}"',
        f'Environment="NO_PROXY={joined}"', f'Environment="no_proxy={joined}"',
    ]  # fmt: skip
    apt = files["apt-proxy.conf"].splitlines()[1:]
    assert apt == [
        f'Acquire::http::Proxy "{CREDENTIALED}";',
        f'Acquire::https::Proxy "{CREDENTIALED}";',
        'Acquire::http::Proxy::mirror.contoso.com "DIRECT";',
        'Acquire::https::Proxy::mirror.contoso.com "DIRECT";',
    ]
    assert node_files(None, NO_PROXY) == {}


def test_the_plan_restarts_only_what_a_file_concerns_and_removes_what_is_no_longer_wanted() -> None:
    plan = node_plan(SETTINGS["with a CA"])
    after = {item["target"].removeprefix("/host"): item["after"] for item in plan["files"]}
    assert after == {
        f"{CONTAINERD_DROPIN_DIR}/http-proxy.conf": ["restart:containerd"],
        f"{KUBELET_DROPIN_DIR}/http-proxy.conf": ["restart:kubelet"],
        f"{APT_CONF_DIR}/95stackhub-egress-proxy": [],
        f"{HOST_CA_DIR}/stackhub-egress-proxy-0.crt": ["update-ca-certificates", "restart:containerd",
                                                        "restart:kubelet"],
    }  # fmt: skip
    removing = node_plan(SETTINGS["removing"])
    assert [item["source"] for item in removing["files"]] == [None, None, None]
    assert removing["owned"] == plan["owned"]


# --- the pods that call out ------------------------------------------------------------------------------------


@pytest.mark.skipif(not OPENSSL, reason="needs the openssl command")
def test_the_ca_file_name_is_the_hash_openssl_looks_up() -> None:
    # Upper case, runs of spaces, non-ASCII, and one RDN with two values whose order canonicalisation changes.
    unit = NameOID.ORGANIZATIONAL_UNIT_NAME
    two_values = x509.Name(
        [x509.RelativeDistinguishedName([x509.NameAttribute(unit, "B"), x509.NameAttribute(unit, "a")])]
    )
    for pem in (CA, certificate_pem("  Contoso   INSPECTION ca "), certificate_pem("Prüfung CA"),
                certificate_pem(name=two_values)):  # fmt: skip
        expected = subprocess.run([OPENSSL, "x509", "-noout", "-subject_hash"], input=pem, capture_output=True,
                                  text=True, check=True).stdout.strip()  # fmt: skip
        assert openssl_subject_hash(pem) == expected


def test_cert_manager_values_give_only_the_controller_the_proxy_and_pass_the_chart_schema() -> None:
    base = cert_manager_values(namespace="cert-manager")
    values = with_cert_manager_egress(base, proxy(), NO_PROXY)
    assert values_errors("cert-manager", values) == []
    digest = openssl_subject_hash(CA)
    assert values["http_proxy"] == PROXY
    assert values["https_proxy"] == PROXY
    assert values["no_proxy"] == ",".join(NO_PROXY)
    # DNS-01 checks through the cluster's DNS, the only DNS its policy lets it reach.
    assert values["dns01RecursiveNameserversOnly"] is True
    assert values["dns01RecursiveNameservers"] == "10.0.0.10:53"
    assert values["volumes"] == [{
        "name": CA_CONFIGMAP,
        "configMap": {"name": CA_CONFIGMAP, "items": [{"key": "ca-0.crt", "path": f"{digest}.0"}],
                      "defaultMode": 0o444},
    }]  # fmt: skip
    assert values["volumeMounts"] == [
        {"name": CA_CONFIGMAP, "mountPath": f"/etc/ssl/certs/{digest}.0", "subPath": f"{digest}.0", "readOnly": True}
    ]
    # The webhook, cainjector and startupapicheck stay inside the cluster: their sections are untouched.
    for component in ("webhook", "cainjector", "startupapicheck"):
        assert values[component] == base[component]
    assert "proxy" not in json.dumps({k: values[k] for k in ("webhook", "cainjector", "startupapicheck")})
    # The base values are not changed in place.
    assert "http_proxy" not in base
    assert values_errors("cert-manager", {**values, "httpProxy": PROXY}) != []


def test_fluent_bit_gets_the_https_proxy_as_http_proxy_and_keeps_its_credentials() -> None:
    split = EgressProxy(PROXY, https_proxy="http://10.250.0.11:3129", trusted_ca=CA)
    for build in (container_log_values, event_values):
        base = build(TARGET, hub_name="hub-seattle", secret_name="logs")
        values = with_fluent_bit_egress(base, split, NO_PROXY)
        env = {item["name"]: item.get("value", item.get("valueFrom")) for item in values["env"]}
        assert env["HTTP_PROXY"] == env["http_proxy"] == "http://10.250.0.11:3129"
        assert env["NO_PROXY"] == env["no_proxy"] == ",".join(NO_PROXY)
        assert "HTTPS_PROXY" not in env
        assert [item for item in values["env"] if "valueFrom" in item] == base["env"]
        assert values["extraVolumes"][0]["name"] == CA_CONFIGMAP
        assert values["extraVolumeMounts"][0]["mountPath"].startswith("/etc/ssl/certs/")


def reference(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": PROXY_SECRET, "key": key}}}


def test_with_credentials_cert_manager_reads_the_urls_from_the_secret_and_passes_the_chart_schema() -> None:
    base = cert_manager_values(namespace="cert-manager")
    values = with_cert_manager_egress(base, proxy(CREDENTIALED), NO_PROXY)
    assert values_errors("cert-manager", values) == []
    assert "S3cr3t" not in json.dumps(values)
    # The chart writes http_proxy and https_proxy as plain values: they are left out, and extraEnv references.
    assert "http_proxy" not in values
    assert "https_proxy" not in values
    assert values["extraEnv"] == [reference("HTTP_PROXY", "http-proxy"), reference("HTTPS_PROXY", "https-proxy")]
    assert values["no_proxy"] == ",".join(NO_PROXY)
    # extraEnv goes to the controller alone; the other components stay untouched.
    for component in ("webhook", "cainjector", "startupapicheck"):
        assert values[component] == base[component]
    # Without credentials nothing goes through extraEnv: the URLs stay readable.
    plain = with_cert_manager_egress(base, proxy(), NO_PROXY)
    assert "extraEnv" not in plain
    assert (plain["http_proxy"], plain["https_proxy"]) == (PROXY, PROXY)


def test_with_credentials_fluent_bit_reads_its_proxy_from_the_secret_and_keeps_its_own_credentials() -> None:
    split = EgressProxy("http://10.250.0.10:3128", https_proxy="http://svc:S3cr3t@10.250.0.11:3129")
    for build in (container_log_values, event_values):
        base = build(TARGET, hub_name="hub-seattle", secret_name="logs")
        values = with_fluent_bit_egress(base, split, NO_PROXY)
        assert "S3cr3t" not in json.dumps(values)
        env = values["env"]
        assert env[: len(base["env"])] == base["env"]
        assert env[len(base["env"]) :] == [
            reference("HTTP_PROXY", "https-proxy"), reference("http_proxy", "https-proxy"),
            {"name": "NO_PROXY", "value": ",".join(NO_PROXY)}, {"name": "no_proxy", "value": ",".join(NO_PROXY)},
        ]  # fmt: skip


def test_the_proxy_secret_holds_both_urls_only_when_they_carry_credentials() -> None:
    assert proxy_secret("logging", proxy()) is None
    split = EgressProxy("http://10.250.0.10:3128", https_proxy="http://svc:S3cr3t@10.250.0.11:3129")
    secret = proxy_secret("logging", split)
    assert secret is not None
    validate(secret)
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == (PROXY_SECRET, "logging")
    assert secret["stringData"] == {"http-proxy": "http://10.250.0.10:3128",
                                    "https-proxy": "http://svc:S3cr3t@10.250.0.11:3129"}  # fmt: skip


def _backup_settings() -> JobSettings:
    return JobSettings(hub="hub-seattle", mongo_image="mongo:8.0.17", python_image="python:3.12.8-slim")


def test_backup_containers_that_call_out_get_the_proxy_and_the_ca_and_the_others_nothing() -> None:
    cases = [
        (backup_pod_spec(_backup_settings()), ["upload"]),
        (verify_pod_spec(_backup_settings()), ["fetch", "report"]),
    ]
    for pod, callers in cases:
        spec = with_egress(pod, callers, proxy(), NO_PROXY)
        assert restricted_violations(spec) == []
        for container in spec["initContainers"] + spec["containers"]:
            names = {item["name"] for item in container.get("env", [])}
            mounts = [m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] == CA_CONFIGMAP]
            if container["name"] in callers:
                assert {"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"} <= names, container["name"]
                assert mounts == [f"/etc/ssl/certs/{openssl_subject_hash(CA)}.0"]
            else:
                assert not any(name.lower().endswith("_proxy") for name in names), container["name"]
                assert mounts == []
        job = cronjob(name="ratings-backup", namespace="ratingsapp", labels={"app": "b"}, schedule="15 2 * * *",
                      time_zone="UTC", deadlines=(3600, 600), pod_spec=spec)  # fmt: skip
        validate(job)
    with pytest.raises(KeyError, match="not in the pod spec"):
        with_egress(backup_pod_spec(_backup_settings()), ["uplaod"], proxy(), NO_PROXY)


def test_without_a_ca_nothing_is_mounted_and_the_config_map_is_not_made() -> None:
    bare = proxy(ca=None)
    spec = with_egress(backup_pod_spec(_backup_settings()), ["upload"], bare, NO_PROXY)
    assert all(v["name"] != CA_CONFIGMAP for v in spec["volumes"])
    assert ca_config_map("ratingsapp", bare) is None
    made = ca_config_map("ratingsapp", proxy())
    assert made is not None
    validate(made)
    assert made["data"] == {"ca-0.crt": CA}


# --- NetworkPolicy ---------------------------------------------------------------------------------------------

CONTROLLER = Pod("cm-controller", "cert-manager", CERT_MANAGER_CONTROLLER_LABELS)
WEBHOOK = Pod("cm-webhook", "cert-manager", {"app.kubernetes.io/name": "webhook"}, {"https": (10250, "TCP")})
DNS = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")})
API = Pod("ratings-api", "ratingsapp", {"app": "ratings-api"}, {"http": (3000, "TCP")})


def test_a_caller_may_reach_dns_the_api_server_and_the_proxy_and_nothing_else() -> None:
    policy = caller_egress_policy("cert-manager-egress", "cert-manager", CERT_MANAGER_CONTROLLER_LABELS, proxy(),
                                  MASTERS)  # fmt: skip
    validate(policy)
    blocks = [peer["ipBlock"]["cidr"] for rule in policy["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer]
    assert blocks == [MASTERS, "10.250.0.10/32"]
    ports = [rule["ports"] for rule in policy["spec"]["egress"]]
    assert ports[1:] == [[{"protocol": "TCP", "port": 443}], [{"protocol": "TCP", "port": 3128}]]
    paths = allowed_paths([policy], [CONTROLLER, WEBHOOK, DNS, API], {})
    from_controller = {p for p in paths if p.source == CONTROLLER.name}
    assert from_controller == {Path(CONTROLLER.name, DNS.name, 53, "UDP"), Path(CONTROLLER.name, DNS.name, 53, "TCP")}
    # The webhook is not selected: the policy changes nothing for it.
    assert Path(WEBHOOK.name, API.name, 3000) in paths


def test_cert_manager_may_also_reach_the_ingress_pods_for_its_http01_self_check() -> None:
    ingress = Pod("nginx", "ingress", INGRESS_CONTROLLER_POD_LABELS, {"http": (80, "TCP"), "https": (443, "TCP")})
    rule = pods_egress_rule("ingress", INGRESS_CONTROLLER_POD_LABELS, [80])
    policy = caller_egress_policy("cert-manager-egress", "cert-manager", CERT_MANAGER_CONTROLLER_LABELS, proxy(),
                                  MASTERS, extra=[rule])  # fmt: skip
    validate(policy)
    paths = allowed_paths([policy], [CONTROLLER, ingress, API], {})
    assert {p for p in paths if p.source == CONTROLLER.name} == {Path(CONTROLLER.name, "nginx", 80)}


def test_a_proxy_named_by_dns_is_reached_through_its_listed_addresses() -> None:
    named = EgressProxy("http://proxy.contoso.com:8080", addresses=("10.250.0.8/30",))
    policy = caller_egress_policy("fluent-bit-egress", "logging", {"app.kubernetes.io/name": "fluent-bit"}, named,
                                  MASTERS)  # fmt: skip
    assert policy["spec"]["egress"][-1] == {
        "to": [{"ipBlock": {"cidr": "10.250.0.8/30"}}], "ports": [{"protocol": "TCP", "port": 8080}]
    }  # fmt: skip
