"""AksEngineCluster as the hub stack composes it: wiring from HubNetwork, the lifecycle command, the outputs."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aksengine.apimodel import ClusterSettings, settings_from_dict, settings_to_dict, validate
from aksengine.lifecycle import ClusterState, LifecycleInput
from aksengine.refusals import cluster_change_refusals
from preview.engine import PROJECT_DIR, Registration, StackRun, is_secret, stack_config
from preview.render import as_json, as_tree
from stacks.config import ConfigError
from stacks.config import validate as validate_config
from stacks.hub import HubConfig
from tests.aksengine.testkit import FAKE_BIN
from tests.conftest import config_of, run_with

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
