"""The NetworkPolicy analyser and the restricted Pod Security check, on small hand-made cases."""

from __future__ import annotations

from typing import Any

import pytest

from policy.stackhub_policies.pod_security import restricted_violations
from tests.workloads.network_paths import Path, Pod, allowed_paths, selector_matches

FRONT = Pod("front", "shop", {"app": "front"}, {"http": (8080, "TCP")})
BACK = Pod("back", "shop", {"app": "back", "tier": "api"}, {"api": (3000, "TCP"), "metrics": (9100, "TCP")})
DNS = Pod("dns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")})
OUTSIDER = Pod("outsider", "default", {"app": "front"}, {"http": (80, "TCP")})
PODS = [FRONT, BACK, DNS, OUTSIDER]


def policy(name: str, spec: dict[str, Any], namespace: str = "shop") -> dict[str, Any]:
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def touching_shop(paths: set[Path]) -> set[Path]:
    shop = {"front", "back"}
    return {p for p in paths if p.source in shop or p.destination in shop}


def test_without_policies_everything_talks() -> None:
    paths = allowed_paths([], PODS, {})
    assert Path("outsider", "back", 9100) in paths
    assert Path("front", "dns", 53, "UDP") in paths


def test_default_deny_isolates_both_directions() -> None:
    deny = policy("deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    assert touching_shop(allowed_paths([deny], PODS, {})) == set()


def test_a_rule_admits_its_peer_on_its_port_only_and_egress_must_agree() -> None:
    deny = policy("deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    back_in = policy(
        "back",
        {
            "podSelector": {"matchLabels": {"app": "back"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "front"}}}], "ports": [{"port": "api"}]}],
        },
    )
    # Ingress alone is not enough while the sender is egress-isolated.
    assert touching_shop(allowed_paths([deny, back_in], PODS, {})) == set()
    front_out = policy(
        "front",
        {
            "podSelector": {"matchLabels": {"app": "front"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"tier": "api"}}}], "ports": [{"port": 3000}]}],
        },
    )
    assert touching_shop(allowed_paths([deny, back_in, front_out], PODS, {})) == {Path("front", "back", 3000)}


def test_pod_and_namespace_selectors_in_one_peer_are_and_in_two_peers_or() -> None:
    both = policy(
        "and",
        {
            "podSelector": {"matchLabels": {"app": "back"}},
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"team": "web"}},
                            "podSelector": {"matchLabels": {"app": "front"}},
                        }
                    ]
                }
            ],
        },
    )
    either = policy(
        "or",
        {
            "podSelector": {"matchLabels": {"app": "back"}},
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"team": "web"}}},
                        {"podSelector": {"matchLabels": {"app": "front"}}},
                    ]
                }
            ],
        },
    )
    labels = {"default": {"team": "web"}}
    into_back = {(p.source, p.port) for p in allowed_paths([both], PODS, labels) if p.destination == "back"}
    assert into_back == {("outsider", 3000), ("outsider", 9100)}
    into_back = {(p.source, p.port) for p in allowed_paths([either], PODS, labels) if p.destination == "back"}
    assert into_back == {("outsider", 3000), ("outsider", 9100), ("front", 3000), ("front", 9100)}


def test_namespace_name_label_is_implicit_and_ip_blocks_match_no_pod() -> None:
    dns_only = policy(
        "dns",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]},
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
            ],
        },
    )
    out_of_front = {p for p in allowed_paths([dns_only], PODS, {}) if p.source == "front"}
    assert out_of_front == {Path("front", "dns", 53, "UDP"), Path("front", "dns", 53, "TCP")}


def test_port_ranges_and_protocols() -> None:
    ranged = policy(
        "range",
        {"podSelector": {"matchLabels": {"app": "back"}}, "ingress": [{"ports": [{"port": 3000, "endPort": 4000}]}]},
    )
    assert {p.port for p in allowed_paths([ranged], PODS, {}) if p.destination == "back"} == {3000}
    udp_only = policy(
        "udp", {"podSelector": {"matchLabels": {"app": "back"}}, "ingress": [{"ports": [{"protocol": "UDP"}]}]}
    )
    assert not [p for p in allowed_paths([udp_only], PODS, {}) if p.destination == "back"]


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({}, True),
        ({"matchLabels": {"app": "back"}}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["api", "db"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["api"]}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, True),
        ({"matchLabels": {"app": "back"}, "matchExpressions": [{"key": "zone", "operator": "Exists"}]}, False),
    ],
)
def test_label_selectors(selector: dict[str, Any], matches: bool) -> None:
    assert selector_matches(selector, BACK.labels) is matches


# --- pod security ------------------------------------------------------------------------------------------

RESTRICTED_CONTAINER = {
    "name": "app",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}


def pod(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [RESTRICTED_CONTAINER], "volumes": [{"name": "tmp", "emptyDir": {}}]}
    spec.update(changes)
    return spec


def container(**context: Any) -> dict[str, Any]:
    return {"name": "app", "securityContext": {**RESTRICTED_CONTAINER["securityContext"], **context}}  # type: ignore[dict-item]


def test_a_restricted_pod_passes() -> None:
    assert restricted_violations(pod()) == []
    # Pod-level runAsNonRoot and seccomp cover the containers.
    bare = {"name": "app", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
    pod_level = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert restricted_violations(pod(containers=[bare], securityContext=pod_level)) == []
    bind_low_ports = container(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})
    assert restricted_violations(pod(containers=[bind_low_ports])) == []


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (pod(hostNetwork=True), "hostNetwork"),
        (pod(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}]), "hostPath"),
        (pod(containers=[container(privileged=True)]), "privileged"),
        (pod(containers=[container(allowPrivilegeEscalation=True)]), "allowPrivilegeEscalation"),
        (pod(containers=[container(runAsNonRoot=False)]), "runAsNonRoot"),
        (pod(containers=[container(runAsUser=0)]), "runAsUser"),
        (pod(containers=[container(capabilities={"drop": ["NET_RAW"]})]), "drop ALL"),
        (pod(containers=[container(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})]), "SYS_ADMIN"),
        (pod(containers=[container(seccompProfile={"type": "Unconfined"})]), "Unconfined"),
        (pod(initContainers=[{"name": "init", "securityContext": {}}]), "initContainers/init"),
        (pod(containers=[{**container(), "ports": [{"containerPort": 80, "hostPort": 80}]}]), "hostPort"),
        (pod(securityContext={"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]}), "sysctl"),
    ],
)
def test_each_restricted_control_is_checked(spec: dict[str, Any], problem: str) -> None:
    problems = restricted_violations(spec)
    assert any(problem in p for p in problems), problems
