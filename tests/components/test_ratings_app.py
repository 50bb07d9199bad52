"""RatingsApp under the offline engine: schema-valid objects and the decisions the issue asks to prove."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from components.ratings_app import AppImages, RatingsAppArgs, RegistryCredentials
from policy.stackhub_policies.pod_security import all_containers, restricted_violations
from preview.engine import StackRun, is_secret
from preview.manifests import helm_values, rendered_objects
from preview.render import as_json
from tests.workloads.hub_cluster import (
    HUB_HOSTNAME,
    KUBERNETES_VERSION,
    REGISTRY,
    SENTINELS,
    SHARED_HOSTNAME,
    Cluster,
    run_cluster,
)
from tests.workloads.network_paths import Path, Pod, allowed_paths
from tests.workloads.sizing_checks import parse_resources, pods_fit
from workloads.charts import INGRESS_CONTROLLER_POD_LABELS, INGRESS_NAMESPACE
from workloads.mongo import (
    CREDENTIAL_FILES,
    CREDENTIALS_DIR,
    JOINED_MARKER,
    MONGODB_UID,
    connection_uri,
    majority,
    member_hosts,
    member_liveness_command,
)
from workloads.platform_values import platform_pods
from workloads.ratings import API_DOTENV_PATH, APP_UID
from workloads.sizing import FixedPods, Resources, vm_size

NAMESPACE = "ratingsapp"
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}


@pytest.fixture(scope="module")
def cluster() -> StackRun:
    return run_cluster()


@pytest.fixture(scope="module")
def small_cluster() -> StackRun:
    return run_cluster(Cluster(workers=2, acme=False, log_shipping=False))


@pytest.fixture(scope="module")
def objects(cluster: StackRun) -> list[dict[str, Any]]:
    return rendered_objects(cluster)


def app_objects(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] == kind and o["metadata"].get("namespace", o["metadata"]["name"]) == NAMESPACE
    }


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS and o["metadata"]["namespace"] == NAMESPACE]


# --- schema ------------------------------------------------------------------------------------------------


def test_every_object_validates_against_the_kubernetes_schema_strictly(objects: list[dict[str, Any]]) -> None:
    built_in = [o for o in objects if "cert-manager.io" not in o["apiVersion"]]
    assert len(built_in) >= 30
    for obj in built_in:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:  # pragma: no cover - the message is the point
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}")


def test_the_validator_rejects_a_misspelt_field(objects: list[dict[str, Any]]) -> None:
    service = json.loads(json.dumps(app_objects(objects, "Service")["ratings-api"]))
    service["spec"]["ports"][0]["portz"] = 80
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


# --- pod security ------------------------------------------------------------------------------------------


def test_the_namespace_enforces_restricted_and_is_protected(cluster: StackRun) -> None:
    (namespace,) = [r for r in cluster.by_type("kubernetes:core/v1:Namespace") if r.name == "hub-seattle-namespace"]
    labels = namespace.plain_inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace.protect


def test_every_pod_passes_the_restricted_standard(objects: list[dict[str, Any]]) -> None:
    pods = workloads(objects)
    assert {o["metadata"]["name"] for o in pods} == {"ratings-api", "ratings-web", "ratings-mongodb"}
    for workload in pods:
        spec = workload["spec"]["template"]["spec"]
        assert restricted_violations(spec) == [], workload["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False
        for _, container in all_containers(spec):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            assert context["readOnlyRootFilesystem"] is True
            assert set(container["resources"]) == {"requests", "limits"}


def test_service_account_tokens_are_not_mounted(objects: list[dict[str, Any]]) -> None:
    accounts = app_objects(objects, "ServiceAccount")
    assert set(accounts) == {"ratings-api", "ratings-web", "ratings-mongodb"}
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())


def test_every_pod_runs_as_a_uid_no_node_account_has(objects: list[dict[str, Any]]) -> None:
    uids = {}
    for workload in workloads(objects):
        context = workload["spec"]["template"]["spec"]["securityContext"]
        assert context["runAsUser"] == context["runAsGroup"] == context["fsGroup"] >= 10000
        assert context["fsGroupChangePolicy"] == "OnRootMismatch"
        for _, container in all_containers(workload["spec"]["template"]["spec"]):
            assert "runAsUser" not in container["securityContext"]
        uids[workload["metadata"]["name"]] = context["runAsUser"]
    assert uids == {"ratings-api": APP_UID, "ratings-web": APP_UID, "ratings-mongodb": MONGODB_UID}


def test_mongo_copies_its_keyfile_private_and_keeps_its_data_on_the_volume(objects: list[dict[str, Any]]) -> None:
    spec = app_objects(objects, "StatefulSet")["ratings-mongodb"]["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert "chmod 0400" in init["command"][-1]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["keyfile-secret"]["secret"] == {"secretName": "ratings-mongodb-keyfile", "defaultMode": 0o440}
    assert volumes["keyfile"]["emptyDir"]["medium"] == "Memory"
    mongod = next(c for c in spec["containers"] if c["name"] == "mongod")
    assert {m["mountPath"] for m in mongod["volumeMounts"]} == {"/data/db", "/tmp", "/var/run/mongodb-keyfile"}


def test_every_long_running_container_has_a_liveness_probe(objects: list[dict[str, Any]]) -> None:
    for workload in workloads(objects):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert container.get("livenessProbe"), f"{workload['metadata']['name']}/{container['name']}"
    spec = app_objects(objects, "StatefulSet")["ratings-mongodb"]["spec"]["template"]["spec"]
    member = next(c for c in spec["containers"] if c["name"] == "member")
    assert member["livenessProbe"]["exec"]["command"] == member_liveness_command()
    assert member["readinessProbe"]["exec"]["command"] == ["test", "-f", JOINED_MARKER]
    # Restarts only after a minute and a half of a mongod without a set configuration.
    probe = member["livenessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 90


# --- network policy ----------------------------------------------------------------------------------------


def pods_of(objects: list[dict[str, Any]]) -> list[Pod]:
    pods: list[Pod] = []
    for workload in workloads(objects):
        template = workload["spec"]["template"]
        ports = {
            p["name"]: (p["containerPort"], p.get("protocol", "TCP"))
            for _, c in all_containers(template["spec"])
            for p in c.get("ports") or []
        }
        name = workload["metadata"]["name"]
        count = workload["spec"]["replicas"] if workload["kind"] == "StatefulSet" else 1
        for index in range(count):
            pod_name = f"{name}-{index}" if workload["kind"] == "StatefulSet" else name
            pods.append(Pod(pod_name, NAMESPACE, template["metadata"]["labels"], ports))
    return pods


def test_the_network_policy_graph_allows_exactly_the_intended_paths(objects: list[dict[str, Any]]) -> None:
    policies = list(app_objects(objects, "NetworkPolicy").values())
    app = pods_of(objects)
    others = [
        Pod(
            "ingress-controller",
            INGRESS_NAMESPACE,
            INGRESS_CONTROLLER_POD_LABELS,
            {"http": (80, "TCP"), "https": (443, "TCP")},
        ),
        Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")}),
        Pod("acme-solver", NAMESPACE, {"acme.cert-manager.io/http01-solver": "true"}, {"http": (8089, "TCP")}),
        Pod("cert-manager", "cert-manager", {"app": "cert-manager"}, {"metrics": (9402, "TCP")}),
        Pod("intruder", "default", {"app.kubernetes.io/name": "ratings-web"}, {"http": (8080, "TCP")}),
    ]
    paths = allowed_paths(policies, [*app, *others], {})
    in_app = {p.name for p in app} | {"acme-solver"}
    touching = {p for p in paths if p.source in in_app or p.destination in in_app}

    members = [p.name for p in app if p.name.startswith("ratings-mongodb")]
    assert len(members) == 3
    expected = {
        Path("ingress-controller", "ratings-web", 8080),
        Path("ingress-controller", "acme-solver", 8089),
        Path("ratings-web", "ratings-api", 3000),
        *(Path("ratings-api", m, 27017) for m in members),
        *(Path(a, b, 27017) for a in members for b in members if a != b),
        *(Path(p, "kube-dns", 53, proto) for p in in_app for proto in ("UDP", "TCP")),
    }
    assert touching == expected


# --- disruption budgets and sizing -------------------------------------------------------------------------


@pytest.mark.parametrize(("run_name", "members"), [("cluster", 3), ("small_cluster", 1)])
def test_the_mongo_pdb_keeps_a_majority_through_a_drain(
    run_name: str, members: int, request: pytest.FixtureRequest
) -> None:
    objects = rendered_objects(request.getfixturevalue(run_name))
    statefulset = app_objects(objects, "StatefulSet")["ratings-mongodb"]
    budget = app_objects(objects, "PodDisruptionBudget")["ratings-mongodb"]["spec"]
    assert statefulset["spec"]["replicas"] == members
    assert budget["minAvailable"] == majority(members)
    assert budget["selector"] == statefulset["spec"]["selector"]
    # One member per node: a drain takes at most one member, which the budget allows only with a majority left.
    anti_affinity = statefulset["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti_affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    if members >= 3:
        assert members - budget["minAvailable"] >= 1


def test_every_deployment_has_a_budget_an_hpa_and_a_spread(objects: list[dict[str, Any]]) -> None:
    budgets = app_objects(objects, "PodDisruptionBudget")
    autoscalers = app_objects(objects, "HorizontalPodAutoscaler")
    for name, deployment in app_objects(objects, "Deployment").items():
        assert budgets[name]["spec"]["minAvailable"] == 1
        hpa = autoscalers[name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] >= 2
        (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert (spread["topologyKey"], spread["nodeTaintsPolicy"]) == ("kubernetes.io/hostname", "Honor")


def pod_requests(template_spec: dict[str, Any]) -> Resources:
    total = Resources(0, 0)
    for container in template_spec["containers"]:
        requests = container["resources"]["requests"]
        total = total + parse_resources(requests["cpu"], requests["memory"])
    return total


@pytest.mark.parametrize(("run_name", "workers", "log_shipping"), [("cluster", 3, True), ("small_cluster", 2, False)])
def test_hpa_maximum_replicas_fit_the_workers(
    run_name: str, workers: int, log_shipping: bool, request: pytest.FixtureRequest
) -> None:
    objects = rendered_objects(request.getfixturevalue(run_name))
    autoscalers = app_objects(objects, "HorizontalPodAutoscaler")
    pods = list(platform_pods(workers, log_shipping=log_shipping))
    for name, deployment in app_objects(objects, "Deployment").items():
        maximum = autoscalers[name]["spec"]["maxReplicas"]
        pods.append(FixedPods(name, pod_requests(deployment["spec"]["template"]["spec"]), maximum))
    mongo = app_objects(objects, "StatefulSet")["ratings-mongodb"]["spec"]
    pods.append(FixedPods("mongo", pod_requests(mongo["template"]["spec"]), mongo["replicas"], one_per_node=True))
    assert pods_fit(vm_size("Standard_DS2_v2"), workers, pods)


# --- secrets -----------------------------------------------------------------------------------------------


def secret_mounts(spec: dict[str, Any], container: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """A container's Secret mounts: mount path -> (Secret, subPath), each read-only and group-readable only."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {}
    for mount in container.get("volumeMounts") or []:
        secret = volumes[mount["name"]].get("secret")
        if secret:
            assert mount["readOnly"] is True, mount
            assert secret["defaultMode"] == 0o440, secret
            mounts[mount["mountPath"]] = (secret["secretName"], mount.get("subPath"))
    return mounts


def test_credentials_reach_containers_only_as_files_of_mounted_secrets(objects: list[dict[str, Any]]) -> None:
    sensitive = ("PASSWORD", "SECRET", "URI", "USERNAME", "TOKEN")
    for workload in workloads(objects):
        for _, container in all_containers(workload["spec"]["template"]["spec"]):
            assert "envFrom" not in container
            for env in container.get("env") or []:
                assert "secretKeyRef" not in (env.get("valueFrom") or {}), env
                assert not any(word in env["name"] for word in sensitive), env
    api_spec = app_objects(objects, "Deployment")["ratings-api"]["spec"]["template"]["spec"]
    # dotenv in the API reads `.env` from its working directory, the image's WORKDIR.
    assert secret_mounts(api_spec, api_spec["containers"][0]) == {API_DOTENV_PATH: ("ratings-api-mongodb", ".env")}
    mongo_spec = app_objects(objects, "StatefulSet")["ratings-mongodb"]["spec"]["template"]["spec"]
    member = next(c for c in mongo_spec["containers"] if c["name"] == "member")
    assert secret_mounts(mongo_spec, member) == {CREDENTIALS_DIR: ("ratings-mongodb-credentials", None)}
    assert {"name": "CREDENTIALS_DIR", "value": CREDENTIALS_DIR} in member["env"]


def test_the_secrets_hold_the_files_their_readers_expect(cluster: StackRun, objects: list[dict[str, Any]]) -> None:
    secrets = {
        r.plain_inputs["metadata"]["name"]: r.plain_inputs["stringData"]
        for r in cluster.by_type("kubernetes:core/v1:Secret")
        if r.plain_inputs["metadata"]["namespace"] == NAMESPACE
    }
    credentials = secrets["ratings-mongodb-credentials"]
    assert set(credentials) == set(CREDENTIAL_FILES)
    join = app_objects(objects, "ConfigMap")["ratings-mongodb-scripts"]["data"]["join.js"]
    for name in CREDENTIAL_FILES:
        assert f"credential('{name}')" in join
    hosts = member_hosts(3, "ratings-mongodb", "ratings-mongodb", NAMESPACE)
    uri = connection_uri(credentials["app-username"], credentials["app-password"], hosts)
    assert secrets["ratings-api-mongodb"] == {".env": f"MONGODB_URI={uri}\n"}


def test_no_secret_value_in_a_config_map_an_env_literal_or_the_preview_output(cluster: StackRun) -> None:
    objects = rendered_objects(cluster)
    literals = [
        env.get("value", "")
        for workload in workloads(objects)
        for _, container in all_containers(workload["spec"]["template"]["spec"])
        for env in container.get("env") or []
    ]
    config_maps = json.dumps([o.get("data") for o in objects if o["kind"] == "ConfigMap"])
    everything_shown = json.dumps([objects, helm_values(cluster)]) + as_json(cluster)
    for what, sentinel in SENTINELS.items():
        assert sentinel not in config_maps, what
        assert not [v for v in literals if sentinel in v], what
        assert sentinel not in everything_shown, what


def test_only_secrets_and_the_provider_hold_secret_inputs(cluster: StackRun) -> None:
    def holds_secret(value: Any) -> bool:
        if is_secret(value):
            return True
        if isinstance(value, dict):
            return any(holds_secret(v) for v in value.values())
        if isinstance(value, list):
            return any(holds_secret(v) for v in value)
        return False

    holders = {r.type for r in cluster.resources if holds_secret(r.inputs)}
    assert holders == {"kubernetes:core/v1:Secret", "pulumi:providers:kubernetes"}
    app_secrets = [
        r for r in cluster.by_type("kubernetes:core/v1:Secret") if r.plain_inputs["metadata"]["namespace"] == NAMESPACE
    ]
    assert {r.plain_inputs["metadata"]["name"] for r in app_secrets} == {
        "registry-pull",
        "ratings-mongodb-credentials",
        "ratings-mongodb-keyfile",
        "ratings-api-mongodb",
    }
    assert all(is_secret(r.inputs["stringData"]) for r in app_secrets)


def test_passwords_and_keyfile_are_random_and_protected(cluster: StackRun) -> None:
    passwords = {r.name: r for r in cluster.by_type("random:index/randomPassword:RandomPassword")}
    assert set(passwords) == {
        "hub-seattle-mongodb-root-password",
        "hub-seattle-mongodb-app-password",
        "hub-seattle-mongodb-keyfile",
    }
    assert all(p.protect for p in passwords.values())
    assert passwords["hub-seattle-mongodb-keyfile"].plain_inputs["length"] == 756
    assert all(p.plain_inputs["special"] is False for p in passwords.values())


# --- images, data, ingress, outputs ------------------------------------------------------------------------


def test_images_are_pinned_and_pulled_with_the_pull_secret(objects: list[dict[str, Any]]) -> None:
    images = {}
    for workload in workloads(objects):
        spec = workload["spec"]["template"]["spec"]
        assert spec["imagePullSecrets"] == [{"name": "registry-pull"}]
        for _, container in all_containers(spec):
            images[container["name"]] = container["image"]
            assert not container["image"].endswith(":latest")
            # A cached image still starts while the registry is out of reach.
            assert container["imagePullPolicy"] == "IfNotPresent"
    assert images["ratings-api"] == f"{REGISTRY}/ratings-api:v1"
    assert images["ratings-web"] == f"{REGISTRY}/ratings-web:v1"
    assert images["mongod"] == images["member"] == images["install-keyfile"] == "mongo:8.0.17"


def test_workloads_pinned_by_tag_carry_checkov_exceptions_naming_their_images(objects: list[dict[str, Any]]) -> None:
    expected = {"ratings-api": "ratings-api:v1", "ratings-web": "ratings-web:v1", "ratings-mongodb": "mongo:8.0.17"}
    for workload in workloads(objects):
        annotations = workload["metadata"]["annotations"]
        checks = {value.split("=")[0]: value for key, value in annotations.items() if key.startswith("checkov.io/skip")}
        assert set(checks) == {"CKV_K8S_43", "CKV_K8S_15"}
        assert all(f"({expected[workload['metadata']['name']]})" in value for value in checks.values())


DIGEST = "sha256:" + "4f" * 32


@pytest.fixture(scope="module")
def pinned_objects() -> list[dict[str, Any]]:
    images = AppImages(api_tag=f"v1@{DIGEST}", web_tag=f"v2@{DIGEST}", mongodb=f"mongo:8.0.17@{DIGEST}")
    return rendered_objects(run_cluster(Cluster(images=images)))


def test_images_pinned_by_digest_need_no_exception(pinned_objects: list[dict[str, Any]]) -> None:
    images = {}
    for workload in workloads(pinned_objects):
        assert workload["metadata"].get("annotations") is None, workload["metadata"]["name"]
        for _, container in all_containers(workload["spec"]["template"]["spec"]):
            images[container["name"]] = container["image"]
    assert images["ratings-api"] == f"{REGISTRY}/ratings-api:v1@{DIGEST}"
    assert images["ratings-web"] == f"{REGISTRY}/ratings-web:v2@{DIGEST}"
    assert images["mongod"] == f"mongo:8.0.17@{DIGEST}"


def test_ports_and_environment_follow_the_app(objects: list[dict[str, Any]]) -> None:
    deployments = app_objects(objects, "Deployment")
    api = deployments["ratings-api"]["spec"]["template"]["spec"]["containers"][0]
    web = deployments["ratings-web"]["spec"]["template"]["spec"]["containers"][0]
    assert api["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert api["readinessProbe"]["httpGet"] == api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert {"name": "API", "value": "http://ratings-api.ratingsapp.svc.cluster.local"} in web["env"]
    services = app_objects(objects, "Service")
    assert services["ratings-api"]["spec"]["ports"][0] | {"name": "http"} == {
        "name": "http",
        "port": 80,
        "targetPort": "http",
        "protocol": "TCP",
    }
    headless = services["ratings-mongodb"]["spec"]
    assert (headless["clusterIP"], headless["publishNotReadyAddresses"]) == ("None", True)


def test_the_database_keeps_its_data(cluster: StackRun, objects: list[dict[str, Any]]) -> None:
    (statefulset,) = cluster.by_type("kubernetes:apps/v1:StatefulSet")
    assert statefulset.protect
    spec = app_objects(objects, "StatefulSet")["ratings-mongodb"]["spec"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "database-retain"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert spec["podManagementPolicy"] == "OrderedReady"


def test_both_hostnames_are_served_with_tls_from_cert_manager(objects: list[dict[str, Any]]) -> None:
    ingresses = app_objects(objects, "Ingress")
    assert set(ingresses) == {"ratings-web-shared", "ratings-web-hub"}
    hosts = {}
    for name, ingress in ingresses.items():
        spec = ingress["spec"]
        (rule,) = spec["rules"]
        (tls,) = spec["tls"]
        assert spec["ingressClassName"] == "nginx"
        assert tls == {"hosts": [rule["host"]], "secretName": f"{name}-tls"}
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-production"
        backend = rule["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": "ratings-web", "port": {"number": 80}}
        hosts[name] = rule["host"]
    assert hosts == {"ratings-web-shared": SHARED_HOSTNAME, "ratings-web-hub": HUB_HOSTNAME}
    hub_annotations = ingresses["ratings-web-hub"]["metadata"]["annotations"]
    assert hub_annotations["acme.cert-manager.io/http01-edit-in-place"] == "true"


def test_the_stack_exports_what_the_global_stack_needs(cluster: StackRun) -> None:
    assert cluster.plain_outputs == {
        "ingressIp": "203.0.113.20",
        "sharedHostname": SHARED_HOSTNAME,
        "hubHostname": HUB_HOSTNAME,
        "healthUrl": f"https://{HUB_HOSTNAME}/",
    }


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="not latest"):
        AppImages(api_tag="latest")
    with pytest.raises(ValueError, match="not latest"):
        AppImages(web_tag=f"latest@{DIGEST}")
    with pytest.raises(ValueError, match="64 hex"):
        AppImages(api_tag="v1@sha256:abc")
    with pytest.raises(ValueError, match="untagged image means latest"):
        AppImages(mongodb="mongo")
    with pytest.raises(ValueError, match="name@sha256:<digest>"):
        AppImages(mongodb="mongo:8.0.17@sha256:ABC")
    assert AppImages(mongodb=f"registry.local/mongo@{DIGEST}").mongodb.endswith(DIGEST)
    registry = RegistryCredentials(login_server=REGISTRY, username="u", password="p")
    common: dict[str, Any] = {
        "provider": None,
        "registry": registry,
        "tls_issuer": "private-ca",
        "storage_class": "database-retain",
        "worker_count": 3,
        "worker_vm_size": "Standard_DS2_v2",
    }
    with pytest.raises(ValueError, match="must differ"):
        RatingsAppArgs(shared_hostname=SHARED_HOSTNAME, hub_hostname=SHARED_HOSTNAME, **common)
    with pytest.raises(ValueError, match="must be lowercase"):
        RatingsAppArgs(shared_hostname="Ratings_App", hub_hostname=HUB_HOSTNAME, **common)
