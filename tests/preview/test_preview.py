"""The offline preview as a user runs it, and the program's behaviour on bad config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
from pulumi_azure_native.resources import ResourceGroup

from preview.__main__ import main as preview_main
from preview.__main__ import stack_references
from preview.engine import (
    PROJECT_DIR,
    is_secret,
    registered_by_failed_run,
    run_stack,
    run_stack_with_references,
    stack_config,
)
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
    # Pulumi's preview digest (pkg/display/json.go) plus the policy events and our reviewer's additions.
    assert set(document) >= {"config", "steps", "diagnostics", "duration", "changeSummary", "maybeCorrupt"}
    assert (document["stackhubHa"]["project"], document["stackhubHa"]["stack"]) == ("stackhub-ha", "hub-seattle")
    arm = [s["newState"] for s in document["steps"] if "resource_id" in s["newState"]["inputs"]]
    assert {r["inputs"]["api_version"] for r in arm} == {"2019-10-01", "2018-11-01"}
    for step in document["steps"]:
        assert set(step) == {
            "op", "urn", "provider", "oldState", "newState", "diffReasons", "replaceReasons", "detailedDiff",
        }  # fmt: skip
        assert (step["op"], step["oldState"]) == ("create", None)
        assert "__provider" not in step["newState"]["inputs"]
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
    with pytest.raises(ConfigError) as caught:
        run_with("hub-seattle", config_of("hub-seattle", vnetCidr="bad"))
    assert registered_by_failed_run(caught.value) == ()

    # A failure after resources were declared is reported with them: the record is real, not always empty.
    def failing_program() -> None:
        pulumi.export("before", "x")
        ResourceGroup("declared-first", resource_group_name="rg")
        raise pulumi.RunError("fails after one resource")

    with pytest.raises(pulumi.RunError) as late:
        run_stack("shared", program=failing_program)
    assert [urn.rsplit("::", 1)[-1] for urn in registered_by_failed_run(late.value)] == ["declared-first"]
    # A good run afterwards in the same process records its own resources only.
    good = run_stack_with_references("hub-seattle")
    assert len(good.arm()) == 4


def test_an_update_preview_from_a_saved_state(tmp_path: Path) -> None:
    state = tmp_path / "seattle.json"
    up = preview("hub-seattle", "--up", "--save-state", str(state))
    assert up.returncode == 0, up.stderr
    assert '"4dabf18193072939515e22adb298388d"' in state.read_text()  # secrets keep Pulumi's secret mark
    same = preview("hub-seattle", "--state", str(state))
    assert same.returncode == 0, same.stderr
    assert "\nResources: 76 unchanged\n" in same.stdout
    # A first preview leaves unknown what only exists after an up; the update preview shows the deployed values.
    first = preview("hub-seattle")
    assert 'ingressIp: "(known after pulumi up)"' in first.stdout
    assert 'ingressIp: "203.0.113.' in same.stdout


def test_an_update_preview_that_the_engine_refuses_exits_1_with_the_reasons(tmp_path: Path) -> None:
    state = tmp_path / "seattle.json"
    assert preview("hub-seattle", "--up", "--save-state", str(state)).returncode == 0
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    stack_file = (PROJECT_DIR / "Pulumi.hub-seattle.yaml").read_text() + "  stackhub-ha:masterCount: 5\n"
    (project / "Pulumi.hub-seattle.yaml").write_text(stack_file)
    (project / "Pulumi.shared.yaml").write_text((PROJECT_DIR / "Pulumi.shared.yaml").read_text())
    refused = preview("hub-seattle", "--state", str(state), "--project-dir", str(project))
    assert refused.returncode == 1
    assert "~ pulumi-python:dynamic:Resource  hub-seattle-settings-guard" in refused.stdout
    assert "error: pulumi-python:dynamic:Resource resource 'hub-seattle-settings-guard' has a problem: " in (
        refused.stdout
    )
    assert "masterCount cannot change from 3 to 5" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr


def test_credentials_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARM_CLIENT_SECRET", "from-the-environment")
    monkeypatch.setenv("ARM_CLIENT_ID", "0f0f0f0f-1111-4222-8333-444455556666")
    values = config_of("hub-seattle", armClientSecret=None, armClientId=None)
    run = run_with("hub-seattle", values, secret_keys={"dnsSolverClientSecret", "backupVerificationKey"})
    for resource in run.arm():
        assert is_secret(resource.inputs["client_secret"])
        assert resource.plain_inputs["client_secret"] == "from-the-environment"
        assert resource.plain_inputs["connection"]["client_id"] == "0f0f0f0f-1111-4222-8333-444455556666"


def test_secure_values_in_stack_files_become_secrets_offline() -> None:
    values, secrets = stack_config("hub-denver")
    assert secrets == {"stackhub-ha:armClientSecret"}
    assert values["stackhub-ha:armClientSecret"] == "offline-secret-armClientSecret"


def test_out_writes_the_apimodel_and_each_hub_arm_request_without_secrets(tmp_path: Path) -> None:
    result = preview("hub-seattle", "--up", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    model = json.loads((tmp_path / "aksengine" / "hub-seattle-aks-engine.apimodel.json").read_text())
    properties = model["properties"]
    assert properties["masterProfile"]["count"] == 3
    assert properties["orchestratorProfile"]["orchestratorVersion"] == "1.33.10"
    assert "offline-secret" not in json.dumps(model)
    requests = sorted((tmp_path / "arm").glob("*.json"))
    # A first deployment PUTs the group, the ingress address, the NSG and the VNet, in registration order.
    assert [p.name for p in requests] == [
        "01-put-hub-seattle-network.json",
        "02-put-hub-seattle-ingress-ip.json",
        "03-put-hub-seattle-cluster-nsg.json",
        "04-put-hub-seattle-vnet.json",
    ]
    nsg = json.loads(requests[2].read_text())
    assert (nsg["method"], nsg["apiVersion"]) == ("PUT", "2018-11-01")
    assert nsg["path"].endswith("/networkSecurityGroups/hub-seattle-cluster-nsg")
    rules = {r["name"] for r in nsg["body"]["properties"]["securityRules"]}
    assert "allow-web-to-ingress" in rules
    everything = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert "offline-secret" not in everything
    # The ARM requests carry the body only: the credential the provider holds is not part of any request.
    assert all("client_secret" not in p.read_text() for p in requests)


def test_mermaid_shows_the_components_and_for_the_global_stack_its_fan_in_over_the_hubs() -> None:
    result = preview("global", "--mermaid")
    assert result.returncode == 0, result.stderr
    graphs = result.stdout.split("```mermaid")[1:]
    assert len(graphs) == 2
    fan_in = graphs[1]
    names = dict(re.findall(r'(n\d+)\["([\w-]+)"\]', fan_in))
    edges = {(names[a], names[b]) for a, b in re.findall(r"(n\d+) --> (n\d+)", fan_in)}
    assert edges == {
        ("hub-seattle", "global"), ("hub-denver", "global"), ("shared", "global"),
        ("shared", "hub-seattle"), ("shared", "hub-denver"),
    }  # fmt: skip
    assert stack_references(PROJECT_DIR)["global"] == ["shared", "hub-seattle", "hub-denver"]
