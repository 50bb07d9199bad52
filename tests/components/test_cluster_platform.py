"""ClusterPlatform under the offline engine: releases, issuers, storage, log shipping, as the cluster receives them."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, cast

import kubernetes_validate
import pytest

from aksengine.versions import DEFAULT_KUBERNETES_VERSION
from components.cluster_platform import ClusterPlatformArgs, IngressAddress
from planning.egress import EgressProxy, effective_no_proxy
from planning.network import master_block
from policy.stackhub_policies.pod_security import restricted_violations
from preview.engine import OfflineMonitor, Registration, StackRun, is_secret, redact, run_stack
from preview.manifests import HELM_RELEASE_TYPE, rendered_objects
from preview.render import as_json, as_tree
from tests.conftest import shared_outputs
from tests.egress.certs import certificate_pem
from tests.egress.hubs import PROXY_VARIABLES
from tests.workloads.hub_cluster import (
    INGESTION,
    INGRESS_IP,
    NETWORK_RESOURCE_GROUP,
    SENTINELS,
    Cluster,
    run_cluster,
)
from tests.workloads.network_paths import Pod, allowed_paths
from tests.workloads.values_schema import values_errors
from workloads.charts import INGRESS_CONTROLLER_POD_LABELS, PlatformCharts
from workloads.egress import (
    CA_CONFIGMAP,
    CERT_MANAGER_CONTROLLER_LABELS,
    NODE_APP,
    NODE_NAMESPACE,
    NODE_PRIVILEGES,
    PROXY_SECRET,
    NodeProxySettings,
    node_manifests,
    openssl_subject_hash,
)
from workloads.platform_values import (
    AZURE_LB_IPV4,
    AZURE_LB_RESOURCE_GROUP,
    cert_manager_values,
    load_balancer_services,
)

AKS_ENGINE_CLASSES = {"default", "managed-standard", "managed-premium"}


@pytest.fixture(scope="module")
def cluster() -> StackRun:
    return run_cluster()


@pytest.fixture(scope="module")
def disconnected() -> StackRun:
    """A hub that may send nothing out: no ACME, no log shipping, charts and images from a local mirror."""
    return run_cluster(
        Cluster(
            workers=2,
            acme=False,
            log_shipping=False,
            charts=PlatformCharts.mirrored("registry.hub.local:5000"),
            image_registry="registry.hub.local:5000",
        )
    )


def releases(run: StackRun) -> dict[str, Registration]:
    return {str(r.plain_inputs["name"]): r for r in run.by_type(HELM_RELEASE_TYPE)}


def custom_resources(run: StackRun, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered_objects(run) if o["kind"] == kind}


def test_every_release_has_a_fixed_name_a_pinned_chart_and_its_namespace(cluster: StackRun) -> None:
    found = {
        name: (i["chart"], i["version"], i["namespace"], i.get("repositoryOpts"))
        for name, r in releases(cluster).items()
        for i in [r.plain_inputs]
    }
    assert found == {
        "nginx-ingress": ("oci://ghcr.io/nginx/charts/nginx-ingress", "2.6.4", "ingress-nginx", None),
        "cert-manager": ("oci://quay.io/jetstack/charts/cert-manager", "v1.21.1", "cert-manager", None),
        "kured": ("oci://ghcr.io/kubereboot/charts/kured", "6.1.0", "kured", None),
        "fluent-bit": ("fluent-bit", "0.57.9", "logging", {"repo": "https://fluent.github.io/helm-charts"}),
        "fluent-bit-events": ("fluent-bit", "0.57.9", "logging", {"repo": "https://fluent.github.io/helm-charts"}),
    }
    for release in releases(cluster).values():
        assert release.plain_inputs["atomic"] is True
        assert release.plain_inputs["createNamespace"] is False


def test_a_disconnected_hub_pulls_every_chart_and_image_from_its_mirror(disconnected: StackRun) -> None:
    found = {name: r.plain_inputs for name, r in releases(disconnected).items()}
    assert set(found) == {"nginx-ingress", "cert-manager", "kured"}
    assert all(i["chart"].startswith("oci://registry.hub.local:5000/helm/") for i in found.values())
    assert found["nginx-ingress"]["values"]["controller"]["image"] == {
        "repository": "registry.hub.local:5000/nginx/nginx-ingress"
    }
    assert found["cert-manager"]["values"]["imageRegistry"] == "registry.hub.local:5000"
    assert found["kured"]["values"]["image"] == {"repository": "registry.hub.local:5000/kubereboot/kured"}


def test_exactly_one_load_balancer_service_in_the_cluster(cluster: StackRun) -> None:
    from_charts = sum(
        load_balancer_services(release.replace("-events", ""), r.plain_inputs.get("values") or {})
        for release, r in releases(cluster).items()
    )
    from_objects = sum(
        1 for o in rendered_objects(cluster) if o["kind"] == "Service" and o["spec"].get("type") == "LoadBalancer"
    )
    assert (from_charts, from_objects) == (1, 0)


def test_the_ingress_service_binds_the_hub_address_in_the_network_resource_group(cluster: StackRun) -> None:
    values = releases(cluster)["nginx-ingress"].plain_inputs["values"]
    service = values["controller"]["service"]
    assert service["loadBalancerIP"] == INGRESS_IP
    assert service["annotations"] == {AZURE_LB_RESOURCE_GROUP: NETWORK_RESOURCE_GROUP, AZURE_LB_IPV4: INGRESS_IP}
    assert values["controller"]["replicaCount"] == 3
    assert cluster.plain_outputs["ingressIp"] == INGRESS_IP


@pytest.mark.parametrize("chart", ["nginx-ingress", "cert-manager"])
def test_recorded_values_are_valid_for_the_chart_schema(cluster: StackRun, disconnected: StackRun, chart: str) -> None:
    for run in (cluster, disconnected):
        assert values_errors(chart, releases(run)[chart].plain_inputs["values"]) == []


def test_kured_drains_with_a_finite_timeout_and_lock_ttl(cluster: StackRun) -> None:
    configuration = releases(cluster)["kured"].plain_inputs["values"]["configuration"]
    assert configuration["drainTimeout"] == "30m"
    assert configuration["lockTtl"] == "2h"
    assert configuration["concurrency"] == 1
    assert configuration["forceReboot"] is False


def test_issuers_with_acme(cluster: StackRun) -> None:
    issuers = custom_resources(cluster, "ClusterIssuer")
    assert set(issuers) == {"letsencrypt-production", "letsencrypt-staging", "selfsigned-bootstrap", "private-ca"}
    production = issuers["letsencrypt-production"]["spec"]["acme"]
    assert production["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert issuers["letsencrypt-staging"]["spec"]["acme"]["server"].startswith("https://acme-staging-v02.")
    assert production["solvers"][0]["selector"] == {"dnsZones": ["ratings.contoso-apps.com"]}
    (ca,) = custom_resources(cluster, "Certificate").values()
    assert (ca["metadata"]["namespace"], ca["spec"]["isCA"]) == ("cert-manager", True)


def test_without_acme_only_the_private_ca_issues(disconnected: StackRun) -> None:
    assert set(custom_resources(disconnected, "ClusterIssuer")) == {"selfsigned-bootstrap", "private-ca"}
    ingresses = [o for o in rendered_objects(disconnected) if o["kind"] == "Ingress"]
    assert {i["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] for i in ingresses} == {"private-ca"}
    assert not [o for o in rendered_objects(disconnected) if o["metadata"].get("name") == "azuredns-credentials"]


def test_the_dns_solver_secret_is_a_secret_in_cert_managers_namespace(cluster: StackRun) -> None:
    (secret,) = [r for r in cluster.by_type("kubernetes:core/v1:Secret") if r.name.endswith("azuredns-credentials")]
    assert secret.plain_inputs["metadata"]["namespace"] == "cert-manager"
    assert is_secret(secret.inputs["stringData"])
    assert secret.plain_inputs["stringData"] == {"client-secret": SENTINELS["dns client secret"]}


def test_the_database_storage_class_is_ours_retained_and_protected(cluster: StackRun) -> None:
    (storage,) = cluster.by_type("kubernetes:storage.k8s.io/v1:StorageClass")
    inputs = storage.plain_inputs
    assert inputs["metadata"]["name"] not in AKS_ENGINE_CLASSES
    assert inputs["provisioner"] == "disk.csi.azure.com"
    assert inputs["reclaimPolicy"] == "Retain"
    assert inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert inputs["parameters"]["skuName"] in {"Premium_LRS", "Standard_LRS"}
    assert storage.protect


def test_platform_namespaces_carry_pod_security_levels(cluster: StackRun) -> None:
    levels = {
        o["metadata"]["name"]: o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for o in rendered_objects(cluster)
        if o["kind"] == "Namespace"
    }
    assert levels == {
        "ingress-nginx": "restricted",
        "cert-manager": "restricted",
        "kured": "privileged",
        "logging": "privileged",
        "ratingsapp": "restricted",
    }


def test_logs_and_events_ship_with_the_credential_in_a_secret(cluster: StackRun) -> None:
    found = releases(cluster)
    logs = found["fluent-bit"].plain_inputs["values"]
    events = found["fluent-bit-events"].plain_inputs["values"]
    assert (logs["kind"], events["kind"]) == ("DaemonSet", "Deployment")
    assert f"dcr_id {INGESTION.dcr_immutable_id}" in logs["config"]["outputs"]
    assert "table_name StackHubContainerLogs_CL" in logs["config"]["outputs"]
    assert "table_name StackHubEvents_CL" in events["config"]["outputs"]
    for values in (logs, events):
        assert all("valueFrom" in e and "value" not in e for e in values["env"])
    (secret,) = [r for r in cluster.by_type("kubernetes:core/v1:Secret") if r.name.endswith("logs-credentials")]
    assert is_secret(secret.inputs["stringData"])
    assert secret.plain_inputs["stringData"]["client-secret"] == SENTINELS["logs client secret"]


def test_log_shipping_off_sends_nothing_out(disconnected: StackRun) -> None:
    assert not [r for r in disconnected.resources if "fluent-bit" in r.name or "logs-credentials" in r.name]
    assert "logging" not in {o["metadata"]["name"] for o in rendered_objects(disconnected) if o["kind"] == "Namespace"}
    assert releases(disconnected)["nginx-ingress"].plain_inputs["values"]["controller"]["telemetryReporting"] == {
        "enable": False
    }


def test_resources_are_named_children_of_the_component(cluster: StackRun) -> None:
    (component,) = cluster.by_type("stackhub-ha:index:ClusterPlatform")
    children = [r for r in cluster.resources if r.parent == component.urn]
    assert len(children) >= 15
    assert all(r.name.startswith("hub-seattle-") for r in children)


# --- the egress proxy ------------------------------------------------------------------------------------------

PROXY = "http://10.250.0.10:3128"
CREDENTIALED = "http://svc-egress:S3cr3t%25pw@10.250.0.10:3128"
MIRROR = "mirror.contoso.com"
NODE_IMAGE = f"{MIRROR}/library/python:3.12.8-slim"
MASTERS = master_block("10.10.0.0/22").cidr
CA = certificate_pem("Contoso TLS Inspection CA")
NO_PROXY = effective_no_proxy(
    service_cidr="10.0.0.0/16",
    vnet_cidr="10.10.0.0/16",
    api_server_fqdn="hub-seattle.seattle.cloudapp.azurestack.contoso.com",
    arm_endpoint="https://management.seattle.azurestack.contoso.com",
    storage_suffix="seattle.azurestack.contoso.com",
    extra=(MIRROR,),
)


def behind(url: str = PROXY, **changes: Any) -> Cluster:
    proxy = EgressProxy(url, no_proxy=(MIRROR,), trusted_ca=CA)
    base = Cluster(egress=proxy, no_proxy=NO_PROXY, egress_node_image=NODE_IMAGE, masters_cidr=MASTERS)
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def proxied() -> StackRun:
    """The connected hub (ACME, log shipping) behind a TLS-inspecting proxy without credentials."""
    return run_cluster(behind())


@pytest.fixture(scope="module")
def credentialed() -> StackRun:
    return run_cluster(behind(CREDENTIALED))


def objects_in(run: StackRun, namespace: str) -> list[dict[str, Any]]:
    found = [o for o in rendered_objects(run) if namespace in (o["metadata"].get("namespace"), o["metadata"]["name"])]
    return [o for o in found if o["kind"] != "Namespace" or o["metadata"]["name"] == namespace]


def egress_env(container_env: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container_env if e["name"] in PROXY_VARIABLES}


def test_the_node_configurator_is_registered_as_rendered_and_passes_the_schemas(proxied: StackRun) -> None:
    expected = node_manifests(NodeProxySettings(behind().egress, NO_PROXY, MASTERS, image=NODE_IMAGE))
    # Registered in dependency order (the DaemonSet after what it mounts), so compared by kind.
    registered = {o["kind"]: o for o in objects_in(proxied, NODE_NAMESPACE)}
    assert sorted(registered) == sorted(o["kind"] for o in expected)
    for want in expected:
        got = registered[want["kind"]]
        if got["kind"] == "Secret":
            # The proxy files are a Pulumi secret: shown redacted, held exactly.
            assert set(got["stringData"]) == set(want["stringData"])
            (secret,) = [r for r in proxied.by_type("kubernetes:core/v1:Secret") if "node-egress" in r.name]
            assert is_secret(secret.inputs["stringData"])
            assert secret.plain_inputs["stringData"] == want["stringData"]
            continue
        assert got == want, got["kind"]
        kubernetes_validate.validate(got, DEFAULT_KUBERNETES_VERSION, strict=True)
    daemon_set = registered["DaemonSet"]
    pod = daemon_set["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["initContainers"] + pod["containers"]} == {NODE_IMAGE}
    # What the restricted profile refuses is exactly the privileges the configurator lists, and nothing else.
    refused = {violation.split(":")[0] for violation in restricted_violations(pod)}
    host_paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert refused == {"pod", "initContainers/configure", *(f"volume {name}" for name in host_paths)}
    assert all(any(path in line for line in NODE_PRIVILEGES) for path in host_paths.values())
    assert pod["hostPID"] is True
    assert "hostNetwork" not in pod


def test_the_node_lock_is_created_by_pulumi_and_then_left_to_the_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[str]] = {}
    register = OfflineMonitor.RegisterResource

    def recording(self: OfflineMonitor, request: Any) -> Any:
        seen[request.name] = list(request.ignoreChanges)
        return register(self, request)

    monkeypatch.setattr(OfflineMonitor, "RegisterResource", recording)
    run = run_cluster(behind())
    (lease,) = run.by_type("kubernetes:coordination.k8s.io/v1:Lease")
    assert seen[lease.name] == ["spec"]
    assert {name: ignored for name, ignored in seen.items() if ignored} == {lease.name: ["spec"]}


def test_every_release_waits_for_every_node_to_be_configured(proxied: StackRun) -> None:
    (daemon_set,) = proxied.by_type("kubernetes:apps/v1:DaemonSet")
    found = releases(proxied)
    assert set(found) == {"nginx-ingress", "cert-manager", "kured", "fluent-bit", "fluent-bit-events"}
    for name, release in found.items():
        assert daemon_set.urn in release.dependencies, name
    # The DaemonSet waits for everything it mounts and the lock it takes.
    node_objects = {r.urn for r in proxied.resources if r.name.startswith("hub-seattle-node-egress-")}
    assert node_objects - {daemon_set.urn} <= set(daemon_set.dependencies)


def test_the_containers_that_call_out_carry_the_proxy_and_the_ca_and_no_other_does(proxied: StackRun) -> None:
    digest = openssl_subject_hash(CA)
    ca_mount = {"name": CA_CONFIGMAP, "mountPath": f"/etc/ssl/certs/{digest}.0", "subPath": f"{digest}.0",
                "readOnly": True}  # fmt: skip
    found = {name: r.plain_inputs["values"] for name, r in releases(proxied).items()}
    # cert-manager's controller: the chart's top-level proxy keys and volumes go to the controller alone.
    manager = found["cert-manager"]
    assert (manager["http_proxy"], manager["https_proxy"], manager["no_proxy"]) == (PROXY, PROXY, ",".join(NO_PROXY))
    assert manager["volumeMounts"] == [ca_mount]
    assert values_errors("cert-manager", manager) == []
    for component in ("webhook", "cainjector", "startupapicheck"):
        assert "proxy" not in json.dumps(manager[component]).lower(), component
        assert CA_CONFIGMAP not in json.dumps(manager[component]), component
    # Fluent Bit, both releases: HTTP_PROXY is the HTTPS proxy (it has no HTTPS_PROXY), and the CA.
    for release in ("fluent-bit", "fluent-bit-events"):
        values = found[release]
        assert egress_env(values["env"]) == {"HTTP_PROXY": PROXY, "http_proxy": PROXY, "NO_PROXY": ",".join(NO_PROXY),
                                             "no_proxy": ",".join(NO_PROXY)}  # fmt: skip
        assert values["extraVolumeMounts"] == [ca_mount]
        assert [v["name"] for v in values["extraVolumes"]] == [CA_CONFIGMAP]
    # The ingress controller and kured stay inside the cluster.
    for release in ("nginx-ingress", "kured"):
        shown = json.dumps(found[release]).lower()
        assert "proxy" not in shown, release
        assert CA_CONFIGMAP not in shown, release
    assert values_errors("nginx-ingress", found["nginx-ingress"]) == []
    # The CA is published where it is mounted, and nowhere else.
    maps = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in rendered_objects(proxied)
        if o["kind"] == "ConfigMap"
    }
    assert {m for m in maps if m[1] == CA_CONFIGMAP} == {("cert-manager", CA_CONFIGMAP), ("logging", CA_CONFIGMAP)}


def test_without_acme_cert_manager_stays_inside_and_gets_nothing() -> None:
    run = run_cluster(behind(acme=False, log_shipping=False))
    values = releases(run)["cert-manager"].plain_inputs["values"]
    assert values == cert_manager_values(namespace="cert-manager")
    assert [o["metadata"]["name"] for o in rendered_objects(run) if o["kind"] == "NetworkPolicy"
            and o["metadata"]["namespace"] != "ratingsapp"] == [NODE_APP]  # fmt: skip
    assert not [o for o in rendered_objects(run) if o["metadata"].get("name") == CA_CONFIGMAP]
    assert run.by_type("kubernetes:apps/v1:DaemonSet")


CONTROLLER = Pod("cm-controller", "cert-manager", CERT_MANAGER_CONTROLLER_LABELS)
WEBHOOK = Pod("cm-webhook", "cert-manager", {"app.kubernetes.io/name": "webhook"}, {"https": (10250, "TCP")})
INGRESS = Pod("nginx", "ingress-nginx", INGRESS_CONTROLLER_POD_LABELS, {"http": (80, "TCP"), "https": (443, "TCP")})
COREDNS = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")})
API = Pod("ratings-api", "ratingsapp", {"app.kubernetes.io/name": "ratings-api"}, {"http": (3000, "TCP")})
LOGS = Pod("fluent-bit", "logging", {"app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": "logs"},
           {"http": (2020, "TCP")})  # fmt: skip
EVENTS = Pod("fluent-bit-events", "logging", {"app.kubernetes.io/name": "fluent-bit",
             "app.kubernetes.io/instance": "fluent-bit-events"}, {"http": (2020, "TCP")})  # fmt: skip


def test_callers_may_reach_dns_the_api_server_the_proxy_and_for_http01_the_ingress_only(proxied: StackRun) -> None:
    policies = {o["metadata"]["name"]: o for o in rendered_objects(proxied) if o["kind"] == "NetworkPolicy"}
    for name, namespace in (("cert-manager-egress", "cert-manager"), ("fluent-bit-egress", "logging")):
        policy = policies[name]
        kubernetes_validate.validate(policy, DEFAULT_KUBERNETES_VERSION, strict=True)
        assert policy["metadata"]["namespace"] == namespace
        assert policy["spec"]["policyTypes"] == ["Egress"]
        outside = [(peer["ipBlock"]["cidr"], [p["port"] for p in rule["ports"]])
                   for rule in policy["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer]  # fmt: skip
        assert outside == [(MASTERS, [443]), ("10.250.0.10/32", [3128])], name
    node_rules = policies[NODE_APP]["spec"]["egress"]
    assert node_rules == [{"to": [{"ipBlock": {"cidr": MASTERS}}], "ports": [{"protocol": "TCP", "port": 443}]}]
    # Among pods: the controller reaches DNS and the ingress pods on 80, Fluent Bit DNS alone; others are not held.
    pods = [CONTROLLER, WEBHOOK, INGRESS, COREDNS, API, LOGS, EVENTS]
    paths = allowed_paths(list(policies.values()), pods, {})
    dns = {(COREDNS.name, 53, "UDP"), (COREDNS.name, 53, "TCP")}
    from_pod = {pod.name: {(p.destination, p.port, p.protocol) for p in paths if p.source == pod.name} for pod in pods}
    assert from_pod[CONTROLLER.name] == dns | {(INGRESS.name, 80, "TCP")}
    assert from_pod[LOGS.name] == dns
    assert from_pod[EVENTS.name] == dns
    # The webhook calls nothing outside the cluster and is held by no egress policy.
    assert {(INGRESS.name, 443, "TCP"), (LOGS.name, 2020, "TCP")} <= from_pod[WEBHOOK.name]


def secret_reference(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": PROXY_SECRET, "key": key}}}


def test_proxy_credentials_live_in_one_secret_per_calling_namespace_and_nowhere_else(credentialed: StackRun) -> None:
    found = releases(credentialed)
    # cert-manager's controller: the URLs through extraEnv as references, the no-proxy list as a plain value.
    manager = found["cert-manager"].plain_inputs["values"]
    assert "http_proxy" not in manager
    assert "https_proxy" not in manager
    assert manager["extraEnv"] == [secret_reference("HTTP_PROXY", "http-proxy"),
                                   secret_reference("HTTPS_PROXY", "https-proxy")]  # fmt: skip
    assert manager["no_proxy"] == ",".join(NO_PROXY)
    assert values_errors("cert-manager", manager) == []
    # Fluent Bit: its HTTP_PROXY is the HTTPS proxy, referenced the same way.
    for release in ("fluent-bit", "fluent-bit-events"):
        env = found[release].plain_inputs["values"]["env"]
        assert [e for e in env if e["name"].lower() == "http_proxy"] == [
            secret_reference("HTTP_PROXY", "https-proxy"), secret_reference("http_proxy", "https-proxy")
        ]  # fmt: skip
        assert {e["name"]: e.get("value") for e in env if e["name"].lower() == "no_proxy"} == {
            "NO_PROXY": ",".join(NO_PROXY), "no_proxy": ",".join(NO_PROXY)
        }  # fmt: skip
    # The Secrets: one in each namespace whose pods call out, a Pulumi secret, waited for by the releases there.
    secrets = {
        r.plain_inputs["metadata"]["namespace"]: r
        for r in credentialed.by_type("kubernetes:core/v1:Secret")
        if r.plain_inputs["metadata"]["name"] == PROXY_SECRET
    }
    assert set(secrets) == {"cert-manager", "logging"}
    for namespace, secret in secrets.items():
        assert is_secret(secret.inputs["stringData"]), namespace
        assert secret.plain_inputs["stringData"] == {"http-proxy": CREDENTIALED, "https-proxy": CREDENTIALED}
    assert secrets["cert-manager"].urn in found["cert-manager"].dependencies
    for shipper in ("fluent-bit", "fluent-bit-events"):
        assert secrets["logging"].urn in found[shipper].dependencies
    # So no release's values need to be secret, and none holds the password: previews show them whole.
    for name, registered in found.items():
        assert not is_secret(registered.inputs["values"]), name
        assert "S3cr3t" not in json.dumps(registered.plain_inputs), name
    # Nowhere in what a preview shows, nor in any input outside a Pulumi secret.
    assert "S3cr3t" not in as_json(credentialed) + as_tree(credentialed)
    for obj in rendered_objects(credentialed):
        assert "S3cr3t" not in json.dumps(obj), obj["metadata"]["name"]
    for resource in credentialed.resources:
        assert "S3cr3t" not in json.dumps(redact(resource.inputs), default=str), resource.name


def test_without_credentials_the_proxy_urls_stay_plain_values_and_no_secret_is_made(proxied: StackRun) -> None:
    assert not [r for r in proxied.by_type("kubernetes:core/v1:Secret")
                if r.plain_inputs["metadata"]["name"] == PROXY_SECRET]  # fmt: skip
    for name, release in releases(proxied).items():
        assert not is_secret(release.inputs["values"]), name
        assert "valueFrom" not in json.dumps(release.plain_inputs["values"].get("extraEnv", [])), name


def test_without_egress_the_shipped_hubs_register_exactly_what_they_did(seattle: StackRun) -> None:
    denver = run_stack("hub-denver", stack_outputs={"shared": shared_outputs()})
    expected = {
        "hub-seattle": {
            ("Namespace", "ingress-ns"), ("Namespace", "cert-manager-ns"), ("Namespace", "kured-ns"),
            ("Namespace", "logging-ns"), ("StorageClass", "database-storage"), ("Secret", "azuredns-credentials"),
            ("Secret", "logs-credentials"), ("Release", "cert-manager"), ("Release", "kured"), ("Release", "ingress"),
            ("Release", "fluent-bit"), ("Release", "fluent-bit-events"),
            ("ClusterIssuer", "letsencrypt-production"), ("ClusterIssuer", "letsencrypt-staging"),
            ("ClusterIssuer", "selfsigned-issuer"), ("Certificate", "private-ca-certificate"),
            ("ClusterIssuer", "private-ca-issuer"),
        },
        "hub-denver": {
            ("Namespace", "ingress-ns"), ("Namespace", "cert-manager-ns"), ("Namespace", "kured-ns"),
            ("StorageClass", "database-storage"), ("Release", "ingress"), ("Release", "cert-manager"),
            ("Release", "kured"), ("ClusterIssuer", "selfsigned-issuer"), ("Certificate", "private-ca-certificate"),
            ("ClusterIssuer", "private-ca-issuer"),
        },
    }  # fmt: skip
    for run in (seattle, denver):
        (component,) = run.by_type("stackhub-ha:index:ClusterPlatform")
        children = [r for r in run.resources if r.parent == component.urn]
        hub = run.stack
        assert {(r.type.rsplit(":", 1)[1], r.name.removeprefix(f"{hub}-")) for r in children} == expected[hub]
        # No proxy anywhere, and the releases wait for nothing of it.
        assert "proxy" not in json.dumps([r.plain_inputs for r in children]).lower()
        mirror = {"hub-seattle": None, "hub-denver": "registry.denver.hub.contoso.local"}[hub]
        assert releases(run)["cert-manager"].plain_inputs["values"] == cert_manager_values(
            namespace="cert-manager", image_registry=mirror
        )
        child_urns = {r.urn for r in children}
        for release in releases(run).values():
            assert set(release.dependencies) & child_urns <= {
                r.urn for r in children if r.type in ("kubernetes:core/v1:Namespace", "kubernetes:core/v1:Secret")
            }


def _args(**changes: Any) -> ClusterPlatformArgs:
    base = ClusterPlatformArgs(
        provider=cast(Any, None), hub_name="hub-seattle", ingress_address=IngressAddress(INGRESS_IP, "rg"),
        worker_count=3, egress=behind().egress, no_proxy=NO_PROXY, egress_node_image=NODE_IMAGE, masters_cidr=MASTERS,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"no_proxy": ()}, "ClusterPlatformArgs.no_proxy must be set with egress"),
        ({"masters_cidr": None, "egress_node_image": None}, "masters_cidr, egress_node_image must be set"),
        ({"egress_node_image": "python:3.12.8-slim"}, "is pulled from docker.io, which the no-proxy list does not"),
        ({"egress_node_image": "registry.elsewhere.example/python:3.12.8-slim"}, "registry.elsewhere.example"),
        ({"egress_node_image": f"{MIRROR}/library/python"}, "an untagged image means latest"),
    ],
    ids=["no-list", "no-masters-no-image", "docker-hub", "other-registry", "unpinned"],
)
def test_egress_without_what_it_needs_is_refused_naming_the_argument(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _args(**changes)
    # Without egress the same arguments are not looked at.
    assert _args(egress=None, **changes).egress is None
