"""The policy pack in the offline preview: results printed like the CLI's, in --json, exit 2 on a mandatory one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from preview.engine import PROJECT_DIR

SEATTLE_CONFIG = json.loads((PROJECT_DIR / "policy" / "config" / "hub-seattle.json").read_text())


def preview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "preview", *args], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("state") / "hub-seattle.json"
    result = preview("hub-seattle", "--up", "--save-state", str(state))
    assert result.returncode == 0, result.stderr
    return state


def test_an_update_preview_of_a_shipped_hub_passes_the_pack(deployed: Path) -> None:
    result = preview("hub-seattle", "--state", str(deployed))
    assert result.returncode == 0, result.stdout[-2000:]
    assert "Policies:\n    (no policy violations)" in result.stdout


def test_a_hub_over_its_core_quota_fails_with_exit_2_naming_the_figures(deployed: Path, tmp_path: Path) -> None:
    config = json.loads(json.dumps(SEATTLE_CONFIG))
    config["hub-quotas"]["used"]["cores"] = 90
    config_file = tmp_path / "policy.json"
    config_file.write_text(json.dumps(config))
    result = preview("hub-seattle", "--state", str(deployed), "--policy-config", str(config_file))
    assert result.returncode == 2, result.stdout[-2000:]
    section = result.stdout.split("\nPolicies:\n", 1)[1]
    assert "- [mandatory]  hub-quotas" in section
    assert "cores" in section
    assert "22" in section  # 3 DS2_v2 masters + 3 DS3_v2 workers + the VM an upgrade adds
    digest = json.loads(preview("hub-seattle", "--state", str(deployed), "--policy-config", str(config_file),
                                "--json").stdout)  # fmt: skip
    (event,) = [e for e in digest["policyEvents"] if e["policyName"] == "hub-quotas"]
    assert set(event) == {
        "resourceUrn", "message", "policyName", "policyPackName", "policyPackVersion", "enforcementLevel", "severity",
    }  # fmt: skip
    assert event["enforcementLevel"] == "mandatory"


def test_a_bad_policy_config_is_a_clear_error(deployed: Path, tmp_path: Path) -> None:
    config_file = tmp_path / "policy.json"
    config_file.write_text(json.dumps({"hub-quotas": {"quota": {"cores": -1}}}))
    result = preview("hub-seattle", "--state", str(deployed), "--policy-config", str(config_file))
    assert result.returncode == 1
    assert result.stderr.startswith("error: policy config: ")
    assert "hub-quotas" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_first_preview_runs_the_pack_as_advisory_and_says_so() -> None:
    result = preview("hub-seattle")
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("\nPolicies:\n", 1)[1]
    assert section.startswith("    first deployment: policies run as advisory")
    assert "[mandatory]" not in section
    assert "cannot verify" in section
