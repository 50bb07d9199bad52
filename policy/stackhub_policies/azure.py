"""Recognising Azure resources: the hub's ARM resources (the project's dynamic provider, one ARM resource at an
explicit API version: `resource_id`, `api_version`, `properties`, `tags`, `sku`) and public Azure's
pulumi-azure-native resources."""

from __future__ import annotations

import re

from .reporting import Subject, has

DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"

_PROVIDER_PART = re.compile(r"/providers/([^/]+)/(.+)$", re.IGNORECASE)
_GROUP = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/?$", re.IGNORECASE)


def arm_type(resource_id: str) -> str:
    """The ARM resource type an id names (`Microsoft.Network/virtualNetworks`, `Microsoft.Resources/resourceGroups`,
    `Microsoft.Network/virtualNetworks/subnets` for a child); "" when it is not an ARM id."""
    if _GROUP.match(resource_id):
        return "Microsoft.Resources/resourceGroups"
    match = _PROVIDER_PART.search(resource_id)
    if match is None:
        return ""
    namespace, rest = match.groups()
    segments = rest.strip("/").split("/")
    return "/".join([namespace, *segments[0::2]])


def hub_arm_type(subject: Subject) -> str:
    """The ARM type of one of the hub's ARM resources ("" for any other resource)."""
    if subject.type != DYNAMIC_TYPE or not has(subject.props, "resource_id"):
        return ""
    resource_id = subject.props["resource_id"]
    return arm_type(resource_id) if isinstance(resource_id, str) else ""


def is_hub_arm(subject: Subject, type_: str) -> bool:
    """Whether the resource is a hub ARM resource of this ARM type (case-insensitive, as ARM compares them)."""
    return hub_arm_type(subject).lower() == type_.lower()


TAGGABLE_AZURE_NATIVE = frozenset({
    "azure-native:resources:ResourceGroup",
    "azure-native:containerregistry:Registry",
    "azure-native:operationalinsights:Workspace",
    "azure-native:monitor:DataCollectionEndpoint",
    "azure-native:monitor:DataCollectionRule",
    "azure-native:storage:StorageAccount",
    "azure-native:dns:Zone",
    "azure-native:trafficmanager:Profile",
    "azure-native:keyvault:Vault",
    "azure-native:network:PublicIPAddress",
    "azure-native:network:VirtualNetwork",
    "azure-native:network:NetworkSecurityGroup",
})  # fmt: skip
"""azure-native types the project uses (or may) that take `tags`; any other azure-native resource is checked when
it sets `tags`. Child resources (containers, tables, record sets, tokens, role assignments) take none."""


def takes_tags(subject: Subject) -> bool:
    """Whether the resource is an Azure or hub resource that carries tags."""
    if subject.type in TAGGABLE_AZURE_NATIVE:
        return True
    if subject.type.startswith("azure-native:") and has(subject.props, "tags"):
        return True
    # Top-level hub ARM resources take tags; children (subnets, ...) do not.
    return hub_arm_type(subject).count("/") == 1
