"""AKS Engine failing part-way, and the hub's ARM failing under the lifecycle: nothing is lost, a rerun resumes.

The fake aks-engine-azurestack fails where `FAKE_AKSE_FAIL=<command>:<point>` tells it to (see its docstring).
AKS Engine writes the generated apimodel (the cluster's CA and certificates) before its ARM deployment starts, so
a deploy that fails or is stopped after that point must keep it: the VMs it created trust those certificates and
no others. A scale or upgrade that fails part-way must leave the last finished step's model where the next update
finds it. Each test runs the real `python -m aksengine.lifecycle` (or its `run`, where a fake resource group
deleter stands in for ARM) and reruns it as the next `pulumi up` would.
"""

import dataclasses
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aksengine.apimodel import ClusterSettings
from aksengine.checkpoint import Checkpoint, CheckpointFile, settings_digest
from aksengine.lifecycle import ClusterState, HubAccess, delete_resource_group_with_arm
from arm.connection import RetrySettings
from tests.aksengine.test_aksengine_lifecycle import key_lines
from tests.aksengine.testkit import (
    CLIENT_ID,
    CLIENT_SECRET,
    SUBSCRIPTION,
    Deleter,
    LifecycleResult,
    checkpoints_of,
    environ,
    flag,
    make_settings,
    run_in_process,
    run_lifecycle,
)
from tests.fakes.fake_arm import FakeArm

GROUP = "ratings-k8s-rg"
ROTATED_SECRET = "r0tated-Secret.Value~9876543210_abcdef"


def checkpoint_file(tmp_path: Path) -> CheckpointFile:
    return CheckpointFile.for_cluster(checkpoints_of(tmp_path), SUBSCRIPTION, GROUP)


def commands(result: LifecycleResult) -> list[str]:
    return [call["argv"][0] for call in result.invocations]


def kept_deploy(tmp_path: Path, secret: str = CLIENT_SECRET) -> Checkpoint:
    saved = checkpoint_file(tmp_path).load(secret)
    assert saved is not None
    assert saved.operation == "deploy"
    return saved


def certificates(apimodel: dict[str, Any]) -> dict[str, Any]:
    return dict(apimodel["properties"]["certificateProfile"])


def model_key_lines(apimodel: dict[str, Any]) -> list[str]:
    """Body lines of every private key in a generated apimodel."""
    return key_lines(dataclasses.replace(PLACEHOLDER_STATE, apimodel=apimodel))


PLACEHOLDER_STATE = ClusterState("v0.85.0", make_settings(), "", "", 3, 3, "", {})


# -- deploy ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["after", "partial-output"])
def test_a_deploy_that_fails_after_writing_its_model_keeps_it_and_the_resource_group(
    tmp_path: Path, point: str
) -> None:
    deleter = Deleter()
    settings = make_settings()
    code, out, err = run_in_process("create", environ(tmp_path, settings, FAKE_AKSE_FAIL=f"deploy:{point}"), deleter)

    assert code == 1
    assert out == "", "no state: pulumi-command records no resource"
    assert deleter.calls == [], "the VMs in the group trust the kept certificates: the group stays"
    assert "`aks-engine-azurestack deploy` failed with exit code 1; its last output:" in err
    assert f"Error: deploy failed at {point}: terminal provisioning state 'Failed'" in err
    file = checkpoint_file(tmp_path)
    assert "AKS Engine had written the generated apimodel (the cluster's CA and certificates) before it failed" in err
    assert f"it is kept, encrypted, in checkpoint {file.path}, and resource group {GROUP} is left as it is" in err
    assert "run `pulumi up` again with the same settings: it deploys again with that apimodel" in err
    assert f"To start over instead, delete resource group {GROUP} and the checkpoint file." in err

    saved = kept_deploy(tmp_path)
    assert saved.settings == settings
    assert saved.base == settings_digest(settings)
    assert "caPrivateKey" in certificates(saved.apimodel)
    assert oct(file.path.stat().st_mode & 0o777) == "0o600"
    raw = file.path.read_bytes()
    for plain in (CLIENT_SECRET, "caPrivateKey", *model_key_lines(saved.apimodel)):
        assert plain.encode() not in raw
    assert CLIENT_SECRET not in err
    assert "key=***" in err, "the key line the failing tool printed is scrubbed"
    assert list((tmp_path / "tmp").iterdir()) == [], "the private working directory is gone all the same"


@pytest.mark.parametrize("point", ["after", "partial-output"])
def test_the_next_create_deploys_again_with_the_kept_certificates(tmp_path: Path, point: str) -> None:
    settings = make_settings()
    run_in_process("create", environ(tmp_path, settings, FAKE_AKSE_FAIL=f"deploy:{point}"), Deleter())
    kept = kept_deploy(tmp_path)

    result = run_lifecycle("create", tmp_path, settings)

    assert result.returncode == 0, result.stderr
    assert "continuing the deploy that failed before" in result.stderr
    (call,) = result.invocations
    assert call["argv"][0] == "deploy"
    assert certificates(call["apimodel"]) == certificates(kept.apimodel), "the same CA and certificates"
    assert flag(call["argv"], "--resource-group") == GROUP
    state = ClusterState.from_json(result.stdout)
    assert certificates(state.apimodel) == certificates(kept.apimodel)
    assert state.settings == settings
    assert f"checkpoint {checkpoint_file(tmp_path).path} removed: the deploy is complete" in result.stderr
    assert not checkpoint_file(tmp_path).path.exists()
    assert CLIENT_SECRET not in result.stderr
    for line in key_lines(state):
        assert line not in result.stderr


def test_the_kept_checkpoint_is_named_in_full_even_where_its_path_looks_like_base64(tmp_path: Path) -> None:
    # `/` is a base64 character: a long folder name makes the path one long run, which the scrubber would mask.
    directory = tmp_path / "PulumiAgentStateDirectoryOfTheHubDeployments"
    env = environ(tmp_path, make_settings(), FAKE_AKSE_FAIL="deploy", AKSENGINE_CHECKPOINT_DIR=str(directory))

    code, _, err = run_in_process("create", env, Deleter())

    assert code == 1
    (path,) = directory.iterdir()
    assert f"it is kept, encrypted, in checkpoint {path}, and resource group {GROUP}" in err
    assert "key=***" in err, "the heuristic still masks key material elsewhere on the line"


def test_a_deploy_stopped_by_a_signal_keeps_its_model_for_the_next_create(tmp_path: Path) -> None:
    settings = make_settings()
    stopped = run_lifecycle("create", tmp_path, settings, extra_env={"FAKE_AKSE_FAIL": "deploy:stop"})

    assert stopped.returncode == 128 + signal.SIGTERM
    assert stopped.stdout == ""
    file = checkpoint_file(tmp_path)
    assert f"stopped: the generated apimodel is kept in checkpoint {file.path}" in stopped.stderr
    assert list(stopped.tmpdir.iterdir()) == [], "the keys left the private directory only encrypted"
    kept = kept_deploy(tmp_path)

    again = run_lifecycle("create", tmp_path, settings)

    assert again.returncode == 0, again.stderr
    (call,) = again.invocations
    assert certificates(call["apimodel"]) == certificates(kept.apimodel)
    assert not file.path.exists()


def test_a_resumed_deploy_that_fails_before_writing_keeps_the_first_model(tmp_path: Path) -> None:
    settings = make_settings()
    deleter = Deleter()
    run_in_process("create", environ(tmp_path, settings, FAKE_AKSE_FAIL="deploy"), deleter)
    kept = kept_deploy(tmp_path)

    code, out, err = run_in_process(
        "create", environ(tmp_path, settings, FAKE_AKSE_FAIL="deploy:before-output"), deleter
    )

    assert code == 1
    assert out == ""
    assert deleter.calls == [], "the group still holds the first deploy's VMs: never deleted on a resume"
    assert (
        f"the generated apimodel of the first failed deploy stays in checkpoint {checkpoint_file(tmp_path).path}" in err
    )
    assert kept_deploy(tmp_path).apimodel == kept.apimodel


def test_a_kept_deploy_of_other_settings_deletes_its_group_and_starts_clean(tmp_path: Path) -> None:
    run_in_process("create", environ(tmp_path, make_settings(), FAKE_AKSE_FAIL="deploy"), Deleter())
    kept = kept_deploy(tmp_path)
    fewer = make_settings(agent_count=2)
    deleter = Deleter()

    code, out, err = run_in_process("create", environ(tmp_path, fewer), deleter)

    assert code == 0, err
    assert "keeps a failed deploy of other settings (changed since: agent_count)" in err
    assert f"so resource group {GROUP} is deleted first" in err
    assert [group for _, group in deleter.calls] == [GROUP]
    state = ClusterState.from_json(out)
    assert state.agent_count == 2
    assert certificates(state.apimodel) != certificates(kept.apimodel), "new certificates for a new group"
    assert not checkpoint_file(tmp_path).path.exists()


def test_a_kept_deploy_whose_group_cannot_be_deleted_stops_before_deploying(tmp_path: Path) -> None:
    run_in_process("create", environ(tmp_path, make_settings(), FAKE_AKSE_FAIL="deploy"), Deleter())
    (tmp_path / "calls.jsonl").unlink()

    code, out, err = run_in_process(
        "create", environ(tmp_path, make_settings(agent_count=2)), Deleter(RuntimeError("hub unreachable"))
    )

    assert code == 1
    assert out == ""
    assert f"resource group {GROUP} could not be deleted (RuntimeError: hub unreachable)" in err
    assert "or restore the settings of that deploy" in err
    assert "(nothing was deployed)" in err
    assert not (tmp_path / "calls.jsonl").exists(), "no AKS Engine command ran"
    assert checkpoint_file(tmp_path).path.exists()


def test_a_kept_deploy_that_no_longer_decrypts_is_named_and_a_new_deploy_runs(tmp_path: Path) -> None:
    run_in_process("create", environ(tmp_path, make_settings(), FAKE_AKSE_FAIL="deploy"), Deleter())
    deleter = Deleter()
    env = environ(tmp_path, make_settings(), AKSENGINE_CLIENT_SECRET=ROTATED_SECRET)

    code, out, err = run_in_process("create", env, deleter)

    assert code == 0, err
    assert "does not decrypt with the current service principal secret" in err
    assert f"if a failed deploy left VMs in resource group {GROUP}, they will refuse them" in err
    assert deleter.calls == [], "a checkpoint that cannot be read proves nothing: nothing is deleted for it"
    assert ClusterState.from_json(out).apimodel["properties"]["servicePrincipalProfile"]["secret"] == ROTATED_SECRET
    assert ROTATED_SECRET not in err


def test_an_update_ignores_a_kept_deploy(tmp_path: Path) -> None:
    created = run_lifecycle("create", tmp_path, make_settings())
    assert created.returncode == 0, created.stderr
    state = ClusterState.from_json(created.stdout)
    # As if a failed deploy of this cluster had left one behind (it cannot, once a deploy succeeded).
    checkpoint_file(tmp_path).save(
        Checkpoint(settings_digest(state.settings), state.settings, (), "2026-01-01T00:00:00+00:00", state.apimodel,
                   operation="deploy"),
        CLIENT_SECRET,
    )  # fmt: skip

    result = run_lifecycle(
        "update", tmp_path, dataclasses.replace(state.settings, agent_count=5), previous=created.stdout
    )

    assert result.returncode == 0, result.stderr
    assert "a failed deploy left it, and the cluster has been created since" in result.stderr
    assert commands(result) == ["scale"]


def test_a_create_with_an_unusable_checkpoint_directory_changes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    deleter = Deleter()
    env = environ(tmp_path, make_settings(), AKSENGINE_CHECKPOINT_DIR=str(blocker / "sub"))

    code, out, err = run_in_process("create", env, deleter)

    assert code == 2
    assert out == ""
    assert f"the checkpoint directory {blocker / 'sub'} cannot be used" in err
    assert "(nothing was changed)" in err
    assert not (tmp_path / "calls.jsonl").exists()
    assert deleter.calls == []


# -- scale and upgrade -----------------------------------------------------------------------------------------


def deployed(tmp_path: Path) -> tuple[str, ClusterState]:
    result = run_lifecycle("create", tmp_path, make_settings())
    assert result.returncode == 0, result.stderr
    document = result.stdout.removesuffix("\n")
    return document, ClusterState.from_json(document)


def update(tmp_path: Path, document: str, settings: ClusterSettings, fail: str | None = None) -> LifecycleResult:
    return run_lifecycle(
        "update", tmp_path, settings, previous=document, extra_env={"FAKE_AKSE_FAIL": fail} if fail else None
    )


@pytest.fixture(params=["scale", "upgrade"])
def one_step(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, ClusterState, ClusterSettings]:
    """A deployed cluster and one change: (AKS Engine command, state document, state, desired settings)."""
    command = str(request.param)
    document, state = deployed(tmp_path)
    desired = (
        dataclasses.replace(state.settings, agent_count=5)
        if command == "scale"
        else dataclasses.replace(state.settings, kubernetes_version="1.34.4")
    )
    return command, document, state, desired


def test_a_step_that_fails_part_way_keeps_the_previous_state_and_runs_again(
    tmp_path: Path, one_step: tuple[str, str, ClusterState, ClusterSettings]
) -> None:
    command, document, before, desired = one_step

    failed = update(tmp_path, document, desired, fail=f"{command}:before-save")

    assert failed.returncode == 1
    assert failed.stdout == "", "pulumi-command keeps the previous state, with its generated apimodel"
    assert f"`aks-engine-azurestack {command}` failed with exit code 1" in failed.stderr
    assert "no progress of this update is kept in a checkpoint; the next `pulumi up` plans from the previous" in (
        failed.stderr
    )
    assert CLIENT_SECRET not in failed.stderr
    again = update(tmp_path, document, desired)
    assert again.returncode == 0, again.stderr
    assert commands(again) == [command]
    (call,) = again.invocations
    assert certificates(call["apimodel"]) == certificates(before.apimodel), "the previous state's model"
    after = ClusterState.from_json(again.stdout)
    assert (after.agent_count, after.kubernetes_version) == (desired.agent_count, desired.kubernetes_version)


@pytest.mark.parametrize(
    ("changes", "done", "fails"),
    [
        ({"agent_count": 2, "kubernetes_version": "1.34.4"}, "scale", "upgrade"),
        ({"agent_count": 5, "kubernetes_version": "1.34.4"}, "upgrade", "scale"),
    ],
    ids=["mid-upgrade-after-scale", "mid-scale-after-upgrade"],
)
def test_a_second_step_that_fails_part_way_keeps_the_first_and_the_rerun_resumes(
    tmp_path: Path, changes: dict[str, Any], done: str, fails: str
) -> None:
    document, before = deployed(tmp_path)
    desired = dataclasses.replace(before.settings, **changes)

    failed = update(tmp_path, document, desired, fail=f"{fails}:before-save")

    assert failed.returncode == 1
    assert failed.stdout == ""
    assert commands(failed) == [done, fails]
    file = checkpoint_file(tmp_path)
    saved = file.load(CLIENT_SECRET)
    assert saved is not None
    assert saved.operation == "update"
    assert saved.apimodel == failed.invocations[1]["apimodel"], "the model the finished step left"
    assert certificates(saved.apimodel) == certificates(before.apimodel)
    assert f"the next `pulumi up` continues from it and runs: {fails}" in failed.stderr

    again = update(tmp_path, document, desired)

    assert again.returncode == 0, again.stderr
    assert commands(again) == [fails], "the finished step is not run again"
    after = ClusterState.from_json(again.stdout)
    assert after.settings == desired
    assert not file.path.exists()


# -- the hub's ARM failing under the lifecycle's own calls -------------------------------------------------------

FAST = RetrySettings(total=6, connect=2, read=2, status=2, backoff_factor=0.01, backoff_max=0.05)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    with FakeArm(identity_system="adfs", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, in_progress_polls=1) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_path)
        yield fake


def arm_deleter(hub: FakeArm) -> Any:
    """The real ARM deleter, aimed at the fake hub (the settings name a hub that does not exist here)."""

    def delete(access: HubAccess, resource_group: str) -> None:
        at_fake = dataclasses.replace(access, arm_endpoint=hub.base_url, tenant_id="adfs")
        delete_resource_group_with_arm(at_fake, resource_group, polling_interval=0.01, retry=FAST)

    return delete


def test_a_delete_the_hub_keeps_failing_is_bounded_and_keeps_the_checkpoint(tmp_path: Path, hub: FakeArm) -> None:
    settings = make_settings(identity_system="adfs")
    document, _ = deployed_with(tmp_path, settings)
    group_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}"
    hub_group(hub, group_id)
    # A checkpoint of a half-done update of this cluster: delete removes it only once the group is gone.
    run_lifecycle("update", tmp_path, dataclasses.replace(settings, agent_count=2, kubernetes_version="1.34.4"),
                  previous=document, extra_env={"FAKE_AKSE_FAIL": "upgrade"})  # fmt: skip
    assert checkpoint_file(tmp_path).path.exists()
    hub.inject("unavailable", times=None, method="DELETE")
    env = environ(tmp_path, settings, PULUMI_COMMAND_STDOUT=document)

    code, out, err = run_in_process("delete", env, arm_deleter(hub))

    assert code == 1
    assert out == ""
    assert f"deleting resource group {GROUP} failed (ArmError: ARM delete of {group_id}" in err
    assert (
        f"HTTP 503 ServiceUnavailable: The server is currently unable to handle the request. Retried {FAST.status}"
        in err
    )
    assert [request.status for request in hub.requests_to(group_id, "DELETE")] == [503] * (1 + FAST.status)
    assert checkpoint_file(tmp_path).path.exists(), "the cluster may still exist: its progress stays"
    assert CLIENT_SECRET not in err

    hub.clear_faults()
    code, _, err = run_in_process("delete", env, arm_deleter(hub))
    assert code == 0, err
    assert hub.resource(group_id) is None
    assert not checkpoint_file(tmp_path).path.exists()


def test_a_failed_cleanup_after_a_failed_deploy_names_both(tmp_path: Path, hub: FakeArm) -> None:
    group_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}"
    hub_group(hub, group_id)
    hub.inject("operation_failed", method="DELETE", code="ResourceGroupDeletionBlocked",
               message="Deletion of resource group 'ratings-k8s-rg' was blocked by a lock.")  # fmt: skip
    env = environ(tmp_path, make_settings(identity_system="adfs"), FAKE_AKSE_FAIL="deploy:before-output")

    code, out, err = run_in_process("create", env, arm_deleter(hub))

    assert code == 1
    assert out == ""
    assert "`aks-engine-azurestack deploy` failed with exit code 1" in err
    assert f"resource group {GROUP} could not be deleted either (ArmError: ARM delete of {group_id}" in err
    assert "Deletion of resource group 'ratings-k8s-rg' was blocked by a lock." in err
    assert "delete it before retrying" in err
    assert hub.resource(group_id) is not None


def deployed_with(tmp_path: Path, settings: ClusterSettings) -> tuple[str, ClusterState]:
    result = run_lifecycle("create", tmp_path, settings)
    assert result.returncode == 0, result.stderr
    document = result.stdout.removesuffix("\n")
    return document, ClusterState.from_json(document)


def hub_group(hub: FakeArm, group_id: str) -> None:
    """The cluster's resource group on the fake hub, as AKS Engine's deploy would have left it."""
    from arm import HubConnection, build_credential, discover_endpoints, management_client  # noqa: PLC0415

    connection = HubConnection(hub.base_url, "adfs", SUBSCRIPTION, hub.client_id, "adfs")
    endpoints = discover_endpoints(hub.base_url)
    client = management_client(connection, build_credential(connection, CLIENT_SECRET, endpoints), endpoints)
    client.resources.begin_create_or_update_by_id(
        group_id, {"location": "local"}, api_version="2019-10-01", polling_interval=0.01
    ).result()
