"""Every hub config rule: a table of bad inputs, each with the key and message it must produce."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import REDACTED, ConfigError, validate
from stacks.hub import HubConfig
from tests.conftest import config_of

SECRETS = {"armClientSecret", "dnsSolverClientSecret", "backupVerificationKey"}


def problems_for(values: dict[str, Any], secrets: set[str] = SECRETS) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate(HubConfig, "hub-test", values, secrets)
    return [str(p) for p in caught.value.problems]


def test_both_stack_files_are_valid() -> None:
    for stack in ("hub-seattle", "hub-denver"):
        config = validate(HubConfig, stack, config_of(stack), SECRETS)
        assert config.hub_name == stack


BAD_VALUES = [
    ("hubName", "Hub_Seattle", "stackhub-ha:hubName = 'Hub_Seattle': String should match pattern"),
    ("location", "Seattle West", "stackhub-ha:location = 'Seattle West': String should match pattern"),
    ("armEndpoint", "http://management.seattle.azurestack.contoso.com", "must be an https:// URL"),
    ("identitySystem", "ldap", "stackhub-ha:identitySystem = 'ldap': Input should be 'azure_ad' or 'adfs'"),
    ("subscriptionId", "not-a-guid", "stackhub-ha:subscriptionId = 'not-a-guid': must be a GUID"),
    ("armClientId", "1234", "stackhub-ha:armClientId = '1234': must be a GUID"),
    ("resourceGroup", "network.", "stackhub-ha:resourceGroup = 'network.': must be 1-90 letters"),
    (
        "vnetCidr",
        "10.10.0.1/16",
        "stackhub-ha:vnetCidr = '10.10.0.1/16': not a valid CIDR with no host bits set",
    ),
    (
        "vnetCidr",
        "fd00::/48",
        "stackhub-ha:vnetCidr = 'fd00::/48': must be IPv4: Azure Stack Hub has no IPv6",
    ),
    ("clusterSubnetCidr", "10.10.0.0/33", "stackhub-ha:clusterSubnetCidr = '10.10.0.0/33': not a valid CIDR"),
    ("adminSourceCidrs", [], "stackhub-ha:adminSourceCidrs = []: List should have at least 1 item"),
    (
        "adminSourceCidrs",
        ["0.0.0.0/0"],
        "stackhub-ha:adminSourceCidrs[0] = '0.0.0.0/0': must not be 0.0.0.0/0",
    ),
    ("adminSourceCidrs", ["10.0.0.0/8", "300.1.1.0/24"], "stackhub-ha:adminSourceCidrs[1] = '300.1.1.0/24'"),
    ("tags", {"env": 3}, "stackhub-ha:tags.env = 3: Input should be a valid string"),
    ("role", "shared", "stackhub-ha:role = 'shared': Input should be 'hub'"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_value_is_reported_with_key_value_and_rule(key: str, value: Any, expected: str) -> None:
    problems = problems_for(config_of("hub-seattle", **{key: value}))
    assert any(expected in p for p in problems), problems


CROSS_RULES = [
    ({"armEndpoint": "https://management.denver.azurestack.contoso.com"},
     "stackhub-ha:armEndpoint = 'https://management.denver.azurestack.contoso.com': "
     "must be https://management.seattle.<fqdn> for location 'seattle'"),
    ({"armEndpoint": "https://seattle.azurestack.contoso.com"}, "must be https://management.seattle.<fqdn>"),
    ({"portalUrl": "https://portal.denver.azurestack.contoso.com"},
     "stackhub-ha:portalUrl = 'https://portal.denver.azurestack.contoso.com': "
     "must be https://portal.seattle.azurestack.contoso.com, matching armEndpoint"),
    ({"identitySystem": "adfs"}, "stackhub-ha:tenantId = '6f1c2a4e-8b7d-4e53-9a0f-2d3c4b5a6e7f': must be 'adfs'"),
    ({"tenantId": "adfs"}, "stackhub-ha:tenantId = 'adfs': must be the Azure AD tenant GUID"),
    ({"clusterSubnetCidr": "10.99.0.0/22"}, "stackhub-ha:clusterSubnetCidr = '10.99.0.0/22': must lie inside the VNet"),
    ({"clusterSubnetCidr": "10.10.0.0/27"}, "must be /26 or larger"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "expected"), CROSS_RULES, ids=[str(o) for o, _ in CROSS_RULES])
def test_cross_key_rule(overrides: dict[str, Any], expected: str) -> None:
    problems = problems_for(config_of("hub-seattle", **overrides))
    assert any(expected in p for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    values = config_of("hub-seattle", vnetCidr="nope", subscriptionId="x", identitySystem="ldap", location="A B")
    problems = problems_for(values)
    keys = sorted(p.split(" = ")[0] for p in problems)
    assert keys == [f"stackhub-ha:{k}" for k in ("identitySystem", "location", "subscriptionId", "vnetCidr")]


def test_missing_key_says_how_to_set_it_including_the_environment_variable() -> None:
    problems = problems_for(config_of("hub-seattle", armClientSecret=None, vnetCidr=None))
    assert (
        "stackhub-ha:armClientSecret = (not set): required (service principal secret); set it with "
        "`pulumi config set --secret armClientSecret ...` or the environment variable ARM_CLIENT_SECRET" in problems
    )
    assert any(p.startswith("stackhub-ha:vnetCidr = (not set): required (VNet address space)") for p in problems)


def test_unknown_key_suggests_the_close_one() -> None:
    problems = problems_for(config_of("hub-seattle", vnetCdir="10.0.0.0/16"))
    assert "stackhub-ha:vnetCdir = '10.0.0.0/16': unknown key; did you mean 'vnetCidr'?" in problems


def test_secret_in_plain_text_is_refused_without_showing_it() -> None:
    values = config_of("hub-seattle", armClientSecret="hunter2-plain")
    problems = problems_for(values, secrets={"dnsSolverClientSecret", "backupVerificationKey"})
    assert problems == [
        f"stackhub-ha:armClientSecret = {REDACTED}: is a secret stored in plain text; "
        "set it with `pulumi config set --secret armClientSecret ...`"
    ]
    assert not any("hunter2" in p for p in problems)


def test_error_text_never_contains_a_secret_value() -> None:
    values = config_of("hub-seattle", armClientSecret={"nested": "hunter2-nested"})
    with pytest.raises(ConfigError) as caught:
        validate(HubConfig, "hub-test", values, SECRETS)
    assert "hunter2" not in str(caught.value)
    assert "stackhub-ha:armClientSecret = [secret]: Input should be a valid string" in str(caught.value)


def test_portal_url_is_derived_from_the_arm_endpoint_when_unset() -> None:
    config = validate(HubConfig, "hub-seattle", config_of("hub-seattle", portalUrl=None), SECRETS)
    assert config.portal == "https://portal.seattle.azurestack.contoso.com"
    assert config.domain == "azurestack.contoso.com"
