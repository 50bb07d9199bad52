"""Chart sources and every platform chart's values, checked against the charts' own schemas where they have one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from tests.workloads.values_schema import (
    SCHEMA_DIR,
    chart_defaults,
    chart_schema,
    close_remote_refs,
    deep_merge,
    effective_values,
    values_errors,
)
from workloads.charts import CERT_MANAGER, FLUENT_BIT, KURED, NGINX_INGRESS, ChartSource, PlatformCharts
from workloads.platform_values import (
    AZURE_LB_IPV4,
    AZURE_LB_RESOURCE_GROUP,
    RebootWindow,
    cert_manager_values,
    duration_seconds,
    image_registry_host,
    ingress_replicas,
    kured_values,
    load_balancer_services,
    nginx_ingress_values,
    node_image_problem,
    spread_over_nodes,
    storage_class_parameters,
)
from workloads.values_schema import INLINED, main

SHARED_SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "schemas"


def nginx(**overrides: object) -> dict[str, object]:
    arguments: dict[str, object] = {"ingress_ip": "203.0.113.20", "ip_resource_group": "hub-net", "replicas": 2}
    arguments.update(overrides)
    return nginx_ingress_values(**arguments)  # type: ignore[arg-type]


# --- chart sources ------------------------------------------------------------------------------------------


def test_pinned_defaults_are_the_reference_versions() -> None:
    assert [(s.chart, s.version, s.repository) for s in PlatformCharts().all()] == [
        ("oci://ghcr.io/nginx/charts/nginx-ingress", "2.6.4", None),
        ("oci://quay.io/jetstack/charts/cert-manager", "v1.21.1", None),
        ("oci://ghcr.io/kubereboot/charts/kured", "6.1.0", None),
        ("fluent-bit", "0.57.9", "https://fluent.github.io/helm-charts"),
    ]
    assert [s.name for s in (NGINX_INGRESS, CERT_MANAGER, KURED, FLUENT_BIT)] == [
        "nginx-ingress",
        "cert-manager",
        "kured",
        "fluent-bit",
    ]


def test_a_mirror_keeps_every_version_and_needs_no_classic_repository() -> None:
    mirrored = PlatformCharts.mirrored("stackhubha.azurecr.io")
    assert [(s.chart, s.version, s.repository, s.is_oci) for s in mirrored.all()] == [
        ("oci://stackhubha.azurecr.io/helm/nginx-ingress", "2.6.4", None, True),
        ("oci://stackhubha.azurecr.io/helm/cert-manager", "v1.21.1", None, True),
        ("oci://stackhubha.azurecr.io/helm/kured", "6.1.0", None, True),
        ("oci://stackhubha.azurecr.io/helm/fluent-bit", "0.57.9", None, True),
    ]


def test_local_packages_need_no_network_and_hand_helm_no_version() -> None:
    local = PlatformCharts.local("charts")
    assert [s.chart for s in local.all()] == [
        "./charts/nginx-ingress-2.6.4.tgz",
        "./charts/cert-manager-v1.21.1.tgz",
        "./charts/kured-6.1.0.tgz",
        "./charts/fluent-bit-0.57.9.tgz",
    ]
    assert all(s.is_local and s.release_version is None for s in local.all())
    assert [s.name for s in local.all()] == ["nginx-ingress", "cert-manager", "kured", "fluent-bit"]
    assert NGINX_INGRESS.release_version == "2.6.4"


@pytest.mark.parametrize(
    ("chart", "version", "repository", "problem"),
    [
        ("nginx-ingress", "2.6.4", None, "repository, an oci:// reference or a local path"),
        ("oci://ghcr.io/nginx/charts/nginx-ingress", "2.6.4", "https://x", "only with a bare chart name"),
        ("oci://ghcr.io/nginx/charts/nginx-ingress", "", None, "must be pinned"),
    ],
)
def test_a_chart_source_must_be_unambiguous_and_pinned(
    chart: str, version: str, repository: str | None, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        ChartSource(chart, version, repository)


# --- the schema check itself -------------------------------------------------------------------------------


def test_the_kept_schemas_are_the_shared_copies() -> None:
    if not SHARED_SCHEMAS.is_dir():
        pytest.skip("../shared/schemas is not beside this clone")
    for shared in SHARED_SCHEMAS.iterdir():
        assert (SCHEMA_DIR / shared.name).read_bytes() == shared.read_bytes(), shared.name


def test_remote_refs_are_opened_and_local_ones_kept() -> None:
    schema = {
        "properties": {
            "a": {"type": "object", "$ref": "https://example.com/defs.json#/x"},
            "b": {"$ref": "#/$defs/b"},
            "c": {"items": {"$ref": "https://example.com/defs.json#/y"}},
        }
    }
    assert close_remote_refs(schema) == {
        "properties": {"a": {"type": "object"}, "b": {"$ref": "#/$defs/b"}, "c": {"items": {}}}
    }
    remote = json.dumps(chart_schema("nginx-ingress"))
    assert "raw.githubusercontent.com" not in remote


def test_values_merge_into_the_defaults_as_helm_merges_them() -> None:
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "e": 2}) == {
        "a": {"b": 1, "c": [2]},
        "d": 1,
        "e": 2,
    }
    merged = effective_values("nginx-ingress", nginx())
    assert merged["controller"]["service"]["httpPort"]["port"] == 80  # a default we leave alone is still there


def test_the_chart_defaults_alone_are_valid() -> None:
    assert values_errors("cert-manager", {}) == []
    assert values_errors("nginx-ingress", {}) == []


def test_a_misspelt_cert_manager_key_is_rejected_by_its_schema() -> None:
    errors = values_errors("cert-manager", {**cert_manager_values(namespace="cert-manager"), "installCRD": True})
    assert errors == ["<root>: Additional properties are not allowed ('installCRD' was unexpected)"]
    nested = values_errors("cert-manager", {"crds": {"enable": True}})
    assert len(nested) == 1
    assert "'enable' was unexpected" in nested[0]


def test_a_wrong_nginx_type_is_rejected_by_its_schema() -> None:
    assert values_errors("nginx-ingress", {"controller": {"replicaCount": "two"}}) == [
        "controller.replicaCount: 'two' is not of type 'integer'"
    ]


# --- our values --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("registry", [None, "mirror.contoso.local:5000"])
def test_nginx_values_are_valid_and_bind_the_hub_address(registry: str | None) -> None:
    values = nginx(image_registry=registry)
    assert values_errors("nginx-ingress", values) == []
    service = values["controller"]["service"]  # type: ignore[index]
    assert service["type"] == "LoadBalancer"
    assert service["loadBalancerIP"] == "203.0.113.20"
    assert service["annotations"] == {AZURE_LB_RESOURCE_GROUP: "hub-net", AZURE_LB_IPV4: "203.0.113.20"}
    assert load_balancer_services("nginx-ingress", values) == 1
    if registry:
        assert values["controller"]["image"] == {"repository": f"{registry}/nginx/nginx-ingress"}  # type: ignore[index]


def test_nginx_runs_at_least_two_replicas_spread_over_nodes_with_a_budget() -> None:
    assert [ingress_replicas(w) for w in (1, 2, 3, 5)] == [2, 2, 3, 3]
    controller = nginx(replicas=3)["controller"]
    assert controller["replicaCount"] == 3  # type: ignore[index]
    assert controller["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}  # type: ignore[index]
    (spread,) = controller["topologySpreadConstraints"]  # type: ignore[index]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["nodeTaintsPolicy"] == "Honor"
    assert controller["readOnlyRootFilesystem"] is True  # type: ignore[index]
    assert controller["telemetryReporting"] == {"enable": False}  # type: ignore[index]
    with pytest.raises(ValueError, match="two replicas"):
        nginx(replicas=1)


@pytest.mark.parametrize("registry", [None, "mirror.contoso.local:5000"])
def test_cert_manager_values_are_valid_with_crds_kept(registry: str | None) -> None:
    values = cert_manager_values(namespace="cert-manager", image_registry=registry)
    assert values_errors("cert-manager", values) == []
    assert values["crds"] == {"enabled": True, "keep": True}
    assert "installCRDs" not in values
    assert values["replicaCount"] == 2
    assert values["webhook"]["replicaCount"] == 2
    assert load_balancer_services("cert-manager", values) == 0
    assert values.get("imageRegistry") == registry


def test_spread_constraint_leaves_tainted_nodes_out_of_the_count() -> None:
    assert spread_over_nodes({"app": "x"}) == {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "nodeTaintsPolicy": "Honor",
        "labelSelector": {"matchLabels": {"app": "x"}},
    }


# --- kured -------------------------------------------------------------------------------------------------


def test_kured_reboots_in_the_window_one_node_at_a_time_with_a_finite_drain() -> None:
    window = RebootWindow(start_time="01:30", end_time="04:00", time_zone="Europe/Berlin", days=("sa", "su"))
    values = kured_values(window, image_registry="mirror.contoso.local")
    assert values["configuration"] == {
        "period": "1h",
        "startTime": "01:30",
        "endTime": "04:00",
        "timeZone": "Europe/Berlin",
        "rebootDays": ["sa", "su"],
        "drainTimeout": "30m",
        "lockTtl": "2h",
        "concurrency": 1,
        "forceReboot": False,
    }
    assert {t["key"]: t["operator"] for t in values["tolerations"]} == {
        "node-role.kubernetes.io/control-plane": "Exists",
        "node-role.kubernetes.io/master": "Exists",
    }
    assert values["image"] == {"repository": "mirror.contoso.local/kubereboot/kured"}
    assert load_balancer_services("kured", values) == 0


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"drain_timeout": "0s"}, "finite"),
        ({"drain_timeout": "2h", "lock_ttl": "1h"}, "longer than drain_timeout"),
        ({"start_time": "25:00"}, "HH:MM"),
        ({"days": ("sat",)}, "days"),
        ({"days": ()}, "days"),
        ({"period": "soon"}, "duration"),
        ({"start_time": "03:00", "end_time": "03:00"}, "equals startTime"),
        ({"time_zone": "Mars/Olympus"}, "timeZone"),
    ],
)
def test_a_reboot_window_that_could_block_or_break_reboots_is_refused(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        RebootWindow(**changes)  # type: ignore[arg-type]


def test_durations_parse_as_go_writes_them() -> None:
    assert [duration_seconds(v) for v in ("90s", "30m", "1h30m", "2h")] == [90, 1800, 5400, 7200]


# --- storage -----------------------------------------------------------------------------------------------


def test_database_disks_use_a_hub_sku() -> None:
    parameters = storage_class_parameters("Premium_LRS")
    assert parameters == {"skuName": "Premium_LRS", "fsType": "ext4", "cachingMode": "ReadOnly"}
    with pytest.raises(ValueError, match="Premium_LRS and Standard_LRS"):
        storage_class_parameters("StandardSSD_LRS")  # type: ignore[arg-type]


# --- making the nginx schema self-contained ----------------------------------------------------------------

K8S_DEFINITIONS = "https://raw.githubusercontent.com/nginxinc/kubernetes-json-schema/master/v1.36.1/_definitions.json"


def fake_definitions(schema_text: str) -> dict[str, object]:
    """A stand-in for the downloaded document: every pointer the schema uses, open except the Service type."""
    document: dict[str, object] = {"definitions": {"quantity": {"type": ["string", "integer"]}}}
    for fragment in set(re.findall(re.escape(K8S_DEFINITIONS) + r"#([^\"]+)", schema_text)):
        node: dict[str, object] = document
        parts = fragment.strip("/").split("/")
        for part in parts:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        if parts[-1].endswith("Quantity"):
            node["$ref"] = "#/definitions/quantity"
    service_type = document["definitions"]["io.k8s.api.core.v1.ServiceSpec"]["properties"]["type"]  # type: ignore[index]
    service_type.update({"type": "string", "enum": ["ClusterIP", "LoadBalancer", "NodePort", "ExternalName"]})
    return document


def test_inlining_the_remote_document_makes_the_nginx_schema_self_contained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema_path = SCHEMA_DIR / "nginx-ingress-2.6.4.values.schema.json"
    document = fake_definitions(schema_path.read_text())
    document_path = tmp_path / "_definitions.json"
    document_path.write_text(json.dumps(document))
    assert main(["inline", str(schema_path), K8S_DEFINITIONS, str(document_path)]) == 0
    inlined = json.loads(capsys.readouterr().out)
    text = json.dumps(inlined)
    assert "raw.githubusercontent.com" not in text
    assert inlined["$defs"][INLINED]["definitions"]["io.k8s.api.core.v1.ServiceSpec"]
    # A quantity reference inside the document now points inside the copy.
    assert '"$ref": "#/$defs/inlined/definitions/quantity"' in text

    typo = deep_merge(chart_defaults("nginx-ingress"), {"controller": {"service": {"type": "Loadbalancer"}}})
    validator = jsonschema.validators.validator_for(inlined)(inlined)
    assert [e.message for e in validator.iter_errors(typo)] == [
        "'Loadbalancer' is not one of ['ClusterIP', 'LoadBalancer', 'NodePort', 'ExternalName']"
    ]
    assert list(validator.iter_errors(effective_values("nginx-ingress", nginx()))) == []
    # Offline, the same typo passes: the remote definition is treated as open.
    assert values_errors("nginx-ingress", {"controller": {"service": {"type": "Loadbalancer"}}}) == []


# --- the node configurator's image behind a proxy -----------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "host"),
    [
        ("python:3.12.8-slim", "docker.io"),
        ("library/python:3.12.8-slim", "docker.io"),
        ("registry.denver.hub.contoso.local/python:3.12.8-slim", "registry.denver.hub.contoso.local"),
        ("Registry.Contoso.com:5000/base/python@sha256:" + "ab" * 32, "registry.contoso.com"),
        ("mirror:5000/python:3.12.8-slim", "mirror"),
        ("localhost/python:3.12.8-slim", "localhost"),
    ],
)
def test_the_registry_of_an_image_is_found_as_containerd_finds_it(image: str, host: str) -> None:
    assert image_registry_host(image) == host


def test_the_node_configurator_must_come_from_a_registry_reached_without_the_proxy() -> None:
    listed = ("localhost", "10.0.0.0/16", ".denver.hub.contoso.local", "mirror.contoso.com")
    assert node_image_problem("registry.denver.hub.contoso.local/python:3.12.8-slim", listed) is None
    assert node_image_problem("mirror.contoso.com:5000/python:3.12.8-slim", listed) is None
    problem = node_image_problem("python:3.12.8-slim", listed)
    assert problem is not None
    assert problem.startswith("is pulled from docker.io, which the no-proxy list does not reach directly")
    assert "egressProxy.noProxy" in problem
    assert node_image_problem("other.contoso.com/python:3.12.8-slim", listed) is not None
