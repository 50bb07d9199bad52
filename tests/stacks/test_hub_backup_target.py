"""A disconnected hub's backups go to a storage account on its own network (`backupTarget`, profile azurestack)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from preview.engine import StackRun, run_stack
from preview.manifests import rendered_objects
from stacks.config import REDACTED, ConfigError, validate
from stacks.hub import HubConfig
from tests.conftest import config_of, shared_outputs

SECRETS = {"armClientSecret", "dnsSolverClientSecret", "backupVerificationKey", "backupTargetSas"}
HUB_CONTAINER = "https://denverbackups.blob.denver.hub.contoso.local/ratings-backups"
HUB_SAS = "sv=2019-07-07&sr=c&sp=rcwl&se=2030-01-01T00:00:00Z&spr=https&sig=hubsig0123456789"
HUB_STORAGE = ["10.20.240.0/24"]


def denver(**changes: Any) -> dict[str, Any]:
    seattle = config_of("hub-seattle")
    backups = {
        "backupRecipients": seattle["backupRecipients"],
        "backupVerificationKey": seattle["backupVerificationKey"],
        "backupTarget": {"containerUrl": HUB_CONTAINER, "profile": "azurestack"},
        "backupTargetSas": HUB_SAS,
        "backupEgress": HUB_STORAGE,
    }
    return config_of("hub-denver", **{**backups, **changes})


def problems_for(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate(HubConfig, "hub-denver", values, SECRETS)
    return [str(p) for p in caught.value.problems]


def run_denver(values: dict[str, Any], outputs: dict[str, Any]) -> StackRun:
    config = {f"stackhub-ha:{k}": v for k, v in values.items()}
    secrets = {f"stackhub-ha:{k}" for k in SECRETS}
    return run_stack("hub-denver", config=config, secret_keys=secrets, stack_outputs={"shared": outputs})


def test_a_hub_target_needs_nothing_of_the_shared_stacks_backup_outputs() -> None:
    registry_only = {k: v for k, v in shared_outputs().items() if k.startswith("registry") or k == "contractVersion"}
    run = run_denver(denver(), registry_only)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in rendered_objects(run)}
    backup = objects[("CronJob", "ratings-backup")]
    containers = backup["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    upload = next(c for c in containers if c["name"] == "upload")
    # The pods speak the hub's storage version: the profile travels with the command, never guessed from the URL.
    assert "azurestack" in json.dumps(upload.get("command", []) + upload.get("args", []))
    policy = objects[("NetworkPolicy", "ratings-backup")]
    blocks = [p["ipBlock"]["cidr"] for rule in policy["spec"]["egress"] for p in rule.get("to", []) if "ipBlock" in p]
    assert blocks == HUB_STORAGE


def test_a_sas_newer_than_a_hub_accepts_is_refused_without_being_shown() -> None:
    newer = HUB_SAS.replace("sv=2019-07-07", "sv=2021-08-06")
    (problem,) = problems_for(denver(backupTargetSas=newer))
    assert problem.startswith(f"stackhub-ha:backupTargetSas = {REDACTED}: ")
    assert "2019-07-07" in problem
    assert "hubsig" not in problem


def test_a_target_without_its_sas_and_an_azure_url_under_the_hub_profile_are_named() -> None:
    assert problems_for(denver(backupTargetSas=None)) == [
        "stackhub-ha:backupTargetSas = (not set): required with backupTarget: the container SAS (rcwl, HTTPS only, no "
        "delete), set with `pulumi config set --secret backupTargetSas ...`"
    ]
    azure = {"containerUrl": "https://contoso.blob.core.windows.net/backups", "profile": "azurestack"}
    (problem,) = problems_for(denver(backupTarget=azure))
    assert problem.startswith("stackhub-ha:backupTarget.containerUrl = 'https://contoso.blob.core.windows.net/backups'")


def test_behind_a_proxy_the_hubs_own_storage_is_reached_directly_so_its_addresses_are_needed() -> None:
    proxy = {
        "egressProxy": {"httpProxy": "http://10.20.8.4:3128"},
        "egressNodeImage": "registry.denver.hub.contoso.local/python:3.12.8-slim",
    }
    config = validate(HubConfig, "hub-denver", denver(**proxy), SECRETS)
    assert not config.backup_storage_through_proxy()
    assert config.backup_egress_rules(HUB_CONTAINER) == [("10.20.240.0/24", 443)]
    (problem,) = problems_for(denver(**proxy, backupEgress=None))
    assert problem.startswith("stackhub-ha:backupEgress = (not set): set backupEgress")
