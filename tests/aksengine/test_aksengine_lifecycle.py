"""The lifecycle run for real: `python -m aksengine.lifecycle` with the fake aks-engine-azurestack on PATH.

Each test checks what the lifecycle decided (exit code, stdout, stderr) and what the fake binary received
(argv, the apimodel file and its permissions, the environment it ran in).
"""

import dataclasses
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aksengine.apimodel import ClusterSettings, build_apimodel, settings_to_dict, with_service_principal_secret
from aksengine.lifecycle import (
    ENV_VALUE_LIMIT,
    FORWARD_BUDGET,
    STATE_BUDGET,
    ClusterState,
    HubAccess,
    LifecycleError,
    Reporter,
    Scrubber,
    delete_resource_group_with_arm,
    kubeconfig_of,
    proxy_credentials,
)
from arm import HubConnection, build_credential, discover_endpoints, management_client
from tests.aksengine.testkit import (
    CLIENT_ID,
    CLIENT_SECRET,
    FAKE_BIN,
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

FQDN = "ratings-east.local.cloudapp.azurestack.external"


def key_lines(state: ClusterState) -> list[str]:
    """Body lines of every private key in a generated apimodel."""
    profile = state.apimodel["properties"]["certificateProfile"]
    keys = [v for k, v in profile.items() if k.endswith("PrivateKey")] + profile["etcdPeerPrivateKeys"]
    return [line for key in keys for line in key.splitlines() if "-----" not in line]


def assert_no_secret(result: LifecycleResult, *states: ClusterState) -> None:
    assert CLIENT_SECRET not in result.stderr
    for state in states:
        for line in key_lines(state):
            assert line not in result.stderr


def assert_workdir_removed(result: LifecycleResult) -> None:
    assert list(result.tmpdir.iterdir()) == [], "the private working directory must be gone"
    for call in result.invocations:
        assert call["tmpdir"] is not None
        assert not Path(call["tmpdir"]).exists()


def created(tmp_path: Path, settings: ClusterSettings | None = None) -> ClusterState:
    result = run_lifecycle("create", tmp_path, settings or make_settings())
    assert result.returncode == 0, result.stderr
    return ClusterState.from_json(result.stdout)


# -- create --------------------------------------------------------------------------------------------


def test_create_deploys_and_prints_one_state_document(tmp_path: Path) -> None:
    settings = make_settings()
    result = run_lifecycle("create", tmp_path, settings)

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    state = ClusterState.from_json(result.stdout)
    assert state.settings == settings
    assert state.api_server_fqdn == FQDN
    assert (state.kubernetes_version, state.master_count, state.agent_count) == ("1.33.10", 3, 3)
    assert state.aks_engine_version == "v0.85.0"
    assert json.loads(state.kubeconfig)["clusters"][0]["cluster"]["server"] == f"https://{FQDN}"
    assert kubeconfig_of(result.stdout) == state.kubeconfig
    assert "caPrivateKey" in state.apimodel["properties"]["certificateProfile"]
    assert json.loads(result.stdout)["resourceGroup"] == "ratings-k8s-rg"

    (call,) = result.invocations
    argv = call["argv"]
    assert argv[0] == "deploy"
    assert flag(argv, "--azure-env") == "AzureStackCloud"
    assert flag(argv, "--identity-system") == "azure_ad"
    assert flag(argv, "--subscription-id") == SUBSCRIPTION
    assert flag(argv, "--client-id") == CLIENT_ID
    assert flag(argv, "--location") == "local"
    assert flag(argv, "--resource-group") == "ratings-k8s-rg"
    assert flag(argv, "--output-directory") == f"{call['tmpdir']}/_output/ratings-east"
    assert flag(argv, "--api-model") == f"{call['tmpdir']}/apimodel.json"
    assert "--force-overwrite" not in argv
    assert call["apimodel"] == with_service_principal_secret(build_apimodel(settings), CLIENT_SECRET)
    assert call["apimodel_mode"] == "0o600"
    assert call["apimodel_dir_mode"] == "0o700"
    assert Path(call["tmpdir"]).parent == result.tmpdir
    assert call["env_names"] == [], "no lifecycle input or previous state may reach AKS Engine"
    assert_workdir_removed(result)
    assert_no_secret(result, state)


def test_create_on_an_adfs_stamp_passes_the_identity_system(tmp_path: Path) -> None:
    result = run_lifecycle("create", tmp_path, make_settings(identity_system="adfs", master_count=5))
    assert result.returncode == 0, result.stderr
    (call,) = result.invocations
    assert flag(call["argv"], "--identity-system") == "adfs"
    assert call["apimodel"]["properties"]["customCloudProfile"]["identitySystem"] == "adfs"


def test_state_of_a_five_master_cluster_fits_in_one_environment_variable(tmp_path: Path) -> None:
    result = run_lifecycle("create", tmp_path, make_settings(master_count=5))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) < STATE_BUDGET < ENV_VALUE_LIMIT
    assert "warning" not in result.stderr


def test_invalid_settings_stop_before_aks_engine_runs(tmp_path: Path) -> None:
    result = run_lifecycle("create", tmp_path, make_settings(master_count=1, network_plugin="kubenet"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "master_count=1" in result.stderr
    assert "network_plugin='kubenet'" in result.stderr
    assert result.invocations == []


def test_a_different_aks_engine_release_is_refused(tmp_path: Path) -> None:
    result = run_lifecycle("create", tmp_path, make_settings(), extra_env={"FAKE_AKSE_VERSION": "v0.84.1"})
    assert result.returncode == 2
    assert result.stdout == ""
    assert "is AKS Engine v0.84.1, but this program is pinned to v0.85.0" in result.stderr
    assert result.invocations == []


def test_a_missing_binary_is_named(tmp_path: Path) -> None:
    result = run_lifecycle("create", tmp_path, make_settings(), extra_env={"PATH": str(tmp_path / "empty")})
    assert result.returncode == 2
    assert "aks-engine-azurestack is not on PATH" in result.stderr


def test_a_missing_secret_is_an_input_error(tmp_path: Path) -> None:
    # Neither the variable nor a line on stdin.
    result = run_lifecycle("create", tmp_path, make_settings(), secret_via="nowhere")
    assert result.returncode == 2
    assert "AKSENGINE_CLIENT_SECRET is not set" in result.stderr
    assert result.invocations == []


def test_the_secret_may_come_from_the_environment_instead_of_stdin(tmp_path: Path) -> None:
    result = run_lifecycle("create", tmp_path, make_settings(), secret_via="env")
    assert result.returncode == 0, result.stderr
    (call,) = result.invocations
    assert call["apimodel"]["properties"]["servicePrincipalProfile"]["secret"] == CLIENT_SECRET


def test_an_unknown_command_prints_usage(tmp_path: Path) -> None:
    result = run_lifecycle("destroy", tmp_path, make_settings())
    assert result.returncode == 2
    assert "usage: python -m aksengine.lifecycle create|update|delete" in result.stderr


# -- update --------------------------------------------------------------------------------------------


def updated(tmp_path: Path, previous: ClusterState, **changes: Any) -> LifecycleResult:
    return run_lifecycle(
        "update", tmp_path, dataclasses.replace(previous.settings, **changes), previous=previous.to_json()
    )


def test_scale_up_runs_scale_on_the_generated_model(tmp_path: Path) -> None:
    before = created(tmp_path)
    result = updated(tmp_path, before, agent_count=5)

    assert result.returncode == 0, result.stderr
    after = ClusterState.from_json(result.stdout)
    assert after.agent_count == 5
    assert after.settings.agent_count == 5
    assert after.kubeconfig == before.kubeconfig
    assert after.apimodel["properties"]["certificateProfile"] == before.apimodel["properties"]["certificateProfile"]
    (call,) = result.invocations
    argv = call["argv"]
    assert argv[0] == "scale"
    assert flag(argv, "--new-node-count") == "5"
    assert flag(argv, "--node-pool") == "linuxpool"
    assert "--apiserver" not in argv
    assert flag(argv, "--api-model") == f"{call['tmpdir']}/_output/ratings-east/apimodel.json"
    assert call["apimodel"]["properties"]["certificateProfile"] == before.apimodel["properties"]["certificateProfile"]
    assert call["apimodel_mode"] == "0o600"
    assert call["env_names"] == []
    assert_workdir_removed(result)
    assert_no_secret(result, before)


def test_scale_down_names_the_api_server(tmp_path: Path) -> None:
    before = created(tmp_path)
    result = updated(tmp_path, before, agent_count=2)
    assert result.returncode == 0, result.stderr
    (call,) = result.invocations
    assert flag(call["argv"], "--new-node-count") == "2"
    assert flag(call["argv"], "--apiserver") == FQDN
    assert ClusterState.from_json(result.stdout).agent_count == 2


def test_upgrade_moves_one_minor_release(tmp_path: Path) -> None:
    before = created(tmp_path)
    result = updated(tmp_path, before, kubernetes_version="1.34.4")
    assert result.returncode == 0, result.stderr
    (call,) = result.invocations
    assert call["argv"][0] == "upgrade"
    assert flag(call["argv"], "--upgrade-version") == "1.34.4"
    after = ClusterState.from_json(result.stdout)
    assert after.kubernetes_version == "1.34.4"
    assert after.apimodel["properties"]["orchestratorProfile"]["orchestratorVersion"] == "1.34.4"


def test_scale_down_and_upgrade_run_in_that_order(tmp_path: Path) -> None:
    before = created(tmp_path)
    result = updated(tmp_path, before, agent_count=2, kubernetes_version="1.34.4")
    assert result.returncode == 0, result.stderr
    assert [c["argv"][0] for c in result.invocations] == ["scale", "upgrade"]
    # The upgrade works on the model the scale left behind.
    assert result.invocations[1]["apimodel"]["properties"]["agentPoolProfiles"][0]["count"] == 2
    after = ClusterState.from_json(result.stdout)
    assert (after.agent_count, after.kubernetes_version) == (2, "1.34.4")


def test_no_change_runs_nothing_and_keeps_the_state(tmp_path: Path) -> None:
    before = created(tmp_path)
    result = updated(tmp_path, before)
    assert result.returncode == 0, result.stderr
    assert result.invocations == []
    assert ClusterState.from_json(result.stdout) == before


def test_a_refused_change_leaves_everything_as_it_was(tmp_path: Path) -> None:
    before = created(tmp_path)
    result = updated(tmp_path, before, master_count=5, agent_count=5)
    assert result.returncode == 2
    assert result.stdout == "", "no new state: pulumi-command keeps the previous one"
    assert "cannot be made to a running cluster" in result.stderr
    assert "master_count=5" in result.stderr
    assert "cannot add or remove control-plane VMs" in result.stderr
    assert result.invocations == [], "not even the allowed scale may run"


def test_skipping_a_minor_release_is_refused(tmp_path: Path) -> None:
    before = created(tmp_path)
    result = updated(tmp_path, before, kubernetes_version="1.35.0")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "upgrade to 1.34.4 first" in result.stderr
    assert result.invocations == []


def test_update_without_previous_state_is_refused(tmp_path: Path) -> None:
    result = run_lifecycle("update", tmp_path, make_settings())
    assert result.returncode == 2
    assert "needs the previous state in PULUMI_COMMAND_STDOUT" in result.stderr


def test_a_corrupt_previous_state_is_named_without_its_content(tmp_path: Path) -> None:
    result = run_lifecycle("update", tmp_path, make_settings(), previous='{"schemaVersion": 1, "secret": "x"}')
    assert result.returncode == 2
    assert "previous state in PULUMI_COMMAND_STDOUT is unreadable" in result.stderr
    assert '"secret"' not in result.stderr


def test_a_failing_aks_engine_command_keeps_the_state_and_the_secrets(tmp_path: Path) -> None:
    before = created(tmp_path)
    result = run_lifecycle(
        "update",
        tmp_path,
        dataclasses.replace(before.settings, agent_count=5),
        previous=before.to_json(),
        extra_env={"FAKE_AKSE_FAIL": "scale"},
    )
    assert result.returncode == 1
    assert result.stdout == "", "no new state: pulumi-command keeps the previous one"
    assert "`aks-engine-azurestack scale` failed with exit code 1" in result.stderr
    assert "terminal provisioning state 'Failed'" in result.stderr
    assert "(invoked with --client-secret ***)" in result.stderr
    assert_no_secret(result, before)
    assert_workdir_removed(result)


# -- in process: create failures and delete, with a fake resource group deleter -----------------------


def test_a_deploy_that_failed_before_writing_its_model_deletes_the_resource_group(tmp_path: Path) -> None:
    # Nothing to continue from: AKS Engine wrote no certificates, so a retry starts clean.
    deleter = Deleter()
    env = environ(tmp_path, make_settings(), FAKE_AKSE_FAIL="deploy:before-output")
    code, out, err = run_in_process("create", env, deleter)
    assert code == 1
    assert out == ""
    assert "`aks-engine-azurestack deploy` failed with exit code 1" in err
    assert "AKS Engine failed before it wrote the generated apimodel: there is nothing to continue" in err
    assert "deleting resource group ratings-k8s-rg so a retry starts clean" in err
    assert [group for _, group in deleter.calls] == ["ratings-k8s-rg"]
    assert CLIENT_SECRET not in err
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not checkpoints_of(tmp_path).exists() or list(checkpoints_of(tmp_path).iterdir()) == []


def test_a_failed_cleanup_is_reported_with_the_failed_deploy(tmp_path: Path) -> None:
    deleter = Deleter(RuntimeError("hub unreachable"))
    env = environ(tmp_path, make_settings(), FAKE_AKSE_FAIL="deploy:before-output")
    code, out, err = run_in_process("create", env, deleter)
    assert code == 1
    assert out == ""
    assert "`aks-engine-azurestack deploy` failed" in err
    assert "could not be deleted either (RuntimeError: hub unreachable); delete it before retrying" in err


def test_delete_removes_the_recorded_resource_group(tmp_path: Path) -> None:
    state = created(tmp_path, make_settings(identity_system="adfs"))
    deleter = Deleter()
    env = environ(tmp_path, state.settings, PULUMI_COMMAND_STDOUT=state.to_json())
    code, out, err = run_in_process("delete", env, deleter)
    assert code == 0, err
    assert out == ""
    ((access, group),) = deleter.calls
    assert group == "ratings-k8s-rg"
    assert access == HubAccess(
        arm_endpoint="https://management.local.azurestack.external/",
        subscription_id=SUBSCRIPTION,
        tenant_id="tenant-1",
        identity_system="adfs",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    assert CLIENT_SECRET not in repr(access)
    assert "resource group ratings-k8s-rg deleted" in err
    assert (tmp_path / "calls.jsonl").read_text().count("\n") == 1, "delete runs no AKS Engine command"


def test_delete_without_a_recorded_cluster_does_nothing(tmp_path: Path) -> None:
    deleter = Deleter()
    code, _, err = run_in_process("delete", environ(tmp_path, make_settings()), deleter)
    assert code == 0
    assert deleter.calls == []
    assert "nothing to delete" in err


def test_a_failed_delete_is_an_error(tmp_path: Path) -> None:
    state = created(tmp_path)
    deleter = Deleter(RuntimeError(f"token request with {CLIENT_SECRET} refused"))
    env = environ(tmp_path, state.settings, PULUMI_COMMAND_STDOUT=state.to_json())
    code, out, err = run_in_process("delete", env, deleter)
    assert code == 1
    assert out == ""
    assert "deleting resource group ratings-k8s-rg failed (RuntimeError: token request with *** refused)" in err
    assert CLIENT_SECRET not in err


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        ("{not json", "AKSENGINE_DESIRED is not JSON"),
        ("[]", "must be a JSON object"),
        ('{"settings": {}, "extra": 1}', "unknown keys ['extra']"),
        ('{"settings": {"location": "local"}}', "missing key 'portal_url'"),
        ('{"settings": SETTINGS, "otherNodesInSubscription": true}', "otherNodesInSubscription must be an integer"),
        ('{"settings": SETTINGS, "tenantId": 7}', "tenantId must be a string or null"),
    ],
)
def test_malformed_desired_state_is_an_input_error(tmp_path: Path, desired: str, message: str) -> None:
    settings = json.dumps(settings_to_dict(make_settings()))
    env = environ(tmp_path, make_settings(), AKSENGINE_DESIRED=desired.replace("SETTINGS", settings))
    code, out, err = run_in_process("create", env, Deleter())
    assert code == 2
    assert out == ""
    assert message in err


def test_an_unexpected_failure_is_reported_without_a_traceback(tmp_path: Path) -> None:
    env = environ(tmp_path, make_settings(), TMPDIR=str(tmp_path / "missing"))
    code, out, err = run_in_process("create", env, Deleter())
    assert code == 1
    assert out == ""
    assert "error: unexpected FileNotFoundError" in err
    assert "Traceback" not in err


# -- pieces --------------------------------------------------------------------------------------------


def test_scrubber_removes_secrets_in_every_form() -> None:
    body = ["MIIEpAIBAAKCAQEAx1234567890abcdef", "QWERTYUIOPASDFGHJKL12345"]
    key = "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *body, "-----END RSA PRIVATE KEY-----", ""])
    scrubber = Scrubber([CLIENT_SECRET])
    scrubber.add_apimodel({"properties": {"certificateProfile": {"caPrivateKey": key, "etcdPeerPrivateKeys": [key]}}})
    assert scrubber.line(f"secret={CLIENT_SECRET}") == "secret=***"
    assert scrubber.line(f"json {json.dumps(key)}").count("***") >= 1
    assert "MIIEpAIBAAKCAQEAx1234567890abcdef" not in scrubber.line(f"json {json.dumps(key)}")
    assert scrubber.line("line QWERTYUIOPASDFGHJKL12345 end") == "line *** end"
    assert scrubber.line("aks --client-secret=hunter22 --x") == "aks --client-secret=*** --x"
    assert scrubber.line("aks --client-secret other-value") == "aks --client-secret ***"
    unknown_key = ["-----BEGIN PRIVATE KEY-----", "c2VjcmV0", "-----END PRIVATE KEY-----", "after"]
    assert [scrubber.line(x) for x in unknown_key] == ["*** (private key)"] * 3 + ["after"]
    unknown_line = "MIIJKAIBAAKCAgEAvQ9t1nDl2yWz0rYgq8g7s0Jz5Hq1xS4nKc0rYk1nQ3fA9bL2"
    assert scrubber.line(f"key={unknown_line} rest") == "key=*** rest"
    resource = "/subscriptions/11111111-2222/resourceGroups/ratings-k8s-rg/providers/Microsoft.Compute/virtualMachines"
    assert scrubber.line(resource) == resource


def test_reporter_forwards_aks_engine_output_within_a_budget(tmp_path: Path) -> None:
    stderr = io.StringIO()
    log = tmp_path / "aksengine.log"
    reporter = Reporter(stderr, Scrubber([CLIENT_SECRET]), log)
    line = "polling. " * 125
    for _ in range(FORWARD_BUDGET // 1000 + 10):
        reporter.tool_line(line + "\n")
    reporter.tool_line(f"last {CLIENT_SECRET}\n")
    shown = stderr.getvalue()
    assert len(shown) < FORWARD_BUDGET + 2000
    assert f"further AKS Engine output is not shown here; all of it goes to {log}" in shown
    assert log.read_text().count("\n") == FORWARD_BUDGET // 1000 + 11
    assert "last ***" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert list(reporter.tail)[-1] == "last ***"


def test_state_round_trips_and_rejects_other_documents() -> None:
    settings = make_settings()
    state = ClusterState("v0.85.0", settings, FQDN, "1.33.10", 3, 3, "{}", {"properties": {"a": 1}})
    assert ClusterState.from_json(state.to_json()) == state
    assert "{}" not in repr(state)
    for text in ("", "[]", '{"schemaVersion": 2}', state.to_json().replace('"apimodelGzip":"', '"apimodelGzip":"!')):
        with pytest.raises(LifecycleError, match="unreadable") as raised:
            ClusterState.from_json(text)
        assert raised.value.exit_code == 2


# -- the real deleter against the project's fake hub ---------------------------------------------------


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    with FakeArm(identity_system="adfs", client_secret=CLIENT_SECRET, in_progress_polls=1) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_path)
        yield fake


def hub_access(hub: FakeArm) -> HubAccess:
    return HubAccess(hub.base_url, SUBSCRIPTION, "adfs", "adfs", hub.client_id, CLIENT_SECRET)


def test_the_arm_deleter_deletes_the_group_at_the_hubs_api_version(hub: FakeArm) -> None:
    group_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/ratings-k8s-rg"
    connection = HubConnection(hub.base_url, "adfs", SUBSCRIPTION, hub.client_id, "adfs")
    endpoints = discover_endpoints(hub.base_url)
    client = management_client(connection, build_credential(connection, CLIENT_SECRET, endpoints), endpoints)
    client.resources.begin_create_or_update_by_id(
        group_id, {"location": "local"}, api_version="2019-10-01", polling_interval=0.01
    ).result()
    assert hub.resource(group_id) is not None

    delete_resource_group_with_arm(hub_access(hub), "ratings-k8s-rg", polling_interval=0.01)

    (request,) = hub.arm_requests("DELETE")
    assert (request.path, request.api_version, request.status) == (group_id, "2019-10-01", 202)
    # The deleter waited for the long-running delete to finish, not only for it to be accepted.
    assert hub.resource(group_id) is None


def test_the_arm_deleter_accepts_a_group_that_never_existed(hub: FakeArm) -> None:
    delete_resource_group_with_arm(hub_access(hub), "never-created", polling_interval=0.01)
    assert [r.status for r in hub.arm_requests("DELETE")] == [404]


def test_the_arm_deleter_needs_a_tenant_on_azure_ad() -> None:
    access = HubAccess("https://management.local.azurestack.external", SUBSCRIPTION, None, "azure_ad", CLIENT_ID, "x")
    with pytest.raises(LifecycleError, match="needs tenantId"):
        delete_resource_group_with_arm(access, "ratings-k8s-rg")


# -- the egress proxy on stdin -------------------------------------------------------------------------------

PROXY_PASSWORD = "Pr0xy%40pw"
PROXY_URL = f"http://svc-egress:{PROXY_PASSWORD}@10.250.0.10:3128"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"HTTPS_PROXY={PROXY_URL}", "the second line of stdin is not JSON"),
        (json.dumps([PROXY_URL]), "must be a JSON object of proxy variables"),
        (json.dumps({"HTTPS_PROXY": PROXY_URL, "AKSENGINE_DESIRED": "{}"}), "not AKSENGINE_DESIRED"),
        (json.dumps({"HTTPS_PROXY": [PROXY_URL]}), "HTTPS_PROXY must be strings"),
    ],
    ids=["not-json", "not-an-object", "not-a-proxy-variable", "not-a-string"],
)
def test_a_bad_proxy_line_is_an_input_error_that_never_quotes_it(tmp_path: Path, line: str, message: str) -> None:
    # The component writes the client secret's line, then the proxy's (run_lifecycle adds the final newline).
    result = run_lifecycle("create", tmp_path, make_settings(), secret=f"{CLIENT_SECRET}\n{line}")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Pr0xy" not in result.stderr
    assert CLIENT_SECRET not in result.stderr
    assert result.invocations == []


def test_a_proxy_line_reaches_aks_engine_and_its_credentials_are_scrubbed(tmp_path: Path) -> None:
    proxy = {"HTTPS_PROXY": PROXY_URL, "https_proxy": PROXY_URL}
    # A stand-in first on PATH records the proxy variables it got and prints the URL, as a Go error would.
    seen = tmp_path / "proxy.json"
    stand_in = tmp_path / "bin" / "aks-engine-azurestack"
    stand_in.parent.mkdir()
    stand_in.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "if sys.argv[1] != 'version':\n"
        "    found = {k: v for k, v in os.environ.items() if 'PROXY' in k.upper()}\n"
        f"    open({str(seen)!r}, 'w').write(json.dumps(found))\n"
        "    print('proxyconnect tcp: dial', os.environ['HTTPS_PROXY'], flush=True)\n"
        f"os.execv({str(FAKE_BIN / 'aks-engine-azurestack')!r}, ['aks-engine-azurestack', *sys.argv[1:]])\n"
    )
    stand_in.chmod(0o700)
    path = f"{stand_in.parent}{os.pathsep}{FAKE_BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
    # The component writes the client secret's line, then the proxy's (run_lifecycle adds the final newline).
    result = run_lifecycle(
        "create", tmp_path, make_settings(), secret=f"{CLIENT_SECRET}\n{json.dumps(proxy)}", extra_env={"PATH": path}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(seen.read_text()) == proxy
    assert "proxyconnect tcp: dial http://***@10.250.0.10:3128" in result.stderr
    assert "Pr0xy" not in result.stderr
    assert result.invocations[0]["env_names"] == []


def test_proxy_credentials_are_known_in_every_form_they_may_be_printed_in() -> None:
    found = proxy_credentials({"HTTPS_PROXY": PROXY_URL, "HTTP_PROXY": "http://10.250.0.10:3128", "PATH": "x"})
    assert found == ["svc-egress:Pr0xy%40pw", "svc-egress:Pr0xy@pw", "Pr0xy%40pw", "Pr0xy@pw"]
    assert proxy_credentials({"NO_PROXY": "a@b", "HTTPS_PROXY": "http://10.250.0.10:3128"}) == []
    scrubber = Scrubber(found)
    shown = scrubber.line(f"proxyconnect tcp: {PROXY_URL} refused")
    assert shown == "proxyconnect tcp: http://***@10.250.0.10:3128 refused"
