"""Data-bearing resources are `protect`ed, so that no change can replace or delete them without a deliberate
`pulumi state unprotect`: the database StatefulSet and StorageClass, the network resource group, VNet and
ingress address, the cluster, generated credentials, and the shared and global stacks' stores."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import EnforcementLevel

from .azure import hub_arm_type
from .clusters import is_cluster
from .configuration import setting
from .kubernetes import kind
from .reporting import Settings, Subject, dig, items, resource_policy

NAME = "protect-data-resources"

DATA_TYPES: dict[str, str] = {
    "random:index/randomPassword:RandomPassword": "a generated credential (replacing it locks the database out)",
    "tls:index/privateKey:PrivateKey": "a generated key (the nodes' SSH key)",
    "azure-native:resources:ResourceGroup": "a resource group (deleting it deletes everything in it)",
    "azure-native:storage:StorageAccount": "a storage account (the backups)",
    "azure-native:containerregistry:Registry": "the registry (the application's images)",
    "azure-native:operationalinsights:Workspace": "the log workspace",
    "azure-native:dns:Zone": "a DNS zone (its delegation points at its name servers)",
    "azure-native:trafficmanager:Profile": "the Traffic Manager profile (its DNS name is global)",
    "azure-native:keyvault:Vault": "a key vault",
}
"""Type tokens whose resources hold data or identity that a replacement would lose."""

HUB_ARM_DATA_TYPES: dict[str, str] = {
    "microsoft.resources/resourcegroups": "the network resource group (deleting it deletes the network)",
    "microsoft.network/virtualnetworks": "the VNet (the cluster's VMs live in it)",
    "microsoft.network/publicipaddresses": "the ingress address (DNS and Traffic Manager point at it)",
}


KUBERNETES_DATA_KINDS: dict[str, str] = {
    "StorageClass": "a StorageClass (its volumes' parameters and reclaim policy)",
    "PersistentVolumeClaim": "a persistent volume claim",
    "PersistentVolume": "a persistent volume",
}


def data_bearing(subject: Subject) -> str | None:
    """Why the resource bears data (None when it does not)."""
    if subject.type in DATA_TYPES:
        return DATA_TYPES[subject.type]
    arm = hub_arm_type(subject).lower()
    if arm in HUB_ARM_DATA_TYPES:
        return HUB_ARM_DATA_TYPES[arm]
    if is_cluster(subject):
        return "the cluster (its VMs hold the database volumes)"
    what = kind(subject.type)
    if what == "StatefulSet":
        return (
            "a StatefulSet with volume claims (a database)"
            if items(dig(subject.props, "spec", "volumeClaimTemplates"))
            else None
        )
    return KUBERNETES_DATA_KINDS.get(what)


PROPERTIES = {
    "additionalTypes": setting(
        "array", "More type tokens whose resources must be protected.", [], items={"type": "string", "minLength": 1}
    ),
    "exempt": setting(
        "array", "Logical names of resources exempt (test stacks).", [], items={"type": "string", "minLength": 1}
    ),
}


def check(subject: Subject, settings: Settings) -> Iterable[str]:
    """A data-bearing resource without `protect`."""
    if subject.protect or subject.name in settings["exempt"]:
        return
    why = data_bearing(subject) or ("a listed data type" if subject.type in settings["additionalTypes"] else None)
    if why:
        yield f"{subject.label} is {why} and is not protected (protect: false; it must be true)"


POLICY = resource_policy(
    NAME,
    "Data-bearing resources are protected, so that no change replaces or deletes them by accident.",
    check,
    level=EnforcementLevel.MANDATORY,
    properties=PROPERTIES,
    remediation="Pass `opts=pulumi.ResourceOptions(protect=True)` where the resource is declared.",
    reads="what it holds",
)
