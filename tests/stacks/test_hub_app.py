"""The hub stack's platform and application, as the real stack files compose them with the shared stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from preview.engine import StackRun, is_secret, run_stack
from preview.manifests import rendered_objects, write_manifests
from preview.render import as_json, as_tree
from stacks.contracts import StackOutputError
from tests.conftest import config_of, run_with, shared_outputs

K8S_PREFIX = "kubernetes:"


@pytest.fixture(scope="module")
def denver() -> StackRun:
    return run_stack("hub-denver", stack_outputs={"shared": shared_outputs()})


def releases(run: StackRun) -> dict[str, dict[str, Any]]:
    """Helm releases by release name, with their inputs."""
    return {r.plain_inputs["name"]: r.plain_inputs for r in run.by_type("kubernetes:helm.sh/v3:Release")}


def kinds(run: StackRun, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered_objects(run) if o["kind"] == kind}


def test_everything_on_the_cluster_goes_through_the_clusters_provider(seattle: StackRun) -> None:
    provider = seattle.named("hub-seattle-k8s")
    on_cluster = [r for r in seattle.resources if r.type.startswith(K8S_PREFIX) and r.custom]
    assert len(on_cluster) > 30
    for resource in on_cluster:
        assert resource.provider.startswith(provider.urn + "::"), resource.name


def test_the_app_waits_for_the_whole_platform(seattle: StackRun) -> None:
    (app,) = seattle.by_type("stackhub-ha:index:RatingsApp")
    (platform,) = seattle.by_type("stackhub-ha:index:ClusterPlatform")
    # depends_on a component waits for every resource in it (ingress controller, issuers, storage class).
    platform_children = {r.urn for r in seattle.resources if r.parent == platform.urn and r.custom}
    assert platform_children
    assert platform_children <= set(app.dependencies)


def test_images_and_pull_secret_come_from_the_shared_registry(seattle: StackRun) -> None:
    shared = shared_outputs()
    registry = shared["registryLoginServer"]
    deployments = kinds(seattle, "Deployment")
    images = {c["image"] for d in deployments.values() for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {f"{registry}/ratings-api:v1", f"{registry}/ratings-web:v1"}
    pull = seattle.named("hub-seattle-registry-pull")
    assert is_secret(pull.inputs["stringData"]) or is_secret(pull.inputs["stringData"][".dockerconfigjson"])
    config = json.loads(pull.plain_inputs["stringData"][".dockerconfigjson"])
    assert set(config["auths"]) == {registry}
    assert config["auths"][registry]["username"] == shared["registryPullUsername"]


def test_the_ingress_controller_is_bound_to_the_networks_static_address(seattle: StackRun) -> None:
    (ingress,) = [r for r in releases(seattle).values() if r["chart"].endswith("nginx-ingress")]
    values = ingress["values"]["controller"]["service"]
    outputs = seattle.plain_outputs
    assert values["type"] == "LoadBalancer"
    assert outputs["ingressIp"] in json.dumps(values)
    assert (
        values["annotations"]["service.beta.kubernetes.io/azure-load-balancer-resource-group"]
        == (outputs["resourceGroup"])
    )


def test_a_connected_hub_gets_lets_encrypt_by_dns01_in_the_shared_zone(seattle: StackRun) -> None:
    shared = shared_outputs()
    issuers = {r.plain_inputs["metadata"]["name"]: r.plain_inputs for r in
               seattle.by_type("kubernetes:cert-manager.io/v1:ClusterIssuer")}  # fmt: skip
    acme = [i for i in issuers.values() if "acme" in i["spec"]]
    assert len(acme) == 2  # production and staging
    for issuer in acme:
        assert issuer["spec"]["acme"]["email"] == "platform-team@contoso.com"
        dns01 = [s["dns01"]["azureDNS"] for s in issuer["spec"]["acme"]["solvers"] if "dns01" in s]
        assert dns01 == [dns01[0]]
        assert dns01[0]["hostedZoneName"] == shared["dnsZoneName"] == "ratings.contoso.com"
        assert dns01[0]["resourceGroupName"] == shared["dnsZoneResourceGroup"]
        assert dns01[0]["subscriptionID"] == shared["dnsZoneId"].split("/")[2]
        assert dns01[0]["clientID"] == "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


def test_a_connected_hub_ships_logs_to_the_shared_rule(seattle: StackRun) -> None:
    shared = shared_outputs()
    shipping = [v for k, v in releases(seattle).items() if "fluent" in k or "log" in k]
    assert shipping, sorted(releases(seattle))
    text = json.dumps([r["values"] for r in shipping])
    assert shared["logsIngestionEndpoint"] in text
    assert shared["logsDcrImmutableId"] in text
    assert "offline-secret" not in text


def test_a_disconnected_hub_uses_its_private_ca_mirror_and_sends_nothing_out(denver: StackRun) -> None:
    names = releases(denver)
    assert not [k for k in names if "fluent" in k or "log" in k]
    for release in names.values():
        assert release["chart"].startswith("oci://registry.denver.hub.contoso.local/helm/"), release["chart"]
    issuers = [r.plain_inputs["spec"] for r in denver.by_type("kubernetes:cert-manager.io/v1:ClusterIssuer")]
    assert not [i for i in issuers if "acme" in i]
    ingresses = kinds(denver, "Ingress")
    assert ingresses
    for ingress in ingresses.values():
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "private-ca"


def test_the_hub_exports_the_names_it_serves_and_its_health_url(seattle: StackRun, denver: StackRun) -> None:
    assert seattle.plain_outputs["sharedHostname"] == "www.ratings.contoso.com"
    # Unset hubHostname: the ingress address's DNS name on the hub.
    for run in (seattle, denver):
        assert run.plain_outputs["hubHostname"] == run.plain_outputs["ingressFqdn"]
        assert run.plain_outputs["healthUrl"] == f"https://{run.plain_outputs['ingressFqdn']}/"


def test_every_rendered_object_of_both_hubs_validates_at_the_clusters_version(
    seattle: StackRun, denver: StackRun
) -> None:
    for run in (seattle, denver):
        version = run.plain_outputs["kubernetesVersion"]
        # cert-manager's custom resources have no schema in the official set; every built-in kind is checked.
        objects = [o for o in rendered_objects(run) if not o["apiVersion"].startswith("cert-manager.io/")]
        assert len(objects) >= 30
        for obj in objects:
            kubernetes_validate.validate(obj, version, strict=True)


def test_no_secret_reaches_the_preview_or_the_written_manifests(seattle: StackRun, tmp_path: Path) -> None:
    written = write_manifests(seattle, tmp_path)
    text = as_json(seattle) + as_tree(seattle) + "".join(p.read_text() for p in written)
    for secret in ("offline-secret-", "PRIVATE KEY-----\n", "client-key-data"):
        assert secret not in text
    for path in written:
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "ConfigMap":
                assert "offline-secret" not in json.dumps(document)


def test_acme_needs_the_dns_solver_credentials() -> None:
    from stacks.config import ConfigError  # noqa: PLC0415

    with pytest.raises(ConfigError) as caught:
        run_with("hub-seattle", config_of("hub-seattle", dnsSolverClientId=None, dnsSolverClientSecret=None))
    assert [p.key for p in caught.value.problems] == ["dnsSolverClientId", "dnsSolverClientSecret"]


def test_a_shared_name_outside_the_shared_zone_is_refused_naming_both() -> None:
    with pytest.raises(StackOutputError) as caught:
        run_with("hub-seattle", config_of("hub-seattle", sharedHostname="ratings.fabrikam.com"))
    assert [str(p) for p in caught.value.problems] == [
        "stackhub-ha:sharedHostname = 'ratings.fabrikam.com': must be inside the shared DNS zone ratings.contoso.com: "
        "its certificate is issued by DNS-01 there"
    ]


def test_a_shared_stack_missing_its_pull_password_is_named() -> None:
    outputs = {k: v for k, v in shared_outputs().items() if k != "registryPullPassword"}
    with pytest.raises(StackOutputError) as caught:
        run_stack("hub-denver", stack_outputs={"shared": outputs})
    assert [str(p) for p in caught.value.problems] == [
        "stackhub-ha:sharedStack = 'shared': output 'registryPullPassword' is missing: deploy that stack first, "
        "or check that the stack name is right"
    ]


def test_a_hub_that_ships_no_logs_and_backs_up_nowhere_needs_only_the_registry_outputs() -> None:
    # hub-denver: logShipping false, no backupRecipients, no acmeEmail. The shared stack's log, backup and DNS
    # outputs may be absent (or from an older shared stack) without stopping it.
    outputs = {k: v for k, v in shared_outputs().items() if k.startswith("registry") or k == "contractVersion"}
    run = run_stack("hub-denver", stack_outputs={"shared": outputs})
    assert run.by_type("kubernetes:apps/v1:StatefulSet")


def test_a_hub_that_ships_logs_names_the_missing_log_outputs() -> None:
    outputs = {k: v for k, v in shared_outputs().items() if k != "logsIngestionEndpoint"}
    with pytest.raises(StackOutputError) as caught:
        run_stack("hub-seattle", stack_outputs={"shared": outputs})
    assert [str(p) for p in caught.value.problems] == [
        "stackhub-ha:sharedStack = 'shared': output 'logsIngestionEndpoint' is missing: deploy that stack first, "
        "or check that the stack name is right"
    ]
