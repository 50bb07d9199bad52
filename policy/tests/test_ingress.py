"""loadbalancer-services, lb-frontend-ips, ingress-tls, ingress-cert-manager-issuer, ingress-class."""

from __future__ import annotations

from typing import Any

import pytest

from .fixtures import k8s, run
from .stacks import detail, evaluate_registrations, mutated, of_policy, shipped, stack_config


def service(name: str, kind: str = "LoadBalancer", **spec: Any) -> Any:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "app"},
            "spec": {"type": kind, "ports": [{"port": 80}], **spec}}  # fmt: skip
    return k8s("core/v1:Service", name, body)


def release(name: str, release_name: str, values: dict[str, Any]) -> Any:
    return k8s("helm.sh/v3:Release", name, {"name": release_name, "chart": "c", "values": values})


INGRESS_VALUES = {"controller": {"service": {"type": "LoadBalancer", "loadBalancerIP": "203.0.113.5"}}}


def test_the_ingress_controller_release_may_be_a_loadbalancer() -> None:
    assert (
        run("loadbalancer-services", release("ingress", "nginx-ingress", INGRESS_VALUES), service("web", "ClusterIP"))
        == []
    )


def test_another_loadbalancer_service_is_refused() -> None:
    (event,) = run("loadbalancer-services", service("web"))
    assert detail(event).startswith(
        "kubernetes:core/v1:Service 'web' (service:app/web) creates a LoadBalancer Service (spec); only the ingress "
        "controller may (release:nginx-ingress): a hub's Basic load balancer takes at most 5 frontend IPs"
    )
    assert run("loadbalancer-services", service("web"), config={"loadbalancer-services": {
        "allowed": ["release:nginx-ingress", "service:app/web"]}}) == []  # fmt: skip


def test_a_chart_exposing_a_loadbalancer_is_refused() -> None:
    (event,) = run("loadbalancer-services", release("grafana", "grafana", {"service": {"type": "LoadBalancer"}}))
    assert "(release:grafana) creates a LoadBalancer Service (values.service)" in detail(event)


def test_a_shipped_hub_with_its_web_service_exposed_breaks_the_rule() -> None:
    registrations = mutated(shipped("hub-seattle").resources, "hub-seattle-ratings-web-svc",
                            lambda i: i["spec"].update(type="LoadBalancer"))  # fmt: skip
    (event,) = of_policy(evaluate_registrations(registrations, stack_config("hub-seattle")), "loadbalancer-services")
    assert "(service:ratingsapp/ratings-web) creates a LoadBalancer Service" in detail(event)


def test_frontends_within_the_basic_load_balancer_pass_and_beyond_fail() -> None:
    five = [service(f"s{i}") for i in range(5)]
    assert run("lb-frontend-ips", *five) == []
    (event,) = run("lb-frontend-ips", *five, release("ingress", "nginx-ingress", INGRESS_VALUES))
    assert detail(event).startswith("6 LoadBalancer Services on the cluster of provider ")
    assert detail(event).endswith("but its Basic load balancer takes at most 5 frontend IPs")


def ingress(**overrides: Any) -> Any:
    body: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "app",
                     "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-production"}},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": "www.example.com"}, {"host": "api.example.com"}],
            "tls": [{"hosts": ["www.example.com", "api.example.com"], "secretName": "web-tls"}],
        },
    }  # fmt: skip
    for path, value in overrides.items():
        target = body
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        if value is None:
            target.pop(last)
        else:
            target[last] = value
    return k8s("networking.k8s.io/v1:Ingress", "web", body)


@pytest.mark.parametrize("policy", ["ingress-tls", "ingress-cert-manager-issuer", "ingress-class"])
def test_a_complete_ingress_passes(policy: str) -> None:
    assert run(policy, ingress()) == []


@pytest.mark.parametrize(
    ("policy", "change", "message"),
    [
        ("ingress-tls", {"spec__tls": None}, "0 TLS entries; at least 1 is needed"),
        ("ingress-tls", {"spec__tls": [{"hosts": ["www.example.com"], "secretName": "t"}]},
         "1 host(s) without TLS (api.example.com); 0 are allowed"),
        ("ingress-tls", {"spec__tls": [{"hosts": ["www.example.com", "api.example.com"]}]},
         "1 TLS entr(ies) without secretName"),
        ("ingress-cert-manager-issuer", {"metadata__annotations": {}}, "no cert-manager issuer annotation"),
        ("ingress-class", {"spec__ingressClassName": None}, "no spec.ingressClassName; one of nginx is needed"),
        ("ingress-class", {"spec__ingressClassName": "traefik"}, "ingress class 'traefik'; allowed: nginx"),
    ],
)  # fmt: skip
def test_an_incomplete_ingress_is_reported(policy: str, change: dict[str, Any], message: str) -> None:
    (event,) = run(policy, ingress(**change))
    assert message in detail(event)


def test_an_issuer_outside_the_configured_ones_is_reported() -> None:
    config = {"ingress-cert-manager-issuer": {"allowedIssuers": ["private-ca"]}}
    (event,) = run("ingress-cert-manager-issuer", ingress(), config=config)
    assert detail(event).endswith("issuer 'letsencrypt-production' is not one of the allowed issuers (private-ca)")


def test_a_shipped_hub_ingress_without_tls_issuer_and_class_breaks_three_rules() -> None:
    def strip(inputs: dict[str, Any]) -> None:
        inputs["spec"].pop("tls")
        inputs["spec"].pop("ingressClassName")
        inputs["metadata"].pop("annotations")

    registrations = mutated(shipped("hub-denver").resources, "hub-denver-shared-ingress", strip)
    found = evaluate_registrations(registrations, stack_config("hub-denver"))
    assert sorted(e.policy_name for e in found) == ["ingress-cert-manager-issuer", "ingress-class", "ingress-tls"]
    assert {e.urn.rsplit("::", 1)[1] for e in found} == {"hub-denver-shared-ingress"}
