"""Availability across node loss, drains and upgrades: stateless workloads run at least two replicas (an HPA's
minimum counts), and every workload has one PodDisruptionBudget that selects it and lets a drain evict a pod; a
StatefulSet's budget keeps a majority (a replica set's quorum) while it does.

Charts installed by Helm releases are not checked here: their values only show what they override.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel

from .configuration import setting
from .kubernetes import STATELESS_KINDS, kind, namespace, object_name, pod_labels, selector_matches
from .reporting import (
    CannotVerifyError,
    Finding,
    Settings,
    Subject,
    count,
    dig,
    mapping,
    number,
    planned,
    read,
    stack_policy,
    unplanned,
)

REPLICAS = "workload-replicas"
DISRUPTION = "workload-disruption-budgets"

BUDGETED_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet"})


@dataclass(frozen=True)
class Workload:
    """A Deployment, ReplicaSet or StatefulSet with the replicas it runs at least."""

    subject: Subject
    kind: str
    identity: str
    """`<namespace>/<name>`."""
    replicas: int
    """Its HPA's minimum when an HPA scales it, else `spec.replicas` (1 when unset)."""
    scaled_by: str
    """The HPA's name ("" when none)."""
    labels: Mapping[str, Any]


def _autoscaler(subject: Subject) -> tuple[tuple[str, str, str], tuple[int, str]]:
    target = mapping(dig(subject.props, "spec", "scaleTargetRef"))
    key = (namespace(subject.props), str(dig(target, "kind")), str(dig(target, "name")))
    return key, (count(dig(subject.props, "spec", "minReplicas"), 1), object_name(subject.props))


def _autoscalers(subjects: Sequence[Subject]) -> dict[tuple[str, str, str], tuple[int, str]]:
    return dict(
        read(s, "its scale target and minimum", _autoscaler, s)
        for s in subjects
        if kind(s.type) == "HorizontalPodAutoscaler"
    )


def _identity(subject: Subject) -> tuple[str, str]:
    return namespace(subject.props), object_name(subject.props)


def workloads(subjects: Sequence[Subject]) -> Iterable[Workload | CannotVerifyError]:
    """The stack's Deployments, ReplicaSets and StatefulSets with their replicas (HPA minimum included)."""
    readable = list(filter(planned, subjects))
    try:
        autoscalers = _autoscalers(readable)
    except CannotVerifyError as error:
        yield error
        return
    for subject in readable:
        what = kind(subject.type)
        if what not in BUDGETED_KINDS:
            continue
        try:
            space, name = read(subject, "its name", _identity, subject)
            scaled = autoscalers.get((space, what, name))
            replicas = (
                scaled[0] if scaled else count(read(subject, "its replicas", dig, subject.props, "spec", "replicas"), 1)
            )
            labels = dict(read(subject, "its pod labels", pod_labels, subject))
            yield Workload(subject, what, f"{space}/{name}", replicas, scaled[1] if scaled else "", labels)
        except CannotVerifyError as error:
            yield error


REPLICAS_PROPERTIES = {
    "minReplicas": setting("integer", "Fewest replicas of a stateless workload.", 2, minimum=1),
    "exempt": setting(
        "array", "Workloads exempt, as `<namespace>/<name>`.", [], items={"type": "string", "pattern": r"^[^/]+/[^/]+$"}
    ),
}


def check_replicas(subjects: Sequence[Subject], settings: Settings) -> Iterable[Finding]:
    """Each stateless workload runs at least `minReplicas` (its HPA's minimum when one scales it)."""
    gap = unplanned([s for s in subjects if kind(s.type) in {*STATELESS_KINDS, "HorizontalPodAutoscaler"}],
                    "the replicas of stateless workloads")  # fmt: skip
    if gap is not None:
        yield gap
    for found in workloads(subjects):
        if isinstance(found, CannotVerifyError):
            yield Finding(found.message, found.subject.urn)
        elif (
            found.kind in STATELESS_KINDS
            and found.identity not in settings["exempt"]
            and found.replicas < settings["minReplicas"]
        ):
            source = f"HPA {found.scaled_by} minReplicas" if found.scaled_by else "spec.replicas"
            yield Finding(
                f"{found.subject.label} ({found.identity}): {found.replicas} replica(s) ({source}); at least "
                f"{settings['minReplicas']} so that losing or draining a node keeps it serving",
                found.subject.urn,
            )


REPLICAS_POLICY = stack_policy(
    REPLICAS,
    "Every stateless workload runs at least two replicas (an HPA's minimum counts).",
    check_replicas,
    level=EnforcementLevel.MANDATORY,
    properties=REPLICAS_PROPERTIES,
    remediation="Raise spec.replicas, or the HPA's minReplicas, to at least 2.",
)


def _scaled(value: Any, replicas: int) -> int | None:
    """An int-or-percent budget field as a pod count (Kubernetes rounds percentages up for budgets)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(float(value[:-1]) * replicas / 100)
    found = number(value)
    return None if found is None else int(found)


def disruption_problem(workload: Workload, budget: Mapping[str, Any]) -> str | None:
    """Why this budget does not let a drain evict a pod (or, for a StatefulSet, lets it break the majority)."""
    replicas = workload.replicas
    spec = mapping(dig(budget, "spec"))
    minimum = _scaled(dig(spec, "minAvailable"), replicas)
    maximum = _scaled(dig(spec, "maxUnavailable"), replicas)
    if minimum is None and maximum is None:
        return "sets neither minAvailable nor maxUnavailable"
    allowed = replicas - minimum if minimum is not None else min(maximum or 0, replicas)
    if allowed < 1:
        return f"allows {allowed} disruption(s) of {replicas} replica(s); a drain needs at least 1"
    if workload.kind == "StatefulSet":
        majority = replicas // 2 + 1
        if replicas - allowed < majority:
            return (
                f"keeps {replicas - allowed} of {replicas} replicas available; a majority ({majority}) must stay "
                "so that the replica set keeps a primary"
            )
    return None


def selects(budget: Subject, workload: Workload) -> bool:
    """Whether a PodDisruptionBudget covers the workload's pods (same namespace, selector matches)."""
    same_namespace = namespace(budget.props) == workload.identity.split("/", 1)[0]
    return same_namespace and selector_matches(mapping(dig(budget.props, "spec", "selector")), workload.labels)


DISRUPTION_PROPERTIES = {
    "exempt": setting(
        "array", "Workloads exempt, as `<namespace>/<name>`.", [], items={"type": "string", "pattern": r"^[^/]+/[^/]+$"}
    ),
}


def check_disruption(subjects: Sequence[Subject], settings: Settings) -> Iterable[Finding]:
    """One PodDisruptionBudget per workload, selecting its pods and allowing a disruption (a majority kept)."""
    gap = unplanned([s for s in subjects if kind(s.type) in {*BUDGETED_KINDS, "HorizontalPodAutoscaler",
                                                             "PodDisruptionBudget"}],
                    "the disruption budgets of workloads")  # fmt: skip
    if gap is not None:
        yield gap
    budgets = [s for s in filter(planned, subjects) if kind(s.type) == "PodDisruptionBudget"]
    for found in workloads(subjects):
        if isinstance(found, CannotVerifyError):
            yield Finding(found.message, found.subject.urn)
            continue
        if found.identity in settings["exempt"]:
            continue
        try:
            matching = [b for b in budgets if read(b, "its selector", selects, b, found)]
        except CannotVerifyError as error:
            yield Finding(error.message, error.subject.urn)
            continue
        label = f"{found.subject.label} ({found.identity}, {found.replicas} replica(s))"
        if not matching:
            yield Finding(f"{label}: 0 PodDisruptionBudgets select its pods; 1 is needed", found.subject.urn)
        elif len(matching) > 1:
            names = ", ".join(object_name(b.props) for b in matching)
            yield Finding(
                f"{label}: {len(matching)} PodDisruptionBudgets select its pods ({names}); Kubernetes refuses to "
                "evict a pod that more than 1 selects",
                found.subject.urn,
            )
        else:
            budget = matching[0]
            problem = read(budget, "its budget", disruption_problem, found, budget.props)
            if problem:
                name = object_name(budget.props)
                yield Finding(f"{label}: PodDisruptionBudget {name} {problem}", found.subject.urn)


DISRUPTION_POLICY = stack_policy(
    DISRUPTION,
    "Every Deployment and StatefulSet has one PodDisruptionBudget that selects it and lets a drain proceed; a "
    "StatefulSet's keeps a majority.",
    check_disruption,
    level=EnforcementLevel.MANDATORY,
    properties=DISRUPTION_PROPERTIES,
    remediation="Add a PodDisruptionBudget with the workload's pod selector and minAvailable below its replicas "
    "(for a StatefulSet of n replicas: minAvailable n//2+1).",
)
