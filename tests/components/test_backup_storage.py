"""BackupStorage's protections: immutability (and its lock), lifecycle deletion, a revocable, narrow SAS.

What the shared stack registers and what it asks `listStorageAccountServiceSAS` for, recorded from the offline
engine's invoke; the config rules that keep backups immutable at least as long as they are kept.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.backup_storage import BackupStorage, BackupStorageArgs
from preview import engine
from preview.engine import StackRun, run_stack, stack_config
from stacks.config import ConfigError, validate
from stacks.shared import SharedConfig
from tests.conftest import config_of

PREFIX = "stackhub-ha:"
SAS_INVOKE = "azure-native:storage:listStorageAccountServiceSAS"
IMMUTABILITY = "azure-native:storage:BlobContainerImmutabilityPolicy"
COMMAND = "command:local:Command"
SECRETS = {"registryPullPassword", "logPublisherClientSecret"}


def run_shared(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> tuple[StackRun, list[dict[str, Any]]]:
    """One offline run of the shared stack with `overrides` (None removes a key), and the SAS invokes' arguments."""
    invokes: list[dict[str, Any]] = []
    answer = engine.OfflineMocks.call

    def recording(self: engine.OfflineMocks, args: Any) -> Any:
        if args.token == SAS_INVOKE:
            invokes.append(dict(engine.unwrap(args.args)))
        return answer(self, args)

    monkeypatch.setattr(engine.OfflineMocks, "call", recording)
    values, secrets = stack_config("shared")
    for key, value in overrides.items():
        if value is None:
            values.pop(PREFIX + key, None)
        else:
            values[PREFIX + key] = value
    return run_stack("shared", config=values, secret_keys=secrets), invokes


def commands(run: StackRun) -> dict[str, dict[str, Any]]:
    return {r.name: r.plain_inputs for r in run.by_type(COMMAND)}


# --- immutability -------------------------------------------------------------------------------------------


def test_the_container_is_immutable_for_the_configured_days_protected_and_unlocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, _ = run_shared(monkeypatch)
    (policy,) = run.by_type(IMMUTABILITY)
    assert policy.name == "backups-immutability"
    assert policy.protect
    assert policy.plain_inputs == {
        "resourceGroupName": "stackhub-shared",
        "accountName": "contosohubbackups",
        "containerName": "hub-backups",
        "immutabilityPolicyName": "default",
        "immutabilityPeriodSinceCreationInDays": 35,
        "allowProtectedAppendWrites": False,
    }
    # backupImmutabilityLocked is false in the stack file: nothing locks the policy.
    assert "backups-immutability-lock" not in commands(run)


def test_immutability_defaults_to_the_retention_and_may_be_longer(monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = run_shared(monkeypatch, backupImmutabilityDays=None, backupRetentionDays=90)
    assert run.named("backups-immutability").plain_inputs["immutabilityPeriodSinceCreationInDays"] == 90
    run, _ = run_shared(monkeypatch, backupImmutabilityDays=400)
    assert run.named("backups-immutability").plain_inputs["immutabilityPeriodSinceCreationInDays"] == 400


def test_the_lock_is_applied_only_when_asked_and_can_never_be_undone_by_the_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, _ = run_shared(monkeypatch, backupImmutabilityLocked=True)
    lock = run.named("backups-immutability-lock")
    assert lock.protect
    create = lock.plain_inputs["create"]
    target = "--resource-group stackhub-shared --account-name contosohubbackups --container-name hub-backups"
    assert create.startswith(f"az storage container immutability-policy lock {target} --if-match ")
    assert f'"$(az storage container immutability-policy show {target} --query etag --output tsv)"' in create
    # No delete, update or unlock: a locked policy stays.
    assert {k for k in lock.plain_inputs if k in ("delete", "update")} == set()
    assert run.named("backups-immutability").urn in lock.dependencies


def test_an_immutability_shorter_than_the_retention_is_refused_by_the_component() -> None:
    args = BackupStorageArgs(
        resource_group_name="rg", location="westus2", account_name="acct", sas_expiry="2027-06-30",
        retention_days=35, immutability_days=30,
    )  # fmt: skip
    with pytest.raises(ValueError, match="immutability of 30 days is shorter than the retention of 35"):
        BackupStorage("backups", args)


# --- lifecycle ----------------------------------------------------------------------------------------------


def test_the_lifecycle_rule_deletes_the_containers_blobs_after_the_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = run_shared(monkeypatch, backupRetentionDays=90, backupImmutabilityDays=120, backupContainerName="dumps")
    (rule,) = run.named("backups-lifecycle").plain_inputs["policy"]["rules"]
    assert rule["enabled"] is True
    assert rule["definition"]["filters"]["prefixMatch"] == ["dumps/"]
    assert rule["definition"]["actions"]["baseBlob"]["delete"] == {"daysAfterModificationGreaterThan": 90}
    assert run.named("backups-immutability").plain_inputs["immutabilityPeriodSinceCreationInDays"] == 120


# --- the hubs' SAS ------------------------------------------------------------------------------------------


def test_the_sas_is_create_write_list_https_from_the_hubs_under_the_stored_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, invokes = run_shared(monkeypatch)
    (sas,) = invokes
    assert sas["canonicalizedResource"] == "/blob/contosohubbackups/hub-backups"
    assert sas["resource"] == "c"
    assert sas["permissions"] == "rcwl"
    assert sas["protocols"] == "https"
    assert sas["identifier"] == "hub-writer"
    assert sas["iPAddressOrRange"] == "203.0.113.0-203.0.113.63"
    assert sas["sharedAccessExpiryTime"] == "2027-06-30T00:00:00Z"
    # The stored access policy exists before the SAS names it, and goes when it is renamed or the stack is destroyed.
    policy = commands(run)["backups-sas-policy"]
    where = "--account-name contosohubbackups --container-name hub-backups --auth-mode key"
    assert policy["create"] == f"az storage container policy create {where} --name hub-writer"
    assert policy["delete"] == f"az storage container policy delete {where} --name hub-writer"
    assert "hub-writer" in policy["triggers"]


def test_renaming_the_stored_policy_reissues_the_sas_under_the_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    run, invokes = run_shared(monkeypatch, backupSasPolicyName="hub-writer-2")
    assert [i["identifier"] for i in invokes] == ["hub-writer-2"]
    policy = commands(run)["backups-sas-policy"]
    assert policy["create"].endswith("--name hub-writer-2")
    assert "hub-writer-2" in policy["triggers"]


def test_without_an_address_range_the_sas_is_not_bound_to_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    _, invokes = run_shared(monkeypatch, backupSasAllowedIpRange=None)
    assert [i.get("iPAddressOrRange") for i in invokes] == [None]
    _, invokes = run_shared(monkeypatch, backupSasAllowedIpRange="198.51.100.7")
    assert [i["iPAddressOrRange"] for i in invokes] == ["198.51.100.7"]


# --- config -------------------------------------------------------------------------------------------------


def problems_for(**overrides: Any) -> list[str]:
    values = {k: v for k, v in config_of("shared", **overrides).items() if ":" not in k}
    with pytest.raises(ConfigError) as caught:
        validate(SharedConfig, "shared-test", values, SECRETS)
    return [str(p) for p in caught.value.problems]


BAD_VALUES = [
    ({"backupRetentionDays": 6}, "stackhub-ha:backupRetentionDays = 6: Input should be greater than or equal to 7"),
    (
        {"backupRetentionDays": 3651},
        "stackhub-ha:backupRetentionDays = 3651: Input should be less than or equal to 3650",
    ),
    (
        {"backupImmutabilityDays": 30},
        "stackhub-ha:backupImmutabilityDays = 30: must be at least backupRetentionDays (35): a backup must stay "
        "unoverwritable for as long as it is kept",
    ),
    (
        {"backupRetentionDays": 90, "backupImmutabilityDays": 89},
        "stackhub-ha:backupImmutabilityDays = 89: must be at least backupRetentionDays (90)",
    ),
    ({"backupImmutabilityDays": 146001}, "stackhub-ha:backupImmutabilityDays = 146001: Input should be less than"),
    ({"backupImmutabilityLocked": "maybe"}, "stackhub-ha:backupImmutabilityLocked = 'maybe': Input should be a valid"),
    ({"backupSasPolicyName": "hub writer"}, "stackhub-ha:backupSasPolicyName = 'hub writer': String should match"),
    ({"backupSasAllowedIpRange": "203.0.113.0/26"}, "stackhub-ha:backupSasAllowedIpRange = '203.0.113.0/26': must be"),
    (
        {"backupSasAllowedIpRange": "203.0.113.63-203.0.113.0"},
        "stackhub-ha:backupSasAllowedIpRange = '203.0.113.63-203.0.113.0': must be an IPv4 address (203.0.113.10) or "
        "range (203.0.113.0-203.0.113.255), lowest address first",
    ),
    ({"backupSasAllowedIpRange": "2001:db8::1"}, "stackhub-ha:backupSasAllowedIpRange = '2001:db8::1': must be"),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD_VALUES, ids=[str(o) for o, _ in BAD_VALUES])
def test_a_bad_backup_setting_names_its_key(overrides: dict[str, Any], expected: str) -> None:
    problems = problems_for(**overrides)
    assert any(p.startswith(expected) for p in problems), problems


def test_the_stack_files_backup_settings_are_valid() -> None:
    values = {k: v for k, v in config_of("shared").items() if ":" not in k}
    config = validate(SharedConfig, "shared", values, SECRETS)
    assert (config.backup_retention_days, config.backup_immutability_days) == (35, 35)
    assert config.backup_immutability_locked is False
    assert (config.backup_sas_policy_name, config.backup_sas_allowed_ip_range) == (
        "hub-writer",
        "203.0.113.0-203.0.113.63",
    )


def test_an_immutability_equal_to_the_retention_is_accepted() -> None:
    values = config_of("shared", backupRetentionDays=3650, backupImmutabilityDays=3650)
    config = validate(SharedConfig, "shared", {k: v for k, v in values.items() if ":" not in k}, SECRETS)
    assert config.backup_immutability_days == 3650
