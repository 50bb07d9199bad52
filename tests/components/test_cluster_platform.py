"""ClusterPlatform under the offline engine: releases, issuers, storage, log shipping, as the cluster receives them."""

from __future__ import annotations

from typing import Any

import pytest

from preview.engine import Registration, StackRun, is_secret
from preview.manifests import HELM_RELEASE_TYPE, rendered_objects
from tests.workloads.hub_cluster import (
    INGESTION,
    INGRESS_IP,
    NETWORK_RESOURCE_GROUP,
    SENTINELS,
    Cluster,
    run_cluster,
)
from workloads.charts import PlatformCharts
from workloads.platform_values import AZURE_LB_IPV4, AZURE_LB_RESOURCE_GROUP, load_balancer_services
from workloads.values_schema import values_errors

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
