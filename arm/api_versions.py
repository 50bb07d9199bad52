"""The one place that knows which ARM API version this project sends for each resource type.

Azure Stack Hub serves only the versions of its newest API profile, 2020-09-01-hybrid (and older profiles).
A hub answers HTTP 400 `NoRegisteredProviderFound` / `InvalidApiVersionParameter` to anything newer, so every
request the project makes to a hub must take its version from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

API_PROFILE = "2020-09-01-hybrid"

_RESOURCES = "2019-10-01"
_NETWORK = "2018-11-01"
_COMPUTE = "2020-06-01"
# The profile's compute provider is 2020-06-01, but its disk resource types stay on the older disk RP:
# some stamps serve disks only up to 2019-11-01, and 2019-07-01 is the version the profile itself (and the
# Azure CLI's 2020-09-01-hybrid profile) uses for disks, so it is accepted by every stamp on this profile.
_DISKS = "2019-07-01"
_STORAGE = "2019-06-01"
_KEYVAULT = "2019-09-01"

API_VERSIONS: Mapping[str, str] = MappingProxyType(
    {
        "Microsoft.Resources/resourceGroups": _RESOURCES,
        "Microsoft.Network/virtualNetworks": _NETWORK,
        "Microsoft.Network/virtualNetworks/subnets": _NETWORK,
        "Microsoft.Network/networkSecurityGroups": _NETWORK,
        "Microsoft.Network/networkInterfaces": _NETWORK,
        "Microsoft.Network/publicIPAddresses": _NETWORK,
        "Microsoft.Network/routeTables": _NETWORK,
        "Microsoft.Network/loadBalancers": _NETWORK,
        "Microsoft.Compute/virtualMachines": _COMPUTE,
        "Microsoft.Compute/virtualMachines/extensions": _COMPUTE,
        "Microsoft.Compute/availabilitySets": _COMPUTE,
        "Microsoft.Compute/disks": _DISKS,
        "Microsoft.Storage/storageAccounts": _STORAGE,
        "Microsoft.KeyVault/vaults": _KEYVAULT,
    }
)
"""Resource type (canonical casing) -> API version from profile 2020-09-01-hybrid."""

_CANONICAL = {resource_type.lower(): resource_type for resource_type in API_VERSIONS}


def canonical_type(resource_type: str) -> str:
    """The table's spelling of `resource_type` (ARM types are case-insensitive), or the input unchanged."""
    return _CANONICAL.get(resource_type.lower(), resource_type)


def resource_type_of(resource_id: str) -> str:
    """The ARM resource type named by `resource_id`.

    `/subscriptions/{s}/resourceGroups/{rg}` is `Microsoft.Resources/resourceGroups`;
    `.../providers/Microsoft.Network/virtualNetworks/v/subnets/s` is `Microsoft.Network/virtualNetworks/subnets`.
    For extension resources the type after the last `providers` segment counts. Raises ValueError for anything
    that is not a well-formed resource id in a subscription.
    """
    if not resource_id.startswith("/") or resource_id.endswith("/"):
        raise ValueError(f"not an ARM resource id (must start and must not end with '/'): {resource_id!r}")
    segments = resource_id[1:].split("/")
    if any(not segment.strip() for segment in segments):
        raise ValueError(f"not an ARM resource id (empty segment): {resource_id!r}")
    if len(segments) < 2 or segments[0].lower() != "subscriptions":
        raise ValueError(f"not an ARM resource id (must start with /subscriptions/{{id}}): {resource_id!r}")

    lowered = [segment.lower() for segment in segments]
    if "providers" not in lowered:
        if len(segments) == 4 and lowered[2] == "resourcegroups":
            return "Microsoft.Resources/resourceGroups"
        raise ValueError(f"not an ARM resource id (no resource group or provider): {resource_id!r}")

    start = len(lowered) - 1 - lowered[::-1].index("providers")
    in_subscription = start == 2
    in_resource_group = start == 4 and lowered[2] == "resourcegroups"
    if not (in_subscription or in_resource_group):
        # An extension resource: what precedes `providers` must itself be a resource id.
        resource_type_of("/" + "/".join(segments[:start]))
    namespace_and_rest = segments[start + 1 :]
    # After the namespace come (type, name) pairs: one pair, then one per nested child type.
    if len(namespace_and_rest) < 3 or len(namespace_and_rest) % 2 == 0:
        raise ValueError(f"not an ARM resource id (type and name segments do not pair up): {resource_id!r}")
    namespace = namespace_and_rest[0]
    types = namespace_and_rest[1::2]
    return canonical_type("/".join([namespace, *types]))


def subscription_of(resource_id: str) -> str:
    """The subscription id in a well-formed `resource_id` (raises ValueError like `resource_type_of`)."""
    resource_type_of(resource_id)
    return resource_id.split("/")[2]


def api_version_for(resource_type: str) -> str:
    """The API version this project uses for `resource_type` (matched case-insensitively)."""
    version = API_VERSIONS.get(canonical_type(resource_type))
    if version is None:
        supported = ", ".join(sorted(API_VERSIONS))
        raise ValueError(
            f"no API version known for resource type {resource_type!r}: this project talks to Azure Stack Hub "
            f"with API profile {API_PROFILE} and supports only these types: {supported}. "
            "Add the type and its profile version to arm/api_versions.py."
        )
    return version
