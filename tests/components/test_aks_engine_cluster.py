"""AksEngineCluster as the hub stack composes it: wiring from HubNetwork, the lifecycle command, the outputs."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from aksengine.apimodel import ClusterSettings, settings_from_dict, settings_to_dict, validate
from aksengine.lifecycle import ClusterState, LifecycleInput
from aksengine.refusals import cluster_change_refusals
from components.aks_engine_cluster import AksEngineCluster, AksEngineClusterArgs, split_proxy_environment
from planning.egress import EgressProxy, proxy_environment
from preview.engine import PROJECT_DIR, Registration, StackRun, is_secret, run_stack, stack_config
from preview.render import as_json, as_tree
from stacks.config import ConfigError
from stacks.config import validate as validate_config
from stacks.hub import HubConfig
from tests.aksengine.testkit import FAKE_BIN
from tests.conftest import config_of, run_with
from tests.egress.certs import write_server_certificates
from tests.egress.connect_proxy import ConnectProxy
from tests.fakes import fake_arm
from tests.fakes.fake_arm import FakeArm

COMMAND = "command:local:Command"


def lifecycle_of(run: StackRun) -> Registration:
    (command,) = run.by_type(COMMAND)
    return command


def desired_of(run: StackRun) -> dict[str, Any]:
    return dict(json.loads(lifecycle_of(run).plain_inputs["environment"]["AKSENGINE_DESIRED"]))


def test_desired_settings_take_the_network_from_hub_network(seattle: StackRun) -> None:
    desired = desired_of(seattle)
    settings = desired["settings"]
    outputs = seattle.plain_outputs
    assert settings["subnet_id"] == outputs["clusterSubnetId"]
    assert settings["first_consecutive_static_ip"] == outputs["firstConsecutiveStaticIp"] == "10.10.3.224"
    assert (settings["vnet_cidr"], settings["subnet_cidr"]) == ("10.10.0.0/16", "10.10.0.0/22")
    assert (settings["master_count"], settings["agent_count"], settings["kubernetes_version"]) == (3, 3, "1.33.10")
    assert (settings["resource_group"], settings["dns_prefix"]) == ("hub-seattle-cluster", "hub-seattle")
    assert settings["portal_url"] == "https://portal.seattle.azurestack.contoso.com"
    assert settings["network_plugin"] == "azure"
    assert desired["tenantId"] == "6f1c2a4e-8b7d-4e53-9a0f-2d3c4b5a6e7f"
    (key,) = seattle.by_type("tls:index/privateKey:PrivateKey")
    assert settings["ssh_public_key"] == key.state["publicKeyOpenssh"].strip()


def test_the_desired_document_is_what_the_lifecycle_accepts(seattle: StackRun) -> None:
    environment = lifecycle_of(seattle).plain_inputs["environment"]
    parsed = LifecycleInput.from_environ({**environment, "AKSENGINE_CLIENT_SECRET": "s"})
    assert parsed.settings is not None
    assert validate(parsed.settings) == []


def test_the_secret_travels_on_stdin_and_the_settings_stay_reviewable(seattle: StackRun) -> None:
    command = lifecycle_of(seattle)
    assert is_secret(command.inputs["stdin"])
    assert command.plain_inputs["stdin"] == "offline-secret-armClientSecret"
    assert not is_secret(command.inputs["environment"])
    assert set(command.plain_inputs["environment"]) == {"AKSENGINE_DESIRED"}
    assert "offline-secret" not in command.plain_inputs["environment"]["AKSENGINE_DESIRED"]


def test_the_lifecycle_command_runs_the_module_quietly_and_is_protected(seattle: StackRun) -> None:
    command = lifecycle_of(seattle)
    inputs = command.plain_inputs
    for operation in ("create", "update", "delete"):
        assert inputs[operation].endswith(f"-m aksengine.lifecycle {operation}")
    assert inputs["logging"] == "stderr"
    # Nothing machine-specific: the provider runs in the project folder, with the project's virtualenv.
    assert inputs["create"] == ".venv/bin/python -m aksengine.lifecycle create"
    assert "dir" not in inputs
    assert command.protect
    assert seattle.named("hub-seattle-ssh").protect


def test_the_cluster_waits_for_the_network_and_the_provider_for_the_cluster(seattle: StackRun) -> None:
    urn = {r.name: r.urn for r in seattle.resources}
    command = lifecycle_of(seattle)
    assert urn["hub-seattle-vnet"] in command.dependencies
    assert urn["hub-seattle-ssh"] in command.dependencies
    provider = seattle.named("hub-seattle-k8s")
    assert provider.type == "pulumi:providers:kubernetes"
    assert urn["hub-seattle-aks-engine"] in provider.dependencies
    assert is_secret(provider.inputs["kubeconfig"])


def test_cluster_outputs_in_the_hub_contract(seattle: StackRun) -> None:
    outputs = seattle.outputs
    plain = seattle.plain_outputs
    assert set(plain) >= {
        "kubeconfig", "sshPrivateKey", "apiServerFqdn", "clusterResourceGroup", "masterCount", "agentCount",
        "kubernetesVersion", "aksEngineVersion",
    }  # fmt: skip
    assert is_secret(outputs["kubeconfig"])
    assert is_secret(outputs["sshPrivateKey"])
    assert plain["apiServerFqdn"] == "hub-seattle.seattle.cloudapp.azurestack.contoso.com"
    assert json.loads(plain["kubeconfig"])["clusters"][0]["cluster"]["server"] == (
        "https://hub-seattle.seattle.cloudapp.azurestack.contoso.com"
    )
    assert (plain["masterCount"], plain["agentCount"], plain["kubernetesVersion"]) == (3, 3, "1.33.10")
    assert (plain["clusterResourceGroup"], plain["aksEngineVersion"]) == ("hub-seattle-cluster", "v0.85.0")


def test_the_preview_shows_the_cluster_but_no_secret(seattle: StackRun) -> None:
    shown = as_json(seattle) + as_tree(seattle)
    assert "command:local:Command  hub-seattle-aks-engine  [protected]" in shown
    assert "AKSENGINE_DESIRED" in shown
    for secret in ("offline-secret", "PRIVATE KEY", "apimodelGzip", "client-certificate-data"):
        assert secret not in shown


BAD_CLUSTERS = [
    ({"masterCount": 2}, "stackhub-ha:masterCount = 2:"),
    ({"masterCount": 1}, "stackhub-ha:masterCount = 1:"),
    ({"agentCount": 1}, "stackhub-ha:agentCount = 1:"),
    ({"agentCount": 2}, "stackhub-ha:agentCount = 2: must be at least 3: the ratings database keeps 3 replica-set"),
    ({"kubernetesVersion": "1.32.9"}, "stackhub-ha:kubernetesVersion = '1.32.9':"),
    ({"dnsPrefix": "9hub"}, "stackhub-ha:dnsPrefix = '9hub':"),
    ({"agentPoolName": "Linux_Pool"}, "stackhub-ha:agentPoolName = 'Linux_Pool':"),
    ({"otherNodesInSubscription": 45}, "50"),
    ({"aksEngineVersion": "v0.84.0"}, "stackhub-ha:aksEngineVersion = 'v0.84.0': must be v0.85.0"),
    (
        {"clusterSubnetCidr": "10.10.0.0/24", "agentCount": 8},
        "stackhub-ha:clusterSubnetCidr = '10.10.0.0/24': holds 7 nodes at 30 pods each",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD_CLUSTERS, ids=[str(o) for o, _ in BAD_CLUSTERS])
def test_cluster_rules_fail_the_config_before_anything_is_registered(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_with("hub-seattle", config_of("hub-seattle", **overrides))
    assert any(expected in str(p) for p in caught.value.problems), caught.value.problems


def test_the_components_commands_drive_the_real_lifecycle(seattle: StackRun, tmp_path: Path) -> None:
    """Run the Command's own create and update lines, as pulumi-command would, against the fake AKS Engine."""
    inputs = lifecycle_of(seattle).plain_inputs
    env = {
        "PATH": f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "FAKE_AKSE_LOG": str(tmp_path / "calls.jsonl"),
        "AKSENGINE_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        **inputs["environment"],
    }

    def run(operation: str, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/sh", "-c", inputs[operation]], cwd=PROJECT_DIR, env={**env, **extra}, input=inputs["stdin"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    created = run("create", {})
    assert created.returncode == 0, created.stderr
    state = ClusterState.from_json(created.stdout)
    assert state.settings == settings_from_dict(desired_of(seattle)["settings"])
    assert state.api_server_fqdn == seattle.plain_outputs["apiServerFqdn"]

    desired = desired_of(seattle)
    desired["settings"]["agent_count"] = 5
    scaled = run("update", {"AKSENGINE_DESIRED": json.dumps(desired), "PULUMI_COMMAND_STDOUT": created.stdout})
    assert scaled.returncode == 0, scaled.stderr
    assert ClusterState.from_json(scaled.stdout).agent_count == 5
    calls = [json.loads(line)["argv"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [c[0] for c in calls if c[0] != "version"] == ["deploy", "scale"]
    assert "offline-secret-armClientSecret" not in created.stderr + scaled.stderr


def test_the_settings_guard_holds_the_configured_settings_and_gates_the_lifecycle(seattle: StackRun) -> None:
    guard = seattle.named("hub-seattle-settings-guard")
    command = lifecycle_of(seattle)
    assert guard.urn in command.dependencies
    held = guard.plain_inputs["settings"]
    assert (held["master_count"], held["dns_prefix"], held["agent_vm_size"]) == (3, "hub-seattle", "Standard_DS3_v2")
    # The guard's provider carries the cluster's rule, by reference, for the dynamic-provider host to import.
    assert b"aksengine.refusals" in base64.b64decode(guard.plain_inputs["__provider"])
    assert b"cluster_change_refusals" in base64.b64decode(guard.plain_inputs["__provider"])


def test_the_kubernetes_provider_is_identified_by_the_cluster_not_its_kubeconfig(seattle: StackRun) -> None:
    provider = seattle.named("hub-seattle-k8s")
    identity = "aks-engine:3b8e4d2a-1c9f-4a7e-b6d5-0e1f2a3b4c5d/hub-seattle-cluster/hub-seattle"
    assert provider.plain_inputs["clusterIdentifier"] == identity


def test_refusals_name_the_setting_and_both_values() -> None:
    settings = settings_to_dict(config_settings())
    assert cluster_change_refusals(settings, settings) == []
    assert cluster_change_refusals(settings, {**settings, "agent_count": 6, "kubernetes_version": "1.34.4"}) == []
    (reason,) = cluster_change_refusals(settings, {**settings, "master_count": 5, "agent_count": 4})
    assert reason.startswith("masterCount cannot change from 3 to 5: ")
    # Numbers arrive from the engine as float64.
    assert cluster_change_refusals(settings, {**settings, "master_count": 3.0}) == []
    # A field the deployed settings did not have yet counts as unchanged.
    older = {k: v for k, v in settings.items() if k != "max_pods"}
    assert cluster_change_refusals(older, settings) == []


def config_settings() -> ClusterSettings:
    values, secrets = stack_config("hub-seattle")
    plain = {k.removeprefix("stackhub-ha:"): v for k, v in values.items()}
    hub = validate_config(HubConfig, "hub-seattle", plain, {k.removeprefix("stackhub-ha:") for k in secrets})
    return hub.cluster_settings()


# --- the egress proxy: the lifecycle and aks-engine-azurestack reach the outside through it --------------------

PROXY = "http://10.250.0.10:3128"
PROXY_PASSWORD = "S3cr3t%25pw"
CREDENTIALED = f"http://svc-egress:{PROXY_PASSWORD}@10.250.0.10:3128"
NO_PROXY = ("localhost", "127.0.0.1", ".svc", ".cluster.local", "10.10.0.0/16", ".seattle.azurestack.contoso.com")


def run_cluster_with(environment: dict[str, str]) -> StackRun:
    """The component alone, as the hub stack builds it, with `proxy_environment`."""

    def program() -> None:
        AksEngineCluster(
            "hub-seattle",
            AksEngineClusterArgs(
                settings=config_settings(),
                subnet_id=SUBNET_ID,
                subnet_cidr="10.10.0.0/22",
                vnet_cidr="10.10.0.0/16",
                first_consecutive_static_ip="10.10.3.224",
                client_secret=pulumi.Output.secret("offline-secret-armClientSecret"),
                tenant_id="6f1c2a4e-8b7d-4e53-9a0f-2d3c4b5a6e7f",
                proxy_environment=environment,
            ),
        )

    return run_stack("hub-seattle", config={}, program=program)


SUBNET_ID = (
    "/subscriptions/3b8e4d2a-1c9f-4a7e-b6d5-0e1f2a3b4c5d/resourceGroups/hub-seattle-network/providers"
    "/Microsoft.Network/virtualNetworks/hub-seattle-vnet/subnets/cluster"
)


def test_a_proxy_without_credentials_is_shown_in_the_environment_and_stdin_is_unchanged() -> None:
    environment = proxy_environment(EgressProxy(PROXY), NO_PROXY)
    command = lifecycle_of(run_cluster_with(environment))
    assert not is_secret(command.inputs["environment"])
    shown = command.plain_inputs["environment"]
    assert {k: v for k, v in shown.items() if k != "AKSENGINE_DESIRED"} == environment
    assert shown["HTTPS_PROXY"] == PROXY
    assert is_secret(command.inputs["stdin"])
    assert command.plain_inputs["stdin"] == "offline-secret-armClientSecret"


def test_a_proxy_with_credentials_travels_on_stdin_and_the_settings_stay_reviewable() -> None:
    environment = proxy_environment(EgressProxy(CREDENTIALED), NO_PROXY)
    run = run_cluster_with(environment)
    command = lifecycle_of(run)
    # pulumi-command would hide the whole environment if one value were secret: none is, and none holds the URL.
    assert not is_secret(command.inputs["environment"])
    shown = command.plain_inputs["environment"]
    assert set(shown) == {"AKSENGINE_DESIRED", "NO_PROXY", "no_proxy"}
    assert shown["NO_PROXY"] == ",".join(NO_PROXY)
    assert "S3cr3t" not in json.dumps(shown)
    assert is_secret(command.inputs["stdin"])
    secret_line, proxy_line, rest = command.plain_inputs["stdin"].split("\n")
    assert (secret_line, rest) == ("offline-secret-armClientSecret", "")
    assert json.loads(proxy_line) == {k: v for k, v in environment.items() if k.lower() != "no_proxy"}
    assert "S3cr3t" not in as_json(run) + as_tree(run)


def test_the_proxy_environment_takes_proxy_variables_and_proxy_urls_only() -> None:
    with pytest.raises(ValueError, match=r"may only set HTTP_PROXY.*not AKSENGINE_DESIRED, PATH"):
        split_proxy_environment({"HTTPS_PROXY": PROXY, "PATH": "/bin", "AKSENGINE_DESIRED": "{}"})
    with pytest.raises(ValueError, match=r"proxy_environment\['HTTPS_PROXY'\] scheme 'https' is not supported"):
        split_proxy_environment({"HTTPS_PROXY": "https://10.250.0.10:3128"})
    with pytest.raises(ValueError, match="without spaces") as raised:
        split_proxy_environment({"HTTPS_PROXY": "http://user:pa ss@10.250.0.10:3128"})
    assert "pa ss" not in str(raised.value)
    # One URL with credentials hides every URL variable, so no spelling is shown while the other is hidden.
    shown, hidden = split_proxy_environment({"HTTP_PROXY": PROXY, "https_proxy": CREDENTIALED, "NO_PROXY": "a"})
    assert (shown, hidden) == ({"NO_PROXY": "a"}, {"HTTP_PROXY": PROXY, "https_proxy": CREDENTIALED})
    assert split_proxy_environment({}) == ({}, {})


HUB_NAME = "management.local.azurestack.external"
EGRESS_FAKE_BIN = Path(__file__).resolve().parents[1] / "egress" / "fake_bin"
"""The egress tests' aks-engine-azurestack: asks the hub's ARM with the proxy it was given, then runs the fake."""


@pytest.fixture
def arm_behind_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeArm, ConnectProxy]]:
    """The fake ARM under a name only the proxy resolves, behind a proxy that wants credentials."""
    monkeypatch.setattr(
        fake_arm, "_write_certificates", lambda directory: write_server_certificates(directory, [HUB_NAME])
    )
    with (
        FakeArm(location="local") as hub,
        ConnectProxy(resolve={HUB_NAME: "127.0.0.1"}, credentials=("svc-egress", "S3cr3t%pw")) as proxy,
    ):
        yield hub, proxy


def test_the_commands_hand_the_credentialed_proxy_to_aks_engine(
    arm_behind_proxy: tuple[FakeArm, ConnectProxy], tmp_path: Path
) -> None:
    """Run the Command's create line as pulumi-command would (its environment and stdin) through a real proxy."""
    hub, proxy = arm_behind_proxy
    url = proxy.url_with("svc-egress", PROXY_PASSWORD)
    environment = proxy_environment(EgressProxy(url), ("127.0.0.1",))
    inputs = lifecycle_of(run_cluster_with(environment)).plain_inputs
    # A stand-in first on PATH that prints the proxy it was given, as a Go error would, then runs the egress fake.
    talkative = tmp_path / "bin" / "aks-engine-azurestack"
    talkative.parent.mkdir()
    talkative.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        "print('proxyconnect tcp: dial via', os.environ.get('HTTPS_PROXY'), flush=True)\n"
        f"os.execv({str(EGRESS_FAKE_BIN / 'aks-engine-azurestack')!r}, ['aks-engine-azurestack', *sys.argv[1:]])\n"
    )
    talkative.chmod(0o700)
    env = {
        "PATH": os.pathsep.join([str(talkative.parent), str(EGRESS_FAKE_BIN), str(FAKE_BIN), os.environ["PATH"]]),
        "TMPDIR": str(tmp_path),
        "FAKE_AKSE_LOG": str(tmp_path / "calls.jsonl"),
        "FAKE_AKSE_ARM_URL": f"https://{HUB_NAME}:{hub.base_url.rsplit(':', 1)[1]}",
        "FAKE_AKSE_ARM_CA": hub.ca_path,
        "FAKE_EGRESS_LOG": str(tmp_path / "egress.jsonl"),
        "AKSENGINE_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        **inputs["environment"],
    }
    created = subprocess.run(
        ["/bin/sh", "-c", inputs["create"]], cwd=PROJECT_DIR, env=env, input=inputs["stdin"], capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    [record] = [json.loads(line) for line in (tmp_path / "egress.jsonl").read_text().splitlines()]
    assert record["command"] == "deploy"
    assert record.get("status") == 200, record
    assert record["proxy"] == environment
    assert record["unexpected"] == []
    assert {a.user for a in proxy.attempts if a.status == 200} == {"svc-egress"}
    assert "proxyconnect tcp: dial via http://***@127.0.0.1" in created.stderr
    for shown in (created.stderr, created.stdout):
        assert "S3cr3t" not in shown
