"""The offline preview as a user runs it, and the program's behaviour on bad config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from preview.__main__ import main as preview_main
from preview.engine import PROJECT_DIR, StackRun, is_secret, run_stack_with_references, stack_config
from stacks.config import ConfigError
from tests.conftest import config_of, run_with


def preview(*args: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARM_")}
    return subprocess.run(
        [sys.executable, "-m", "preview", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_json_preview_lists_the_network_at_hybrid_api_versions_and_redacts_secrets() -> None:
    result = preview("hub-seattle", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"project", "stack", "resources", "outputs"}
    assert (document["project"], document["stack"]) == ("stackhub-ha", "hub-seattle")
    arm = [r for r in document["resources"] if "resource_id" in r["inputs"]]
    assert {r["inputs"]["api_version"] for r in arm} == {"2019-10-01", "2018-11-01"}
    for resource in document["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "inputs", "dependencies"}
        assert "__provider" not in resource["inputs"]
    assert all(r["inputs"]["client_secret"] == "[secret]" for r in arm)
    assert "offline-secret" not in result.stdout


def test_tree_preview_shows_types_names_and_protection() -> None:
    result = preview("hub-denver")
    assert result.returncode == 0, result.stderr
    assert "+ stackhub-ha:index:HubNetwork  hub-denver" in result.stdout
    assert "+ arm:Microsoft.Network/virtualNetworks@2018-11-01  hub-denver-vnet  [protected]" in result.stdout
    assert "+ arm:Microsoft.Resources/resourceGroups@2019-10-01  hub-denver-rg  [protected]" in result.stdout
    assert "offline-secret" not in result.stdout


def test_bad_config_exits_1_with_the_message_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    broken = (PROJECT_DIR / "Pulumi.hub-seattle.yaml").read_text().replace("10.10.0.0/22", "10.99.0.0/22")
    (tmp_path / "Pulumi.hub-broken.yaml").write_text(broken)
    result = preview("hub-broken", "--project-dir", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Invalid configuration for stack 'hub-broken' (1 problem(s)):" in result.stderr
    assert "stackhub-ha:clusterSubnetCidr = '10.99.0.0/22': must lie inside the VNet" in result.stderr
    assert result.stdout == ""


def test_unknown_stack_is_refused_by_the_cli() -> None:
    with pytest.raises(SystemExit) as caught:
        preview_main(["hub-nowhere"])
    assert caught.value.code == 2


def test_unknown_role_is_refused_before_anything_is_registered() -> None:
    with pytest.raises(ConfigError, match=r"stackhub-ha:role = 'edge': must be one of: hub"):
        run_with("hub-seattle", config_of("hub-seattle", role="edge"))


def test_bad_config_registers_no_resource() -> None:
    registered: list[StackRun] = []
    with pytest.raises(ConfigError):
        registered.append(run_with("hub-seattle", config_of("hub-seattle", vnetCidr="bad")))
    # The failed run recorded nothing; a good run afterwards in the same process records its own resources only.
    good = run_stack_with_references("hub-seattle")
    assert registered == []
    assert len(good.arm()) == 4


def test_credentials_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARM_CLIENT_SECRET", "from-the-environment")
    monkeypatch.setenv("ARM_CLIENT_ID", "0f0f0f0f-1111-4222-8333-444455556666")
    values = config_of("hub-seattle", armClientSecret=None, armClientId=None)
    run = run_with("hub-seattle", values, secret_keys={"dnsSolverClientSecret"})
    for resource in run.arm():
        assert is_secret(resource.inputs["client_secret"])
        assert resource.plain_inputs["client_secret"] == "from-the-environment"
        assert resource.plain_inputs["connection"]["client_id"] == "0f0f0f0f-1111-4222-8333-444455556666"


def test_secure_values_in_stack_files_become_secrets_offline() -> None:
    values, secrets = stack_config("hub-denver")
    assert secrets == {"stackhub-ha:armClientSecret"}
    assert values["stackhub-ha:armClientSecret"] == "offline-secret-armClientSecret"
