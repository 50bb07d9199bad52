"""The pack: its name, its version (from PulumiPolicy.yaml, as the CLI reports it) and its policies."""

from __future__ import annotations

import re
from pathlib import Path

from pulumi_policy import EnforcementLevel, Policy, PolicyPack

from . import availability, cluster, ingress, protection, public_azure, quotas, secrets, workloads

PACK_NAME = "stackhub-ha"
PACK_FOLDER = Path(__file__).resolve().parent.parent


def pack_version() -> str:
    """The `version` of PulumiPolicy.yaml (what `pulumi policy publish` and the CLI's events report)."""
    manifest = (PACK_FOLDER / "PulumiPolicy.yaml").read_text(encoding="utf-8")
    match = re.search(r"^version:\s*['\"]?([^'\"\s]+)", manifest, re.MULTILINE)
    if match is None:
        raise ValueError("PulumiPolicy.yaml has no version")
    return match.group(1)


POLICIES: list[Policy] = [
    quotas.POLICY,
    cluster.NODES_POLICY,
    cluster.SHAPE_POLICY,
    ingress.LB_SERVICES_POLICY,
    ingress.LB_FRONTENDS_POLICY,
    ingress.TLS_POLICY,
    ingress.ISSUER_POLICY,
    ingress.CLASS_POLICY,
    workloads.RESOURCES_POLICY,
    workloads.TAGS_POLICY,
    workloads.REGISTRIES_POLICY,
    workloads.READINESS_POLICY,
    workloads.TOKEN_POLICY,
    workloads.POD_SECURITY_POLICY,
    availability.REPLICAS_POLICY,
    availability.DISRUPTION_POLICY,
    secrets.POLICY,
    protection.POLICY,
    public_azure.TM_POLICY,
    public_azure.STORAGE_POLICY,
    public_azure.REGISTRY_POLICY,
    public_azure.WORKSPACE_POLICY,
    public_azure.TAGS_POLICY,
]
"""Every policy of the pack, in the order reports list them."""

DESCRIPTION = (
    "Azure Stack Hub quotas and the rules of the highly available Kubernetes on Azure Stack Hub pattern "
    "(stackhub-ha): cluster shape, ingress, workloads, availability, secrets, protection, public Azure."
)


def build_pack() -> PolicyPack:
    """Serve the pack to the engine (blocks: constructing a PolicyPack starts its gRPC server)."""
    return PolicyPack(
        name=PACK_NAME,
        policies=POLICIES,
        enforcement_level=EnforcementLevel.ADVISORY,
        description=DESCRIPTION,
        display_name="stackhub-ha policies",
        provider="azure",
        tags=["azure-stack-hub", "kubernetes", "aks-engine"],
    )
