"""Traffic into the cluster: only the ingress controller is a LoadBalancer (a hub's Basic load balancer takes five
frontend IPs), and every Ingress has TLS, a cert-manager issuer and an ingress class."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from pulumi_policy import EnforcementLevel

from . import hub_facts
from .configuration import setting
from .kubernetes import HELM_RELEASE, LoadBalancerService, kind, load_balancer_services, namespace, object_name
from .reporting import (
    Finding,
    Settings,
    Subject,
    dig,
    has,
    items,
    mapping,
    planned,
    read,
    resource_policy,
    stack_policy,
    unplanned,
)

LB_SERVICES = "loadbalancer-services"
LB_FRONTENDS = "lb-frontend-ips"
TLS = "ingress-tls"
ISSUER = "ingress-cert-manager-issuer"
CLASS = "ingress-class"

ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")


def _identity(subject: Subject) -> str:
    """How the `allowed` setting names a resource: `release:<release name>` or `service:<namespace>/<name>`."""
    if subject.type == HELM_RELEASE:
        release = subject.props["name"] if has(subject.props, "name") else None
        return f"release:{release if isinstance(release, str) else subject.name}"
    return f"service:{namespace(subject.props)}/{object_name(subject.props)}"


LB_SERVICES_PROPERTIES = {
    "allowed": setting(
        "array",
        "What may create LoadBalancer Services: `release:<Helm release name>` or `service:<namespace>/<name>`.",
        ["release:nginx-ingress"],
        items={"type": "string", "pattern": r"^(release:[^/\s]+|service:[^/\s]+/[^/\s]+)$"},
    )
}


def check_lb_services(subject: Subject, settings: Settings) -> Iterable[str]:
    """A Service or release that creates a LoadBalancer must be the ingress controller."""
    if kind(subject.type) not in ("Service", "Release"):
        return
    identity = read(subject, "what it is", _identity, subject)
    if identity in settings["allowed"]:
        return
    services = read(subject, "its Service types", load_balancer_services, subject)
    for service in services:
        yield (
            f"{subject.label} ({identity}) creates a LoadBalancer Service ({service.where}); only the ingress "
            f"controller may ({', '.join(settings['allowed'])}): a hub's Basic load balancer takes at most "
            f"{hub_facts.BASIC_LB_FRONTEND_IPS} frontend IPs. Route it through an Ingress instead."
        )


LB_SERVICES_POLICY = resource_policy(
    LB_SERVICES,
    "Only the ingress controller is a LoadBalancer Service; everything else is reached through an Ingress.",
    check_lb_services,
    level=EnforcementLevel.MANDATORY,
    properties=LB_SERVICES_PROPERTIES,
    remediation="Make the Service a ClusterIP and add an Ingress rule, or add it to `allowed` if it must be exposed.",
    reads="the Services it creates",
)


LB_FRONTENDS_PROPERTIES = {
    "maxFrontends": setting(
        "integer",
        "Frontend IPs a cluster's Basic load balancer takes (one per LoadBalancer Service).",
        hub_facts.BASIC_LB_FRONTEND_IPS,
        minimum=1,
    )
}


def check_frontends(subjects: Sequence[Subject], settings: Settings) -> Iterable[Finding]:
    """LoadBalancer Services per cluster (per Kubernetes provider) within the Basic load balancer's frontends."""
    relevant = [s for s in subjects if kind(s.type) in ("Service", "Release")]
    gap = unplanned(relevant, "the LoadBalancer Services")
    if gap is not None:
        yield gap
    per_cluster: dict[str, list[LoadBalancerService]] = defaultdict(list)
    for subject in filter(planned, relevant):
        for service in read(subject, "the LoadBalancer Services", load_balancer_services, subject):
            per_cluster[subject.provider_urn].append(service)
    for provider, services in per_cluster.items():
        if len(services) > settings["maxFrontends"]:
            names = ", ".join(f"'{s.subject.name}' {s.where}" for s in services)
            yield Finding(
                f"{len(services)} LoadBalancer Services on the cluster of provider {provider or '(default)'} "
                f"({names}) but its Basic load balancer takes at most {settings['maxFrontends']} frontend IPs"
            )


LB_FRONTENDS_POLICY = stack_policy(
    LB_FRONTENDS,
    "A cluster's LoadBalancer Services fit the frontend IPs of the hub's Basic load balancer.",
    check_frontends,
    level=EnforcementLevel.MANDATORY,
    properties=LB_FRONTENDS_PROPERTIES,
    remediation="Expose applications through the ingress controller's Ingress rules instead of LoadBalancer Services.",
)


def _is_ingress(subject: Subject) -> bool:
    return kind(subject.type) == "Ingress"


def check_tls(subject: Subject, _settings: Settings) -> Iterable[str]:
    """Every host of every rule is covered by a TLS entry with a secret."""
    if not _is_ingress(subject):
        return
    spec = mapping(dig(subject.props, "spec"))
    tls = [mapping(entry) for entry in items(dig(spec, "tls"))]
    if not tls:
        yield f"{subject.label}: 0 TLS entries; at least 1 is needed (HTTPS only: Traffic Manager probes HTTPS)"
        return
    covered = {host for entry in tls for host in items(dig(entry, "hosts"))}
    hosts = [dig(rule, "host") for rule in items(dig(spec, "rules"))]
    missing = sorted(str(h) for h in hosts if h and h not in covered)
    if missing:
        yield f"{subject.label}: {len(missing)} host(s) without TLS ({', '.join(missing)}); 0 are allowed"
    unnamed = sum(1 for entry in tls if not dig(entry, "secretName"))
    if unnamed:
        yield f"{subject.label}: {unnamed} TLS entr(ies) without secretName; every entry needs one for its certificate"


TLS_POLICY = resource_policy(
    TLS,
    "Every Ingress serves HTTPS: a TLS entry with a secret for each of its hosts.",
    check_tls,
    level=EnforcementLevel.MANDATORY,
    properties={},
    remediation="Add `tls: [{hosts: [...], secretName: ...}]` covering every rule's host.",
    reads="its TLS entries",
)


ISSUER_PROPERTIES = {
    "allowedIssuers": setting(
        "array",
        "Issuer names an Ingress may use; empty = any issuer named in a cert-manager annotation.",
        [],
        items={"type": "string", "minLength": 1},
    )
}


def check_issuer(subject: Subject, settings: Settings) -> Iterable[str]:
    """A cert-manager issuer annotation, with an allowed issuer."""
    if not _is_ingress(subject):
        return
    annotations = mapping(dig(subject.props, "metadata", "annotations"))
    named = [str(annotations[a]) for a in ISSUER_ANNOTATIONS if has(annotations, a) and annotations[a]]
    if not named:
        yield (
            f"{subject.label}: no cert-manager issuer annotation ({' or '.join(ISSUER_ANNOTATIONS)}); 1 is needed "
            "so that its certificate is issued and renewed"
        )
        return
    allowed = settings["allowedIssuers"]
    for issuer in named:
        if allowed and issuer not in allowed:
            yield f"{subject.label}: issuer {issuer!r} is not one of the allowed issuers ({', '.join(allowed)})"


ISSUER_POLICY = resource_policy(
    ISSUER,
    "Every Ingress names the cert-manager issuer of its certificate.",
    check_issuer,
    level=EnforcementLevel.MANDATORY,
    properties=ISSUER_PROPERTIES,
    remediation="Annotate the Ingress with `cert-manager.io/cluster-issuer: <issuer>`.",
    reads="its issuer annotation",
)


CLASS_PROPERTIES = {
    "allowedClasses": setting(
        "array", "Ingress classes an Ingress may use.", ["nginx"], items={"type": "string", "minLength": 1}
    )
}


def check_class(subject: Subject, settings: Settings) -> Iterable[str]:
    """`spec.ingressClassName` names an allowed class."""
    if not _is_ingress(subject):
        return
    name = dig(subject.props, "spec", "ingressClassName")
    if not name:
        yield f"{subject.label}: no spec.ingressClassName; one of {', '.join(settings['allowedClasses'])} is needed"
    elif name not in settings["allowedClasses"]:
        yield f"{subject.label}: ingress class {name!r}; allowed: {', '.join(settings['allowedClasses'])}"


CLASS_POLICY = resource_policy(
    CLASS,
    "Every Ingress names an ingress class the cluster runs.",
    check_class,
    level=EnforcementLevel.MANDATORY,
    properties=CLASS_PROPERTIES,
    remediation="Set `spec.ingressClassName` to the ingress controller's class.",
    reads="its ingress class",
)
