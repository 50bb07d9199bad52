"""Every shared-stack config rule: bad inputs, each with the key and message it must produce."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import REDACTED, ConfigError, validate
from stacks.shared import SharedConfig
from tests.conftest import config_of

SECRETS = {"registryPullPassword", "logPublisherClientSecret"}


def shared_config(**overrides: Any) -> dict[str, Any]:
    """The shared stack file's project keys (the provider's `azure-native:` keys are not the program's)."""
    return {k: v for k, v in config_of("shared", **overrides).items() if ":" not in k}


def problems_for(values: dict[str, Any], secrets: set[str] = SECRETS) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate(SharedConfig, "shared-test", values, secrets)
    return [str(p) for p in caught.value.problems]


def test_the_stack_file_is_valid_and_keeps_its_values() -> None:
    config = validate(SharedConfig, "shared", shared_config(), SECRETS)
    assert (config.registry_name, config.storage_account_name) == ("contosoratings", "contosohubbackups")
    assert config.registry_pull_repositories == ["ratings-api", "ratings-web"]
    assert config.log_retention_days == 90
    assert config.backup_sas_expiry == "2027-06-30"
    assert config.dns_zone_name == "ratings.contoso.com"


def test_defaults_cover_what_the_stack_file_may_leave_out() -> None:
    values = shared_config(
        registrySku=None,
        registryPullRepositories=None,
        registryPullPassword=None,
        backupStorageSku=None,
        backupContainerName=None,
        backupRetentionDays=None,
        logRetentionDays=None,
        dnsZoneName=None,
        tags=None,
    )
    config = validate(SharedConfig, "shared", values, SECRETS)
    assert config.registry_sku == "Standard"
    assert config.registry_pull_repositories == ["ratings-api", "ratings-web"]
    # No pull password yet: the first deployment creates the token the password is generated for.
    assert config.registry_pull_password is None
    assert (config.backup_storage_sku, config.backup_container_name) == ("Standard_GRS", "hub-backups")
    assert (config.backup_retention_days, config.log_retention_days) == (35, 30)
    assert config.dns_zone_name is None


BAD_VALUES = [
    ("location", "West US 2", "stackhub-ha:location = 'West US 2': must be the region's name, not its display name"),
    ("registryName", "Contoso-Ratings", "stackhub-ha:registryName = 'Contoso-Ratings': String should match pattern"),
    ("registryName", "acr", "stackhub-ha:registryName = 'acr': String should match pattern"),
    ("registrySku", "Free", "stackhub-ha:registrySku = 'Free': Input should be 'Basic', 'Standard' or 'Premium'"),
    ("registryPullRepositories", [], "stackhub-ha:registryPullRepositories = []: List should have at least 1 item"),
    ("registryPullRepositories", ["ratings-api", "Ratings_Web"], "stackhub-ha:registryPullRepositories[1]"),
    ("storageAccountName", "contoso-backups", "stackhub-ha:storageAccountName = 'contoso-backups'"),
    ("storageAccountName", "a" * 25, "stackhub-ha:storageAccountName"),
    ("backupStorageSku", "Premium_LRS", "stackhub-ha:backupStorageSku = 'Premium_LRS': Input should be"),
    ("backupContainerName", "Hub_Backups", "stackhub-ha:backupContainerName = 'Hub_Backups'"),
    ("backupRetentionDays", 6, "stackhub-ha:backupRetentionDays = 6: Input should be greater than or equal to 7"),
    ("backupSasExpiry", "30/06/2027", "stackhub-ha:backupSasExpiry = '30/06/2027': must be a date YYYY-MM-DD"),
    ("backupSasExpiry", "2027-02-30", "stackhub-ha:backupSasExpiry = '2027-02-30': must be a date YYYY-MM-DD"),
    ("logRetentionDays", 7, "stackhub-ha:logRetentionDays = 7: Input should be greater than or equal to 30"),
    ("logRetentionDays", 731, "stackhub-ha:logRetentionDays = 731: Input should be less than or equal to 730"),
    ("logPublisherClientId", "publisher", "stackhub-ha:logPublisherClientId = 'publisher': must be a GUID"),
    ("logPublisherPrincipalId", "1234", "stackhub-ha:logPublisherPrincipalId = '1234': must be a GUID"),
    ("dnsZoneName", "ratings contoso", "stackhub-ha:dnsZoneName = 'ratings contoso': must be a fully qualified"),
    ("role", "global", "stackhub-ha:role = 'global': Input should be 'shared'"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_value_is_reported_with_key_value_and_rule(key: str, value: Any, expected: str) -> None:
    problems = problems_for(shared_config(**{key: value}))
    assert any(expected in p for p in problems), problems


def test_a_repository_listed_twice_is_refused() -> None:
    problems = problems_for(shared_config(registryPullRepositories=["ratings-api", "ratings-api"]))
    assert problems == ["stackhub-ha:registryPullRepositories = 'ratings-api': is listed more than once"]


@pytest.mark.parametrize("key", sorted(SECRETS))
def test_secrets_in_plain_text_are_refused_without_showing_them(key: str) -> None:
    values = shared_config(**{key: "hunter2-plain"})
    problems = problems_for(values, secrets=SECRETS - {key})
    assert problems == [
        f"stackhub-ha:{key} = {REDACTED}: is a secret stored in plain text; "
        f"set it with `pulumi config set --secret {key} ...`"
    ]


def test_missing_keys_say_what_they_are_for() -> None:
    problems = problems_for(shared_config(logPublisherClientSecret=None, backupSasExpiry=None))
    assert (
        "stackhub-ha:logPublisherClientSecret = (not set): required (client secret of that application); "
        "set it with `pulumi config set --secret logPublisherClientSecret ...`" in problems
    )
    assert any(p.startswith("stackhub-ha:backupSasExpiry = (not set): required (expiry date") for p in problems)


def test_unknown_key_suggests_the_close_one() -> None:
    problems = problems_for(shared_config(registryNme="contosoratings"))
    assert "stackhub-ha:registryNme = 'contosoratings': unknown key; did you mean 'registryName'?" in problems
