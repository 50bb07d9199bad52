"""ARM resources on Azure Stack Hub at the API versions a hub accepts.

A hub serves only the versions of API profile 2020-09-01-hybrid (and older) and answers newer ones with HTTP 400
`NoRegisteredProviderFound`; pulumi-azure-native pins far newer versions, so it cannot be used hub-side. This
package provides one Pulumi dynamic resource, `ArmResource`, that puts, reads and deletes any ARM resource by id
through azure-mgmt-resource's generic `*_by_id` operations, with the version taken from `api_versions`.
"""

from arm.api_versions import API_PROFILE, api_version_for, resource_type_of
from arm.connection import (
    DEFAULT_RETRY,
    HubConnection,
    HubEndpoints,
    RetrySettings,
    build_credential,
    discover_endpoints,
    management_client,
)
from arm.errors import ArmError
from arm.resource import ArmResource, ArmResourceProvider

__all__ = [
    "API_PROFILE",
    "DEFAULT_RETRY",
    "ArmError",
    "ArmResource",
    "ArmResourceProvider",
    "HubConnection",
    "HubEndpoints",
    "RetrySettings",
    "api_version_for",
    "build_credential",
    "discover_endpoints",
    "management_client",
    "resource_type_of",
]
