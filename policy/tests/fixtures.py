"""Hand-written resources for per-rule passing and failing cases, in the analyzer's form."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from policy.stackhub_policies import PolicyEvent, evaluate
from policy.stackhub_policies.wire import ProviderReference, StackResource

STACK = "urn:pulumi:test::stackhub-ha::"
K8S_PROVIDER = ProviderReference(f"{STACK}pulumi:providers:kubernetes::cluster-k8s", "pulumi:providers:kubernetes",
                                 "cluster-k8s", {"clusterIdentifier": "aks-engine:test"})  # fmt: skip


def resource(
    type_: str,
    name: str,
    props: Mapping[str, Any],
    *,
    protect: bool = False,
    parent: str = "",
    provider: ProviderReference | None = None,
    outputs: Mapping[str, Any] | None = None,
) -> StackResource:
    """A resource whose outputs are its inputs (an update's final state) unless given."""
    return StackResource(
        urn=f"{STACK}{type_}::{name}",
        type=type_,
        name=name,
        inputs=copy.deepcopy(dict(props)),
        outputs=copy.deepcopy(dict(props if outputs is None else outputs)),
        parent=parent,
        protect=protect,
        provider=provider,
    )


def k8s(type_: str, name: str, body: Mapping[str, Any], **options: Any) -> StackResource:
    """A Kubernetes object on the test cluster's provider."""
    return resource(f"kubernetes:{type_}", name, body, provider=K8S_PROVIDER, **options)


def pod_template(**spec: Any) -> dict[str, Any]:
    """A pod template that passes every workload rule, with `spec` fields replaced."""
    container = {
        "name": "app",
        "image": "contoso.azurecr.io/app:1.0",
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [container], "automountServiceAccountToken": False, **spec},
    }


def deployment(name: str = "web", replicas: int = 2, **spec: Any) -> StackResource:
    """A Deployment in namespace `app` that passes every workload rule."""
    return k8s(
        "apps/v1:Deployment",
        name,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "app"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": pod_template(**spec),
            },
        },
    )


def run(policy: str, *resources: StackResource, config: Mapping[str, Any] | None = None) -> list[PolicyEvent]:
    """One policy's events for these resources (the whole pack runs, as the engine runs it)."""
    return [e for e in evaluate(list(resources), config) if e.policy_name == policy]
