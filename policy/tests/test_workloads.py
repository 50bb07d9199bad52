"""workload-resources, -image-tags, -image-registries, -readiness-probes, -service-account-token and
pod-security-restricted: pod templates of every kind, and Helm values where they set it."""

from __future__ import annotations

from typing import Any

import pytest

from policy.stackhub_policies.wire import UNKNOWN

from .fixtures import deployment, k8s, pod_template, run
from .stacks import detail, evaluate_registrations, mutated, of_policy, shipped, stack_config

WORKLOAD_POLICIES = ("workload-resources", "workload-image-tags", "workload-image-registries",
                     "workload-readiness-probes", "workload-service-account-token")  # fmt: skip


def container(**changes: Any) -> dict[str, Any]:
    base = pod_template()["spec"]["containers"][0]
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def with_container(**changes: Any) -> Any:
    return deployment(containers=[container(**changes)])


@pytest.mark.parametrize("policy", WORKLOAD_POLICIES)
def test_a_complete_pod_template_passes(policy: str) -> None:
    assert run(policy, deployment()) == []


def test_every_workload_kind_is_checked_at_its_pod_template() -> None:
    bad = {"containers": [container(resources=None)]}
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "app"},
            "spec": {"jobTemplate": {"spec": {"template": pod_template(**bad)}}}}  # fmt: skip
    daemon = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "namespace": "app"},
              "spec": {"template": pod_template(**bad)}}  # fmt: skip
    found = run("workload-resources", k8s("batch/v1:CronJob", "c", cron), k8s("apps/v1:DaemonSet", "d", daemon))
    assert sorted(e.urn.rsplit("::", 1)[1] for e in found) == ["c", "d"]


@pytest.mark.parametrize(
    ("policy", "changes", "message"),
    [
        ("workload-resources", {"resources": {"requests": {"cpu": "1"}}},
         "containers[app] has no requests.memory, limits.cpu, limits.memory (3 missing, 0 allowed)"),
        ("workload-image-tags", {"image": "contoso.azurecr.io/app:latest"},
         "containers[app] image contoso.azurecr.io/app:latest uses tag 'latest'"),
        ("workload-image-tags", {"image": "contoso.azurecr.io/app"},
         "containers[app] image contoso.azurecr.io/app has no tag; a pinned tag or digest is needed"),
        ("workload-image-registries", {"image": "quay.io/evil/app:1"},
         "containers[app] image quay.io/evil/app:1 comes from quay.io/evil/app; allowed registries: "),
        ("workload-readiness-probes", {"readinessProbe": None}, "containers[app] has no readinessProbe"),
    ],
)  # fmt: skip
def test_a_bad_container_is_reported(policy: str, changes: dict[str, Any], message: str) -> None:
    (event,) = run(policy, with_container(**changes))
    assert message in detail(event)


def test_a_digest_pins_an_image_and_docker_hub_names_are_read_as_docker_hub() -> None:
    pinned = with_container(image="mongo@sha256:" + "a" * 64)
    assert run("workload-image-tags", pinned) == []
    official = with_container(image="mongo:8.0.17")
    assert run("workload-image-registries", official) == []  # docker.io/library is allowed by default
    (event,) = run("workload-image-registries", with_container(image="bitnami/mongodb:8.0"))
    assert "comes from docker.io/bitnami/mongodb" in detail(event)


def test_a_token_is_refused_unless_the_workload_needs_the_api() -> None:
    mounting = deployment(automountServiceAccountToken=True)
    (event,) = run("workload-service-account-token", mounting)
    assert detail(event).startswith("kubernetes:apps/v1:Deployment 'web' (app/web): its pods mount a service-account")
    assert run("workload-service-account-token", mounting,
               config={"workload-service-account-token": {"needsToken": ["app/web"]}}) == []  # fmt: skip


def release(values: dict[str, Any]) -> Any:
    return k8s("helm.sh/v3:Release", "chart", {"name": "chart", "chart": "c", "values": values})


def test_helm_values_are_checked_where_they_set_resources_and_images() -> None:
    good = {"controller": {"image": {"repository": "contoso.azurecr.io/c", "tag": "1.2"},
                           "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                         "limits": {"cpu": "1", "memory": "1Gi"}}}}  # fmt: skip
    for policy in ("workload-resources", "workload-image-tags", "workload-image-registries"):
        assert run(policy, release(good)) == [], policy
    bad = {"controller": {"image": {"registry": "quay.io", "repository": "c", "tag": "latest"},
                          "initContainerResources": {"requests": {"cpu": "1", "memory": "1Gi"}}}}  # fmt: skip
    assert [detail(e) for e in run("workload-resources", release(bad))] == [
        "kubernetes:helm.sh/v3:Release 'chart': values controller.initContainerResources has no limits.cpu, "
        "limits.memory (2 missing, 0 allowed)"
    ]
    assert "values controller.image sets tag 'latest'" in detail(run("workload-image-tags", release(bad))[0])
    assert "values controller.image pulls from quay.io/c" in detail(run("workload-image-registries", release(bad))[0])


def test_a_shipped_hub_with_a_latest_image_and_no_limits_breaks_two_rules() -> None:
    def loosen(inputs: dict[str, Any]) -> None:
        first = inputs["spec"]["template"]["spec"]["containers"][0]
        first["image"] = "contosoratings.azurecr.io/ratings-api:latest"
        first["resources"].pop("limits")

    registrations = mutated(shipped("hub-seattle").resources, "hub-seattle-ratings-api", loosen)
    found = evaluate_registrations(registrations, stack_config("hub-seattle"))
    assert sorted(e.policy_name for e in found) == ["workload-image-tags", "workload-resources"]


def namespace(name: str, level: str) -> Any:
    body = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": level}}}  # fmt: skip
    return k8s("core/v1:Namespace", f"{name}-ns", body)


def test_pods_in_a_restricted_namespace_must_meet_it() -> None:
    assert run("pod-security-restricted", namespace("app", "restricted"), deployment()) == []
    privileged = with_container(securityContext={"privileged": True})
    (event,) = run("pod-security-restricted", namespace("app", "restricted"), privileged)
    assert detail(event).startswith("kubernetes:apps/v1:Deployment 'web': namespace app enforces restricted and its "
                                    "pods break 5 control(s): containers/app: privileged;")  # fmt: skip
    # The same pod where the namespace enforces only baseline, or is not declared by the stack: not this rule's.
    assert run("pod-security-restricted", namespace("app", "baseline"), privileged) == []
    assert run("pod-security-restricted", privileged) == []


def test_a_shipped_hub_with_a_root_database_breaks_pod_security() -> None:
    def as_root(inputs: dict[str, Any]) -> None:
        inputs["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False
        for each in inputs["spec"]["template"]["spec"]["containers"]:
            each["securityContext"].pop("runAsNonRoot")

    registrations = mutated(shipped("hub-seattle").resources, "hub-seattle-mongodb", as_root)
    (event,) = of_policy(evaluate_registrations(registrations, stack_config("hub-seattle")), "pod-security-restricted")
    assert "namespace ratingsapp enforces restricted and its pods break 2 control(s)" in detail(event)
    assert "containers/mongod: runAsNonRoot must be true (container or pod)" in detail(event)


def test_an_unknown_image_in_helm_values_cannot_be_verified_but_an_unknown_elsewhere_is_passed_over() -> None:
    unknown_tag = {"controller": {"image": {"repository": "contoso.azurecr.io/c", "tag": UNKNOWN}}}
    (event,) = run("workload-image-tags", release(unknown_tag))
    assert detail(event).startswith("cannot verify the images' tags of kubernetes:helm.sh/v3:Release 'chart': ")
    assert ".values.controller.image.tag can't be known during preview" in detail(event)
    assert event.enforcement_level == "mandatory"
    (event,) = run("workload-image-registries", release({"controller": {"image": UNKNOWN}}))
    assert ".values.controller.image can't be known during preview" in detail(event)
    unknown_address = {"controller": {"image": {"repository": "contoso.azurecr.io/c", "tag": "1"},
                                      "service": {"loadBalancerIP": UNKNOWN}}}  # fmt: skip
    assert run("workload-image-tags", release(unknown_address)) == []
