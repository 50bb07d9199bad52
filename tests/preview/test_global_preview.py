"""`python -m preview global`: the referenced stacks are run offline first, so the preview shows the real wiring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from preview.__main__ import main as preview_main
from preview.digest import stack_outputs
from preview.engine import (
    CACHE_DIR,
    PROJECT_DIR,
    StackReferenceError,
    is_unknown,
    offline_ip,
    run_stack,
    run_stack_with_references,
    source_digest,
    stack_config,
    stack_names,
)
from preview.state import from_export_outputs

PREFIX = "stackhub-ha:"


def preview(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARM_")}
    return subprocess.run(
        [sys.executable, "-m", "preview", *args], cwd=PROJECT_DIR, capture_output=True, text=True, env=env, check=False
    )


def project_with(tmp_path: Path, stacks: dict[str, str]) -> Path:
    """A copy of the project's Pulumi.yaml with the given stack files."""
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for name, text in stacks.items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text(text)
    return tmp_path


def stack_file(name: str) -> str:
    return (PROJECT_DIR / f"Pulumi.{name}.yaml").read_text()


def setting(stack: str, key: str) -> Any:
    """One `stackhub-ha:` key of a stack file."""
    values, _ = stack_config(stack)
    return values[PREFIX + key]


def ingress_address(hub_stack: str) -> str:
    """The address ARM gives the hub's ingress IP, whose id is built from the hub's stack file (HubNetwork's
    naming rule), not read from anything the program exported."""
    group = (
        f"/subscriptions/{setting(hub_stack, 'subscriptionId')}/resourceGroups/{setting(hub_stack, 'resourceGroup')}"
    )
    return offline_ip(
        f"{group}/providers/Microsoft.Network/publicIPAddresses/{setting(hub_stack, 'hubName')}-ingress-ip"
    )


def one(document: dict[str, Any], type_: str) -> dict[str, Any]:
    """The new state of the one resource of this type in a `--json` document (Pulumi's preview digest)."""
    found: list[dict[str, Any]] = [
        s["newState"] for s in document["steps"] if s["newState"] and s["newState"]["type"] == type_
    ]
    (resource,) = found
    return resource


def test_endpoint_targets_are_the_hub_previews_ingress_ips() -> None:
    result = preview("global", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    targets = {
        e["name"]: e["target"] for e in one(document, "azure-native:trafficmanager:Profile")["inputs"]["endpoints"]
    }
    # One endpoint per hub of the global stack file, each aimed at the address ARM gave that hub's ingress IP.
    hub_stacks = [hub["stack"] for hub in setting("global", "hubs")]
    expected = {setting(hub, "hubName"): ingress_address(hub) for hub in hub_stacks}
    assert len(set(expected.values())) == len(hub_stacks) == 2
    assert targets == expected
    assert stack_outputs(document)["endpointTargets"] == expected
    # The CNAME goes into the shared stack's zone, in the shared stack's resource group (its stack file).
    record = one(document, "azure-native:dns:RecordSet")
    zone = setting("shared", "dnsZoneName")
    assert record["inputs"]["resourceGroupName"] == setting("shared", "resourceGroup")
    assert record["inputs"]["zoneName"] == zone
    assert record["inputs"]["relativeRecordSetName"] == setting("global", "appHostname").removesuffix(f".{zone}")
    assert record["inputs"]["recordType"] == "CNAME"
    assert "offline-secret" not in result.stdout


def test_the_cname_points_at_the_profiles_trafficmanager_name() -> None:
    # The profile's FQDN is only known once it exists: an offline up. Traffic Manager names a profile
    # <relativeName>.trafficmanager.net; the relative name comes from the global stack file.
    result = preview("global", "--json", "--up")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    profile_fqdn = f"{setting('global', 'dnsRelativeName')}.trafficmanager.net"
    assert profile_fqdn == "contoso-ratings.trafficmanager.net"
    assert one(document, "azure-native:dns:RecordSet")["inputs"]["cnameRecord"] == {"cname": profile_fqdn}
    assert stack_outputs(document)["profileFqdn"] == profile_fqdn
    assert "offline-secret" not in result.stdout


def test_the_tree_preview_of_the_global_stack() -> None:
    result = preview("global")
    assert result.returncode == 0, result.stderr
    assert "+ stackhub-ha:index:GlobalTrafficManager  traffic" in result.stdout
    assert "+ azure-native:trafficmanager:Profile  traffic-profile  [protected]" in result.stdout
    assert "+ azure-native:dns:RecordSet  traffic-cname" in result.stdout


def test_the_shared_preview_redacts_every_credential() -> None:
    result = preview("shared", "--json")
    assert result.returncode == 0, result.stderr
    outputs = stack_outputs(json.loads(result.stdout))
    for key in ("registryPullPassword", "logsClientSecret", "backupSasToken"):
        assert outputs[key] == "[secret]"
    assert "offline-secret" not in result.stdout
    assert "sig=" not in result.stdout


def test_every_stack_file_previews(capsys: pytest.CaptureFixture[str]) -> None:
    # What `make preview` runs: one preview per Pulumi.<stack>.yaml.
    assert {"hub-seattle", "hub-denver", "shared", "global"} <= set(stack_names())
    for stack in stack_names():
        assert preview_main([stack]) == 0, capsys.readouterr().err
    capsys.readouterr()


def test_overlapping_hubs_stop_the_preview_with_one_message_and_no_traceback(tmp_path: Path) -> None:
    overlapping = (
        stack_file("hub-denver").replace("10.20.0.0/16", "10.10.0.0/16").replace("10.20.0.0/22", "10.10.0.0/22")
    )
    project = project_with(
        tmp_path,
        {
            "hub-seattle": stack_file("hub-seattle"),
            "hub-denver": overlapping,
            "shared": stack_file("shared"),
            "global": stack_file("global"),
        },
    )
    result = preview("global", "--project-dir", str(project))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Stack 'global' cannot use what the stacks it references export (1 problem(s)):",
        "  - stackhub-ha:hubs[1].stack = 'hub-denver': address space 10.10.0.0/16 of hub hub-denver overlaps "
        "10.10.0.0/16 of hub hub-seattle (hubs[0]): hubs that replicate over VPN need distinct address spaces "
        "(change one hub's vnetCidr, or set hubs[1].replicatesOverVpn to false if the hub never joins the VPN)",
        "Deploy or fix the referenced stacks (or the keys named above), then run this stack again.",
    ]


def test_a_referenced_stack_without_a_stack_file_is_named(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"hub-seattle": stack_file("hub-seattle"), "global": stack_file("global")})
    result = preview("global", "--project-dir", str(project))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "stack 'global' references stack 'hub-denver', which has no Pulumi.hub-denver.yaml to run offline"
    )


def test_a_broken_referenced_stack_reports_its_own_config(tmp_path: Path) -> None:
    broken = stack_file("hub-denver").replace("10.20.0.0/22", "10.99.0.0/22")
    project = project_with(
        tmp_path,
        {"hub-seattle": stack_file("hub-seattle"), "hub-denver": broken, "shared": stack_file("shared"),
         "global": stack_file("global")},
    )  # fmt: skip
    result = preview("global", "--project-dir", str(project))
    assert result.returncode == 1
    assert "Invalid configuration for stack 'hub-denver' (1 problem(s)):" in result.stderr
    assert "Traceback" not in result.stderr


def test_stacks_that_reference_each_other_are_refused(tmp_path: Path) -> None:
    selfish = stack_file("global").replace("- stack: hub-denver", "- stack: acme/stackhub-ha/global")
    project = project_with(tmp_path, {"hub-seattle": stack_file("hub-seattle"), "shared": stack_file("shared"),
                                      "global": selfish})  # fmt: skip
    with pytest.raises(StackReferenceError, match=r"^stacks reference each other: global -> global$"):
        run_stack_with_references("global", project_dir=project)


def test_a_stack_with_references_gives_what_run_stack_gives_with_their_outputs() -> None:
    # hub-seattle reads the shared stack: run_stack_with_references must run it as an offline up with the outputs
    # of an offline up of the shared stack, exactly as run_stack does when given them.
    with_references = run_stack_with_references("hub-seattle")
    expected = run_stack("hub-seattle", stack_outputs={"shared": run_stack("shared").outputs})
    assert (with_references.mode, expected.mode) == ("up", "up")
    assert not [k for k, v in expected.outputs.items() if is_unknown(v)]
    assert with_references.outputs == expected.outputs
    assert {r.urn: r.inputs for r in with_references.resources} == {r.urn: r.inputs for r in expected.resources}
    assert {r.urn: r.state for r in with_references.resources} == {r.urn: r.state for r in expected.resources}


def test_referenced_outputs_come_from_the_cache_only_while_the_sources_are_unchanged(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.shared.yaml", "Pulumi.hub-seattle.yaml", "requirements.txt"):
        (project / name).write_text((PROJECT_DIR / name).read_text())
    before = source_digest(project)
    shared = project / "Pulumi.shared.yaml"
    shared.write_text(shared.read_text().replace("contosoratings", "contosoratings2"))
    assert source_digest(project) != before
    # What the cache hands back is what an offline up gives.
    first = run_stack_with_references("hub-seattle")
    second = run_stack_with_references("hub-seattle")
    assert first.outputs == second.outputs
    cached = PROJECT_DIR / CACHE_DIR / f"shared-{source_digest(PROJECT_DIR)}.json"
    assert from_export_outputs(json.loads(cached.read_text())) == run_stack("shared").outputs
