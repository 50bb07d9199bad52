"""Public Azure regions, for the shared and global stacks' locations and Traffic Manager endpoint locations.

The names are those `az account list-locations` gives (`name`, `displayName`), checked against Microsoft's own
lists (the Azure Cosmos DB SDK's `Regions`, the service tag names); sovereign clouds (US Government, China) and
the early-access regions (`*euap`) are left out: the shared and global stacks live in public Azure. Azure adds
regions: when it does, add the new one here.
"""

from __future__ import annotations

import difflib
from types import MappingProxyType

AZURE_REGIONS: MappingProxyType[str, str] = MappingProxyType({
    "australiacentral": "Australia Central", "australiacentral2": "Australia Central 2",
    "australiaeast": "Australia East", "australiasoutheast": "Australia Southeast", "austriaeast": "Austria East",
    "belgiumcentral": "Belgium Central", "brazilsouth": "Brazil South", "brazilsoutheast": "Brazil Southeast",
    "canadacentral": "Canada Central", "canadaeast": "Canada East", "centralindia": "Central India",
    "centralus": "Central US", "chilecentral": "Chile Central", "denmarkeast": "Denmark East",
    "eastasia": "East Asia", "eastus": "East US", "eastus2": "East US 2", "francecentral": "France Central",
    "francesouth": "France South", "germanynorth": "Germany North", "germanywestcentral": "Germany West Central",
    "indonesiacentral": "Indonesia Central", "israelcentral": "Israel Central", "italynorth": "Italy North",
    "japaneast": "Japan East", "japanwest": "Japan West", "jioindiacentral": "Jio India Central",
    "jioindiawest": "Jio India West", "koreacentral": "Korea Central", "koreasouth": "Korea South",
    "malaysiawest": "Malaysia West", "mexicocentral": "Mexico Central", "newzealandnorth": "New Zealand North",
    "northcentralus": "North Central US", "northeurope": "North Europe", "norwayeast": "Norway East",
    "norwaywest": "Norway West", "polandcentral": "Poland Central", "qatarcentral": "Qatar Central",
    "southafricanorth": "South Africa North", "southafricawest": "South Africa West",
    "southcentralus": "South Central US", "southeastasia": "Southeast Asia", "southindia": "South India",
    "spaincentral": "Spain Central", "swedencentral": "Sweden Central", "swedensouth": "Sweden South",
    "switzerlandnorth": "Switzerland North", "switzerlandwest": "Switzerland West", "taiwannorth": "Taiwan North",
    "uaecentral": "UAE Central", "uaenorth": "UAE North", "uksouth": "UK South", "ukwest": "UK West",
    "westcentralus": "West Central US", "westeurope": "West Europe", "westindia": "West India", "westus": "West US",
    "westus2": "West US 2", "westus3": "West US 3",
})  # fmt: skip
"""Programmatic name -> display name of every public Azure region."""

_BY_DISPLAY = {display: name for name, display in AZURE_REGIONS.items()}


def _closest(value: str, known: list[str]) -> str:
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def region_name_problem(value: str) -> str | None:
    """Why `value` is not a public Azure region's programmatic name (`westus2`), or None."""
    if value in AZURE_REGIONS:
        return None
    if value in _BY_DISPLAY:
        return f"must be the region's name, not its display name: '{_BY_DISPLAY[value]}'"
    return "is not a public Azure region" + _closest(value.lower().replace(" ", ""), list(AZURE_REGIONS))


def endpoint_location_problem(value: str) -> str | None:
    """Why `value` is not a region Traffic Manager can measure latency to (`West US 2` or `westus2`), or None."""
    if value in _BY_DISPLAY or value in AZURE_REGIONS:
        return None
    return "is not a public Azure region" + _closest(value, list(_BY_DISPLAY))
