"""Which pod-to-pod connections a set of NetworkPolicies allows, computed from the policies themselves.

Semantics of `networking.k8s.io/v1` NetworkPolicy (kubernetes.io "Network Policies"):
- a pod is isolated for ingress (egress) when at least one policy in its namespace selects it and lists
  `Ingress` (`Egress`) in `policyTypes` (default: `Ingress`, plus `Egress` when the policy has egress rules);
- a connection is allowed when the destination accepts it (not isolated for ingress, or some selecting policy has
  an ingress rule admitting the source on that port) and the source may send it (likewise for egress);
- rules are unions; an empty `from`/`to` means every peer, empty `ports` every port; a peer with only
  `podSelector` means pods of the policy's namespace, with only `namespaceSelector` every pod of the matching
  namespaces, with both the matching pods of the matching namespaces; named ports resolve against the
  destination pod's container ports; `endPort` makes a range.

`ipBlock` peers describe addresses outside the cluster's pods and match no pod here. Traffic from a pod to itself
is not a path. The analysis only knows the pods it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pod:
    """A pod as the analysis sees it."""

    name: str
    """A name for reports, unique among the pods analysed."""
    namespace: str
    """Its namespace."""
    labels: Mapping[str, str]
    """Its labels."""
    ports: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    """The ports it listens on: port name -> (number, protocol)."""


@dataclass(frozen=True, order=True)
class Path:
    """One allowed connection."""

    source: str
    """The connecting pod's name."""
    destination: str
    """The receiving pod's name."""
    port: int
    """The destination port."""
    protocol: str = "TCP"
    """TCP, UDP or SCTP."""


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector matches labels (an empty selector matches everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator, values = requirement["key"], requirement["operator"], requirement.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _policy_types(spec: Mapping[str, Any]) -> set[str]:
    if spec.get("policyTypes"):
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def _selects(policy: Mapping[str, Any], pod: Pod) -> bool:
    return bool(policy["metadata"].get("namespace") == pod.namespace) and selector_matches(
        policy["spec"].get("podSelector"), pod.labels
    )


def _peer_matches(
    peer: Mapping[str, Any], policy_namespace: str, pod: Pod, namespace_labels: Mapping[str, Mapping[str, str]]
) -> bool:
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        in_namespace = selector_matches(peer["namespaceSelector"], namespace_labels.get(pod.namespace, {}))
    else:
        in_namespace = pod.namespace == policy_namespace
    return in_namespace and ("podSelector" not in peer or selector_matches(peer["podSelector"], pod.labels))


def _port_matches(rule_ports: Sequence[Mapping[str, Any]] | None, destination: Pod, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            named = destination.ports.get(wanted)
            if named is not None and named == (port, protocol):
                return True
            continue
        if wanted <= port <= int(entry.get("endPort", wanted)):
            return True
    return False


def _admits(
    policies: Iterable[Mapping[str, Any]],
    direction: str,
    connection: Path,
    pods: Mapping[str, Pod],
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    """Whether the receiving pod (Ingress) or the sending pod (Egress) lets this connection through."""
    source, destination = pods[connection.source], pods[connection.destination]
    subject, peer = (destination, source) if direction == "Ingress" else (source, destination)
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p for p in policies if _selects(p, subject) and direction in _policy_types(p["spec"])]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key) or []
            peer_ok = not peers or any(
                _peer_matches(p, policy["metadata"]["namespace"], peer, namespace_labels) for p in peers
            )
            if peer_ok and _port_matches(rule.get("ports"), destination, connection.port, connection.protocol):
                return True
    return False


def allowed_paths(
    policies: Sequence[Mapping[str, Any]], pods: Sequence[Pod], namespace_labels: Mapping[str, Mapping[str, str]]
) -> set[Path]:
    """Every (source, destination, port, protocol) the policies allow among these pods, on ports they listen on.

    `namespace_labels` gives each namespace's labels (`kubernetes.io/metadata.name` is added when missing, as
    the API server does).
    """
    labels = {ns: {"kubernetes.io/metadata.name": ns, **dict(values)} for ns, values in namespace_labels.items()}
    for pod in pods:
        labels.setdefault(pod.namespace, {"kubernetes.io/metadata.name": pod.namespace})
    network_policies = [p for p in policies if p.get("kind", "NetworkPolicy") == "NetworkPolicy"]
    by_name = {pod.name: pod for pod in pods}
    paths: set[Path] = set()
    for source in pods:
        for destination in pods:
            if source.name == destination.name:
                continue
            for port, protocol in set(destination.ports.values()):
                path = Path(source.name, destination.name, port, protocol)
                if all(_admits(network_policies, d, path, by_name, labels) for d in ("Ingress", "Egress")):
                    paths.add(path)
    return paths
