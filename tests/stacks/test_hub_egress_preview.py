"""Both shipped hubs behind an egress proxy, end to end through the offline engine: every layer gets the proxy.

hub-seattle (ACME, log shipping, backups) and hub-denver (disconnected) run with `egressProxy` and `egressNodeImage`
as config overrides (tests/egress/hubs.py). What is checked is what the program decided: the node configurator and
its lock, the proxy variables and CA on exactly the containers that call out, the NetworkPolicies of those that
call out, AKS Engine's environment, the exported no-proxy list; that the same hubs without the proxy register none
of it; that the proxy's credentials, when it has some, stay in Pulumi secrets; and that the rendered manifests pass
the Kubernetes schemas.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.database_backup import DatabaseBackupArgs
from planning.network import master_block
from preview.engine import Registration, StackRun, is_secret, redact, run_stack
from preview.manifests import HELM_RELEASE_TYPE, rendered_objects, write_manifests
from preview.providers import COMMAND_TYPE
from preview.render import as_json, as_tree
from tests.conftest import config_of, shared_outputs
from tests.egress.hubs import DENVER, PASSWORD, SEATTLE, EgressHub, run_hub
from workloads.egress import openssl_subject_hash

PROXY_NAMES = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"}
NODE_NAMESPACE = "node-egress"
CA_CONFIGMAP = "egress-proxy-ca"
BACKUP_CALLERS = {
    "ratings-backup": {"upload"},
    "ratings-backup-verification": {"fetch", "report"},
    "ratings-restore": {"fetch"},
}
"""The backup containers that talk to the storage; the others (dump, restore) talk to the database only."""
HUB_DOMAINS = {"hub-seattle": ".seattle.azurestack.contoso.com", "hub-denver": ".denver.hub.contoso.local"}
"""Each hub's own domain (its storage, AD FS, ARM), reached without the proxy."""
APP_CONTAINERS = {("Deployment", "ratings-api"), ("Deployment", "ratings-web"), ("StatefulSet", "ratings-mongodb")}


@pytest.fixture(scope="module")
def seattle_proxied() -> StackRun:
    return run_hub(SEATTLE)


@pytest.fixture(scope="module")
def denver_proxied() -> StackRun:
    return run_hub(DENVER)


@pytest.fixture(scope="module")
def proxied(seattle_proxied: StackRun, denver_proxied: StackRun) -> dict[str, StackRun]:
    return {"hub-seattle": seattle_proxied, "hub-denver": denver_proxied}


@pytest.fixture(scope="module")
def plain() -> dict[str, StackRun]:
    """The shipped stack files, without a proxy."""
    return {hub: run_stack(hub, stack_outputs={"shared": shared_outputs()}) for hub in ("hub-seattle", "hub-denver")}


def releases(run: StackRun) -> dict[str, Registration]:
    return {str(r.plain_inputs["name"]): r for r in run.by_type(HELM_RELEASE_TYPE)}


def values_of(run: StackRun) -> dict[str, dict[str, Any]]:
    return {name: dict(r.plain_inputs["values"]) for name, r in releases(run).items()}


def objects(run: StackRun, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Rendered objects of one kind by (namespace, name)."""
    return {
        (o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in rendered_objects(run)
        if o["kind"] == kind
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return dict(spec["template"]["spec"])


def containers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = pod_spec(obj)
    return {c["name"]: c for group in ("initContainers", "containers") for c in spec.get(group) or []}


def proxy_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or [] if e["name"] in PROXY_NAMES}


def ca_mounts(container: dict[str, Any]) -> list[str]:
    return [m["mountPath"] for m in container.get("volumeMounts") or [] if m["name"] == CA_CONFIGMAP]


def no_proxy_of(run: StackRun) -> str:
    """The no-proxy list the stack computed and exported, as the variables carry it."""
    return ",".join(run.plain_outputs["egressNoProxy"])


def ca_path() -> str:
    assert SEATTLE.trusted_ca is not None
    return f"/etc/ssl/certs/{openssl_subject_hash(SEATTLE.trusted_ca)}.0"


def masters(hub: EgressHub) -> str:
    return master_block(str(config_of(hub.stack)["clusterSubnetCidr"])).cidr


def backups_take_egress() -> bool:
    return "egress" in {f.name for f in dataclasses.fields(DatabaseBackupArgs)}


# --- what the stack exports and what AKS Engine gets ------------------------------------------------------------


@pytest.mark.parametrize("hub", [SEATTLE, DENVER], ids=lambda h: h.stack)
def test_the_no_proxy_list_is_exported_from_the_address_plan_with_the_mirror_last(
    proxied: dict[str, StackRun], hub: EgressHub
) -> None:
    run = proxied[hub.stack]
    listed = run.plain_outputs["egressNoProxy"]
    config = config_of(hub.stack)
    assert listed[-1] == hub.mirror
    assert {"localhost", "169.254.169.254", ".svc", ".cluster.local", "10.0.0.0/16", config["vnetCidr"]} <= set(listed)
    assert HUB_DOMAINS[hub.stack] in listed
    assert not is_secret(run.outputs["egressNoProxy"])


@pytest.mark.parametrize("hub", [SEATTLE, DENVER], ids=lambda h: h.stack)
def test_aks_engine_runs_with_the_proxy_variables(proxied: dict[str, StackRun], hub: EgressHub) -> None:
    run = proxied[hub.stack]
    (lifecycle,) = run.by_type(COMMAND_TYPE)
    environment = lifecycle.plain_inputs["environment"]
    joined = no_proxy_of(run)
    assert {name: environment.get(name) for name in PROXY_NAMES} == {
        "HTTP_PROXY": hub.proxy_url, "http_proxy": hub.proxy_url, "HTTPS_PROXY": hub.proxy_url,
        "https_proxy": hub.proxy_url, "NO_PROXY": joined, "no_proxy": joined,
    }  # fmt: skip


# --- the nodes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hub", [SEATTLE, DENVER], ids=lambda h: h.stack)
def test_the_node_configurator_its_lock_and_its_rights_are_registered(
    proxied: dict[str, StackRun], hub: EgressHub
) -> None:
    run = proxied[hub.stack]
    kinds = sorted(o["kind"] for o in rendered_objects(run) if o["metadata"].get("namespace") == NODE_NAMESPACE)
    assert kinds == sorted(["ServiceAccount", "Lease", "Role", "RoleBinding", "ConfigMap", "Secret", "DaemonSet",
                            "NetworkPolicy"])  # fmt: skip
    (namespace,) = [o for (_, name), o in objects(run, "Namespace").items() if name == NODE_NAMESPACE]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    ((_, lease_name),) = objects(run, "Lease")
    (role,) = objects(run, "Role").values()
    assert role["rules"] == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                              "resourceNames": [lease_name], "verbs": ["get", "update"]}]  # fmt: skip
    (binding,) = objects(run, "RoleBinding").values()
    (account,) = [o for (ns, _), o in objects(run, "ServiceAccount").items() if ns == NODE_NAMESPACE]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": NODE_NAMESPACE}]  # fmt: skip
    (daemon_set,) = objects(run, "DaemonSet").values()
    assert {c["image"] for c in containers(daemon_set).values()} == {hub.node_image}
    assert pod_spec(daemon_set)["serviceAccountName"] == account["metadata"]["name"]
    # Nothing is installed before every node has the proxy.
    (registered,) = run.by_type("kubernetes:apps/v1:DaemonSet")
    for name, release in releases(run).items():
        assert registered.urn in release.dependencies, name


# --- the pods that call out, and those that do not -----------------------------------------------------------------


def test_cert_manager_and_both_fluent_bit_releases_carry_the_proxy_and_the_ca(seattle_proxied: StackRun) -> None:
    joined = no_proxy_of(seattle_proxied)
    found = values_of(seattle_proxied)
    manager = found["cert-manager"]
    assert (manager["https_proxy"], manager["http_proxy"], manager["no_proxy"]) == (
        SEATTLE.proxy_url, SEATTLE.proxy_url, joined
    )  # fmt: skip
    assert [m["mountPath"] for m in manager["volumeMounts"]] == [ca_path()]
    # Fluent Bit has no HTTPS_PROXY: it sends HTTPS through HTTP_PROXY, which is the HTTPS proxy.
    for release in ("fluent-bit", "fluent-bit-events"):
        values = found[release]
        assert proxy_env({"env": values["env"]}) == {
            "HTTP_PROXY": SEATTLE.proxy_url, "http_proxy": SEATTLE.proxy_url, "NO_PROXY": joined, "no_proxy": joined
        }  # fmt: skip
        assert [m["mountPath"] for m in values["extraVolumeMounts"]] == [ca_path()]


def test_the_backup_containers_that_reach_the_storage_carry_the_proxy_and_the_ca(seattle_proxied: StackRun) -> None:
    if not backups_take_egress():
        pytest.skip("DatabaseBackupArgs has no `egress` yet: the backup pods cannot be given the proxy")
    joined = no_proxy_of(seattle_proxied)
    cronjobs = {name: o for (_, name), o in objects(seattle_proxied, "CronJob").items()}
    assert set(cronjobs) == set(BACKUP_CALLERS)
    for name, cronjob in cronjobs.items():
        for container_name, container in containers(cronjob).items():
            if container_name in BACKUP_CALLERS[name]:
                variables = proxy_env(container)
                assert (variables["HTTPS_PROXY"], variables["https_proxy"]) == (SEATTLE.proxy_url, SEATTLE.proxy_url)
                assert (variables["NO_PROXY"], variables["no_proxy"]) == (joined, joined)
                assert ca_mounts(container) == [ca_path()], (name, container_name)
            else:
                assert proxy_env(container) == {}, (name, container_name)
                assert ca_mounts(container) == [], (name, container_name)


def test_what_stays_inside_the_cluster_gets_neither_the_proxy_nor_the_ca(proxied: dict[str, StackRun]) -> None:
    for hub, run in proxied.items():
        found = values_of(run)
        for release in ("nginx-ingress", "kured"):
            shown = json.dumps(found[release])
            assert "proxy" not in shown.lower(), (hub, release)
            assert CA_CONFIGMAP not in shown, (hub, release)
        for component in ("webhook", "cainjector", "startupapicheck"):
            shown = json.dumps(found["cert-manager"].get(component, {}))
            assert "proxy" not in shown.lower(), (hub, component)
            assert CA_CONFIGMAP not in shown, (hub, component)
        workloads = {**objects(run, "Deployment"), **objects(run, "StatefulSet")}
        assert {(o["kind"], name) for (_, name), o in workloads.items()} == APP_CONTAINERS
        for (_, name), obj in workloads.items():
            for container_name, container in containers(obj).items():
                assert proxy_env(container) == {}, (hub, name, container_name)
                assert ca_mounts(container) == [], (hub, name, container_name)


def test_a_disconnected_hub_behind_a_proxy_gives_it_to_nothing_but_the_nodes_and_aks_engine(
    denver_proxied: StackRun,
) -> None:
    # No ACME, no log shipping, no backups: no pod calls out, so no CA, no caller policy, no proxy in any value.
    assert not [o for o in rendered_objects(denver_proxied) if o["metadata"]["name"] == CA_CONFIGMAP]
    policies = {name for (_, name) in objects(denver_proxied, "NetworkPolicy")}
    assert {name for name in policies if name.endswith("-egress") or name.startswith("node-")} == {
        "node-egress-proxy"
    }  # fmt: skip
    assert "proxy" not in json.dumps(values_of(denver_proxied)).lower()


# --- NetworkPolicies ---------------------------------------------------------------------------------------------


def outside(policy: dict[str, Any]) -> list[tuple[str, list[int]]]:
    """The (CIDR, ports) a policy lets its pods reach outside the cluster's pods."""
    return [
        (peer["ipBlock"]["cidr"], [p["port"] for p in rule.get("ports", [])])
        for rule in policy["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]


@pytest.mark.parametrize("hub", [SEATTLE, DENVER], ids=lambda h: h.stack)
def test_every_policy_lets_pods_out_only_to_the_api_server_and_the_proxy(
    proxied: dict[str, StackRun], hub: EgressHub
) -> None:
    run = proxied[hub.stack]
    api = (masters(hub), [443])
    proxy = [(cidr, [hub.port]) for cidr in hub.proxy_cidrs]
    policies = {name: o for (_, name), o in objects(run, "NetworkPolicy").items()}
    for name, policy in policies.items():
        assert all(block in [api, *proxy] for block in outside(policy)), name
        assert "0.0.0.0/0" not in json.dumps(policy), name
    assert outside(policies["node-egress-proxy"]) == [api]
    if hub is not SEATTLE:
        return
    # The callers: DNS, the API server, the proxy; cert-manager's controller also the ingress pods for HTTP-01.
    for name in ("cert-manager-egress", "fluent-bit-egress"):
        rules = policies[name]["spec"]["egress"]
        assert outside(policies[name]) == [api, *proxy], name
        assert rules[0]["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}], name
        assert rules[0]["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    extra = policies["cert-manager-egress"]["spec"]["egress"][3:]
    assert [(r["to"][0]["namespaceSelector"]["matchLabels"], r["ports"]) for r in extra] == [
        ({"kubernetes.io/metadata.name": "ingress-nginx"}, [{"protocol": "TCP", "port": 80}])
    ]
    assert len(policies["fluent-bit-egress"]["spec"]["egress"]) == 3
    if backups_take_egress():
        for name in BACKUP_CALLERS:
            assert outside(policies[name]) == proxy, name


# --- without the proxy -----------------------------------------------------------------------------------------


def test_the_same_hubs_without_egress_proxy_register_none_of_it(plain: dict[str, StackRun]) -> None:
    for hub, run in plain.items():
        assert "egressNoProxy" not in run.outputs, hub
        assert not run.by_type("kubernetes:apps/v1:DaemonSet"), hub
        assert not run.by_type("kubernetes:coordination.k8s.io/v1:Lease"), hub
        assert not [o for o in rendered_objects(run) if NODE_NAMESPACE in (o["metadata"]["name"],
                                                                           o["metadata"].get("namespace"))]  # fmt: skip
        assert not [o for o in rendered_objects(run) if o["metadata"]["name"] in (CA_CONFIGMAP, "egress-proxy")]
        assert not [name for (_, name) in objects(run, "NetworkPolicy") if name.endswith("-egress")], hub
        (lifecycle,) = run.by_type(COMMAND_TYPE)
        assert not set(lifecycle.plain_inputs["environment"]) & PROXY_NAMES, hub
        assert "proxy" not in json.dumps(values_of(run)).lower(), hub
        for obj in rendered_objects(run):
            if obj["kind"] in ("Deployment", "StatefulSet", "CronJob"):
                for name, container in containers(obj).items():
                    assert proxy_env(container) == {}, (hub, obj["metadata"]["name"], name)


# --- credentials -----------------------------------------------------------------------------------------------


def test_a_proxy_password_stays_in_pulumi_secrets_on_every_layer() -> None:
    run = run_hub(dataclasses.replace(SEATTLE, credentials=True))
    # The callers' namespaces each hold the URLs in a Secret whose data is a Pulumi secret.
    proxy_secrets = {
        r.plain_inputs["metadata"]["namespace"]: r
        for r in run.by_type("kubernetes:core/v1:Secret")
        if r.plain_inputs["metadata"]["name"] == "egress-proxy"
    }
    assert set(proxy_secrets) == {"cert-manager", "logging"}
    for secret in proxy_secrets.values():
        assert is_secret(secret.inputs["stringData"])
        assert PASSWORD in json.dumps(secret.plain_inputs["stringData"])
    # No Helm value and no container env value holds it: the URL variables reference the Secret.
    for name, values in values_of(run).items():
        assert PASSWORD not in json.dumps(values), name
    manager = values_of(run)["cert-manager"]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in manager["extraEnv"]} == {
        "HTTP_PROXY": "egress-proxy", "HTTPS_PROXY": "egress-proxy"
    }  # fmt: skip
    for obj in rendered_objects(run):
        assert PASSWORD not in json.dumps(obj), obj["metadata"]["name"]
    # Not in any input outside a Pulumi secret (AKS Engine's goes on stdin), nor in anything a preview shows.
    for resource in run.resources:
        assert PASSWORD not in json.dumps(redact(resource.inputs), default=str), resource.name
    assert PASSWORD not in as_json(run) + as_tree(run)
    assert PASSWORD not in json.dumps(redact(run.outputs), default=str)


# --- rendered as `python -m preview <hub> --out DIR` writes it ---------------------------------------------------


@pytest.mark.parametrize("hub", [SEATTLE, DENVER], ids=lambda h: h.stack)
def test_the_rendered_manifests_validate_at_the_clusters_version(
    proxied: dict[str, StackRun], hub: EgressHub, tmp_path: Path
) -> None:
    run = proxied[hub.stack]
    version = run.plain_outputs["kubernetesVersion"]
    written = write_manifests(run, tmp_path)
    documents = [yaml.safe_load(p.read_text()) for p in written if p.parent.name != "helm"]
    # cert-manager's custom resources have no schema in the official set; every built-in kind is checked.
    checked = [d for d in documents if not d["apiVersion"].startswith("cert-manager.io/")]
    assert {"DaemonSet", "Lease", "Role", "RoleBinding", "NetworkPolicy"} <= {d["kind"] for d in checked}
    for document in checked:
        kubernetes_validate.validate(document, version, strict=True)
    assert (tmp_path / NODE_NAMESPACE / "daemonset-node-egress-proxy.yaml").is_file()
