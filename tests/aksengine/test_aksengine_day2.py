"""Day-2 operations under pulumi-command's real semantics: a failed command hands no state back.

An update that fails part-way keeps the steps that finished in an encrypted checkpoint, and the next update
continues from it; a state too large to be handed back through the environment is refused before anything
is printed. Every run is the real `python -m aksengine.lifecycle` against the fake aks-engine-azurestack.
"""

import dataclasses
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aksengine.checkpoint import CheckpointFile, state_digest
from aksengine.lifecycle import (
    ENV_VALUE_LIMIT,
    STATE_BUDGET,
    ClusterState,
    LifecycleError,
    Reporter,
    Scrubber,
    check_state_size,
)
from tests.aksengine.test_aksengine_lifecycle import key_lines
from tests.aksengine.testkit import (
    CLIENT_SECRET,
    SUBSCRIPTION,
    Deleter,
    LifecycleResult,
    checkpoints_of,
    environ,
    make_settings,
    run_in_process,
    run_lifecycle,
)

ROTATED_SECRET = "r0tated-Secret.Value~9876543210_abcdef"
PAST_THE_LIMIT = 75_000
"""Padding characters that take a 60 kB state past `ENV_VALUE_LIMIT` (the fake's model grows by about as much)."""
NEAR_THE_LIMIT = 55_000
"""Padding that takes it between `STATE_BUDGET` and `ENV_VALUE_LIMIT`."""


def commands(result: LifecycleResult) -> list[str]:
    """The AKS Engine commands the fake ran (`version` is not logged)."""
    return [call["argv"][0] for call in result.invocations]


def checkpoint_file(tmp_path: Path) -> CheckpointFile:
    return CheckpointFile.for_cluster(checkpoints_of(tmp_path), SUBSCRIPTION, "ratings-k8s-rg")


def refused_size(stderr: str) -> int:
    match = re.search(rf"the new state is (\d+) bytes, more than the {ENV_VALUE_LIMIT} bytes", stderr)
    assert match, stderr
    return int(match.group(1))


@dataclass
class Deployed:
    """A created cluster: the state document as pulumi-command keeps it, and parsed."""

    document: str
    state: ClusterState

    def update(self, tmp_path: Path, *, env: dict[str, str] | None = None, **changes: Any) -> LifecycleResult:
        desired = dataclasses.replace(self.state.settings, **changes)
        return run_lifecycle("update", tmp_path, desired, previous=self.document, extra_env=env)


def deploy(tmp_path: Path) -> Deployed:
    result = run_lifecycle("create", tmp_path, make_settings())
    assert result.returncode == 0, result.stderr
    document = result.stdout.removesuffix("\n")  # what pulumi-command keeps
    return Deployed(document, ClusterState.from_json(document))


@dataclass(frozen=True)
class Scenario:
    """A two-step update whose second step fails."""

    changes: dict[str, Any]
    fails: str
    done: str
    left: str


SCENARIOS = [
    # Scale down runs before the upgrade (fewer nodes to upgrade).
    Scenario({"agent_count": 2, "kubernetes_version": "1.34.4"}, "upgrade", "scale", "upgrade"),
    # Scale up runs after it (new nodes start on the new version).
    Scenario({"agent_count": 5, "kubernetes_version": "1.34.4"}, "scale", "upgrade", "scale"),
]


@pytest.fixture(params=SCENARIOS, ids=["scale-then-upgrade", "upgrade-then-scale"])
def half_done(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Deployed, Scenario, LifecycleResult]:
    scenario: Scenario = request.param
    deployed = deploy(tmp_path)
    result = deployed.update(tmp_path, env={"FAKE_AKSE_FAIL": scenario.fails}, **scenario.changes)
    return deployed, scenario, result


# -- a failed step keeps the finished ones ---------------------------------------------------------------


def test_a_failed_second_step_keeps_the_first_in_an_encrypted_private_checkpoint(
    half_done: tuple[Deployed, Scenario, LifecycleResult], tmp_path: Path
) -> None:
    deployed, scenario, result = half_done
    assert result.returncode == 1
    assert result.stdout == "", "pulumi-command would discard it anyway; the previous state stays"
    assert commands(result) == [scenario.done, scenario.fails]

    file = checkpoint_file(tmp_path)
    assert [p.name for p in file.path.parent.iterdir()] == [file.path.name], "one file, no leftovers"
    assert oct(file.path.stat().st_mode & 0o777) == "0o600"
    assert oct(file.path.parent.stat().st_mode & 0o777) == "0o700"
    assert file.path.name.startswith(f"{SUBSCRIPTION}_ratings-k8s-rg_")
    raw = file.path.read_bytes()
    for plain in (CLIENT_SECRET, *key_lines(deployed.state), "caPrivateKey", "BEGIN RSA PRIVATE KEY"):
        assert plain.encode() not in raw
    assert CLIENT_SECRET not in file.path.name

    saved = file.load(CLIENT_SECRET)
    assert saved is not None
    assert saved.base == state_digest(deployed.document)
    reached = {"scale": {"agent_count": scenario.changes["agent_count"]}, "upgrade": {"kubernetes_version": "1.34.4"}}
    assert saved.settings == dataclasses.replace(deployed.state.settings, **reached[scenario.done])
    assert len(saved.steps_done) == 1
    assert saved.steps_done[0].startswith(scenario.done)
    # The model AKS Engine left after the finished step, keys included.
    assert saved.apimodel == result.invocations[1]["apimodel"]
    before_keys = deployed.state.apimodel["properties"]["certificateProfile"]
    assert saved.apimodel["properties"]["certificateProfile"] == before_keys

    assert f"progress saved in checkpoint {file.path}" in result.stderr
    assert f"progress is kept, encrypted, in checkpoint {file.path} (done: {saved.steps_done[0]})" in result.stderr
    assert f"the next `pulumi up` continues from it and runs: {scenario.left}" in result.stderr
    assert CLIENT_SECRET not in result.stderr
    for line in key_lines(deployed.state):
        assert line not in result.stderr


def test_the_next_update_runs_only_the_step_that_failed(
    half_done: tuple[Deployed, Scenario, LifecycleResult], tmp_path: Path
) -> None:
    deployed, scenario, _ = half_done
    result = deployed.update(tmp_path, **scenario.changes)

    assert result.returncode == 0, result.stderr
    assert commands(result) == [scenario.left], "the finished step is not run again"
    (call,) = result.invocations
    # It works on the model the finished step left, not on the one in Pulumi's state.
    model = call["apimodel"]["properties"]
    assert model["agentPoolProfiles"][0]["count"] == (
        scenario.changes["agent_count"] if scenario.done == "scale" else 3
    )
    assert model["orchestratorProfile"]["orchestratorVersion"] == (
        "1.34.4" if scenario.done == "upgrade" else "1.33.10"
    )
    after = ClusterState.from_json(result.stdout)
    assert (after.agent_count, after.kubernetes_version) == (scenario.changes["agent_count"], "1.34.4")
    assert after.settings == dataclasses.replace(deployed.state.settings, **scenario.changes)
    assert after.kubeconfig == deployed.state.kubeconfig
    assert "continuing from checkpoint" in result.stderr
    assert "those steps are not run again" in result.stderr
    file = checkpoint_file(tmp_path)
    assert f"checkpoint {file.path} removed: the update is complete" in result.stderr
    assert not file.path.exists()
    assert CLIENT_SECRET not in result.stderr


def test_a_step_that_fails_again_leaves_the_checkpoint_of_the_last_finished_step(
    half_done: tuple[Deployed, Scenario, LifecycleResult], tmp_path: Path
) -> None:
    deployed, scenario, first = half_done
    file = checkpoint_file(tmp_path)
    saved = file.load(CLIENT_SECRET)
    result = deployed.update(tmp_path, env={"FAKE_AKSE_FAIL": scenario.fails}, **scenario.changes)

    assert result.returncode == 1
    assert result.stdout == ""
    assert commands(result) == [scenario.left]
    assert file.load(CLIENT_SECRET) == saved
    assert f"the next `pulumi up` continues from it and runs: {scenario.left}" in result.stderr
    assert first.stderr.count("progress saved") == 1
    assert "progress saved" not in result.stderr


def test_a_checkpoint_of_another_previous_state_is_ignored(
    half_done: tuple[Deployed, Scenario, LifecycleResult], tmp_path: Path
) -> None:
    deployed, scenario, _ = half_done
    # Pulumi's state moved on: same cluster, another document (here the kubeconfig written compactly).
    moved_on = dataclasses.replace(deployed.state, kubeconfig=json.dumps(json.loads(deployed.state.kubeconfig)))
    result = Deployed(moved_on.to_json(), moved_on).update(tmp_path, **scenario.changes)

    assert result.returncode == 0, result.stderr
    assert "ignoring checkpoint" in result.stderr
    assert "Pulumi's state moved on since" in result.stderr
    assert "planning from the previous state instead" in result.stderr
    assert commands(result) == [scenario.done, scenario.fails], "the whole plan runs again"
    after = ClusterState.from_json(result.stdout)
    assert (after.agent_count, after.kubernetes_version) == (scenario.changes["agent_count"], "1.34.4")
    assert not checkpoint_file(tmp_path).path.exists()


def test_a_checkpoint_that_does_not_decrypt_after_a_secret_rotation_is_ignored(
    half_done: tuple[Deployed, Scenario, LifecycleResult], tmp_path: Path
) -> None:
    deployed, scenario, _ = half_done
    desired = dataclasses.replace(deployed.state.settings, **scenario.changes)
    result = run_lifecycle("update", tmp_path, desired, previous=deployed.document, secret=ROTATED_SECRET)

    assert result.returncode == 0, result.stderr
    assert "does not decrypt with the current service principal secret (was the secret rotated?)" in result.stderr
    assert "planning from the previous state instead" in result.stderr
    assert commands(result) == [scenario.done, scenario.fails]
    after = ClusterState.from_json(result.stdout)
    assert after.apimodel["properties"]["servicePrincipalProfile"]["secret"] == ROTATED_SECRET
    assert (after.agent_count, after.kubernetes_version) == (scenario.changes["agent_count"], "1.34.4")
    assert not checkpoint_file(tmp_path).path.exists()
    assert ROTATED_SECRET not in result.stderr
    assert CLIENT_SECRET not in result.stderr


def test_a_single_failed_step_says_the_whole_plan_runs_again(tmp_path: Path) -> None:
    deployed = deploy(tmp_path)
    result = deployed.update(tmp_path, env={"FAKE_AKSE_FAIL": "scale"}, agent_count=5)
    assert result.returncode == 1
    assert "no progress of this update is kept in a checkpoint" in result.stderr
    assert "the next `pulumi up` plans from the previous state again and runs: scale pool linuxpool to 5" in (
        result.stderr
    )
    assert not checkpoints_of(tmp_path).exists() or list(checkpoints_of(tmp_path).iterdir()) == []


def test_an_unusable_checkpoint_directory_stops_the_update_before_any_step(tmp_path: Path) -> None:
    deployed = deploy(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = deployed.update(tmp_path, env={"AKSENGINE_CHECKPOINT_DIR": str(blocker / "sub")}, agent_count=5)
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"the checkpoint directory {blocker / 'sub'} cannot be used" in result.stderr
    assert "(nothing was changed)" in result.stderr
    assert result.invocations == []


def test_delete_removes_the_checkpoint_of_the_cluster(
    half_done: tuple[Deployed, Scenario, LifecycleResult], tmp_path: Path
) -> None:
    deployed, _, _ = half_done
    file = checkpoint_file(tmp_path)
    env = environ(tmp_path, deployed.state.settings, PULUMI_COMMAND_STDOUT=deployed.document)

    code, _, err = run_in_process("delete", env, Deleter(RuntimeError("hub unreachable")))
    assert code == 1
    assert file.path.exists(), "the cluster still exists: its checkpoint stays"

    code, out, err = run_in_process("delete", env, Deleter())
    assert code == 0, err
    assert out == ""
    assert not file.path.exists()
    assert f"checkpoint {file.path} removed: the cluster is deleted" in err


# -- the size of the state -----------------------------------------------------------------------------


def test_an_update_whose_state_would_be_too_large_prints_nothing(tmp_path: Path) -> None:
    deployed = deploy(tmp_path)
    result = deployed.update(tmp_path, env={"FAKE_AKSE_PAD_CHARS": str(PAST_THE_LIMIT)}, agent_count=5)

    assert result.returncode == 1
    assert result.stdout == "", "pulumi-command keeps the previous state, which the next command can still read"
    assert refused_size(result.stderr) > ENV_VALUE_LIMIT
    assert "it was not written" in result.stderr
    # The scale did happen: the checkpoint keeps it, and the next run has no AKS Engine command left.
    assert "the next `pulumi up` continues from it and runs: no AKS Engine command" in result.stderr
    again = deployed.update(tmp_path, agent_count=5)
    assert again.returncode == 1
    assert again.stdout == ""
    assert commands(again) == []
    assert "nothing left to change on the cluster" in again.stderr
    assert refused_size(again.stderr) > ENV_VALUE_LIMIT


def test_a_create_whose_state_would_be_too_large_deletes_the_resource_group(tmp_path: Path) -> None:
    deleter = Deleter()
    env = environ(tmp_path, make_settings(), FAKE_AKSE_PAD_CHARS=str(PAST_THE_LIMIT))
    code, out, err = run_in_process("create", env, deleter)
    assert code == 1
    assert out == ""
    assert refused_size(err) > ENV_VALUE_LIMIT
    assert "deleting resource group ratings-k8s-rg so a retry starts clean" in err
    assert [group for _, group in deleter.calls] == ["ratings-k8s-rg"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_state_near_the_limit_is_written_with_a_warning(tmp_path: Path) -> None:
    result = run_lifecycle("create", tmp_path, make_settings(), extra_env={"FAKE_AKSE_PAD_CHARS": str(NEAR_THE_LIMIT)})
    assert result.returncode == 0, result.stderr
    size = len(result.stdout.removesuffix("\n").encode())
    assert STATE_BUDGET < size <= ENV_VALUE_LIMIT
    assert f"warning: the state is {size} bytes; above {ENV_VALUE_LIMIT} bytes the lifecycle refuses" in result.stderr


def test_the_size_rule_counts_bytes_up_to_the_limit() -> None:
    stderr = io.StringIO()
    reporter = Reporter(stderr, Scrubber(), None)
    check_state_size("x" * STATE_BUDGET, reporter)
    assert stderr.getvalue() == "", "no warning at the budget itself"
    check_state_size("x" * ENV_VALUE_LIMIT, reporter)
    assert stderr.getvalue().count("warning: the state is") == 1
    # JSON may carry non-ASCII text; the limit is in bytes.
    for too_large in ("x" * (ENV_VALUE_LIMIT + 1), "é" * (ENV_VALUE_LIMIT // 2 + 1)):
        with pytest.raises(LifecycleError, match=f"more than the {ENV_VALUE_LIMIT} bytes") as refused:
            check_state_size(too_large, reporter)
        assert refused.value.exit_code == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MAX_ARG_STRLEN is a Linux limit")
def test_the_limit_is_the_largest_previous_state_linux_passes_on() -> None:
    """pulumi-command passes the state as `PULUMI_COMMAND_STDOUT=<state>`; one byte more and exec fails."""
    subprocess.run(["/bin/true"], env={"PULUMI_COMMAND_STDOUT": "x" * ENV_VALUE_LIMIT}, check=True)
    with pytest.raises(OSError, match="Argument list too long"):
        subprocess.run(["/bin/true"], env={"PULUMI_COMMAND_STDOUT": "x" * (ENV_VALUE_LIMIT + 1)}, check=True)
