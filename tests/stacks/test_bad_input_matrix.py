"""Every bad input a clear error (issue 12): a matrix of bad inputs over the three roles, run through the program.

Each case runs the real program entry (`stacks.main`, the role's program, its config model) under the offline
engine, with one stack file's config changed, and asserts what the program decided: a ConfigError (what `python -m
preview` and the Pulumi language host turn into exit status 1 with that message alone), naming the key and the
value, with no secret value in it, and no resource registered. A handful run as real `python -m preview`
processes on a temporary stack file: exit status 1, the message on stderr, no traceback, nothing previewed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from preview.engine import PROJECT_DIR, registered_by_failed_run
from preview.stack_file import StackFileError, read_stack_config
from stacks.config import ConfigError
from tests.conftest import config_of, run_with

HUB, SHARED, GLOBAL = "hub-seattle", "shared", "global"


@dataclass(frozen=True)
class Case:
    """One bad input: the stack it is fed to, the keys changed, and what the message must name."""

    stack: str
    overrides: dict[str, Any]
    key: str
    """The config key the message names (`stackhub-ha:<key> = ...`)."""
    value: str
    """How the message shows the value."""
    says: str
    """A part of what the message says is allowed."""
    secret_keys: set[str] | None = None
    """The secret keys, when a case changes which are (None: the stack file's)."""
    hidden: tuple[str, ...] = field(default_factory=tuple)
    """Values that must not appear anywhere in the message (secrets)."""

    @property
    def name(self) -> str:
        return f"{self.stack}:{self.key}={self.value}"


def tags(count: int) -> dict[str, str]:
    return {f"tag{i}": "x" for i in range(count)}


SEATTLE_HOST = "hub-seattle-ingress.seattle.cloudapp.azurestack.contoso.com"

HUB_CASES = [
    # VM sizes: the hub's size table (hub_facts.VM_SIZES), the role's minimum, the application's sizing.
    Case(HUB, {"masterVmSize": "Standard_DS2v2"}, "masterVmSize", "'Standard_DS2v2'",
         "is not a VM size Azure Stack Hub offers (hub_facts.VM_SIZES); closest: Standard_DS2_v2"),
    Case(HUB, {"masterVmSize": "Standard_DS1_v2"}, "masterVmSize", "'Standard_DS1_v2'",
         "has 1 vCPU and 3.5 GiB; a master needs at least 2 vCPU and 7 GiB"),
    Case(HUB, {"agentVmSize": "Standard_F2s_v2"}, "agentVmSize", "'Standard_F2s_v2'",
         "has 2 vCPU and 4 GiB; a agent needs at least 2 vCPU and 7 GiB: every worker runs a MongoDB member"),
    Case(HUB, {"agentVmSize": "Standard_NC6s_v3"}, "agentVmSize", "'Standard_NC6s_v3'",
         "is not a VM size Azure Stack Hub offers"),
    Case(HUB, {"agentCount": 2}, "agentCount", "2", "must be at least 3: the ratings database keeps 3 replica-set"),
    Case(HUB, {"agentCount": "three"}, "agentCount", "'three'", "Input should be a valid integer"),
    Case(HUB, {"masterCount": 4}, "masterCount", "4", "3 or 5"),
    Case(HUB, {"kubernetesVersion": "1.30.0"}, "kubernetesVersion", "'1.30.0'", "one of 1.33.10, 1.34.4, 1.35.0"),
    Case(HUB, {"agentPoolName": "Linux_Pool"}, "agentPoolName", "'Linux_Pool'", "a lowercase letter"),
    # The reboot window: zoneinfo, kured's reading of start and end, a misspelt nested key.
    Case(HUB, {"rebootWindow": {"timeZone": "Mars/Olympus_Mons"}}, "rebootWindow.timeZone", "'Mars/Olympus_Mons'",
         "must be an IANA time zone that exists"),
    Case(HUB, {"rebootWindow": {"startTime": "03:00", "endTime": "03:00"}}, "rebootWindow.endTime", "'03:00'",
         "equals startTime (03:00): kured reads that as a one-minute window, not a whole day"),
    Case(HUB, {"rebootWindow": {"startTime": "02:00", "endTime": "02:30"}}, "rebootWindow.endTime", "'02:30'",
         "leaves a 31-minute window (02:00-02:30); kured checks each node every 60 minutes"),
    Case(HUB, {"rebootWindow": {"startTime": "2:00"}}, "rebootWindow.startTime", "'2:00'",
         "must be a time of day HH:MM on a 24-hour clock"),
    Case(HUB, {"rebootWindow": {"timezone": "UTC"}}, "rebootWindow.timezone", "'UTC'",
         "unknown key; did you mean 'timeZone'?"),
    Case(HUB, {"rebootWindow": {"days": ["mo", "mo"]}}, "rebootWindow.days", "('mo', 'mo')",
         "lists a day more than once"),
    Case(HUB, {"rebootWindow": {"days": ["monday"]}}, "rebootWindow.days[0]", "'monday'", "Input should be 'mo'"),
    Case(HUB, {"rebootWindow": "02:00-05:00"}, "rebootWindow", "'02:00-05:00'", "Input should be a valid dictionary"),
    # Host names: the rule the ingress holds them to, and one name per role.
    Case(HUB, {"hubHostname": "www.ratings.contoso.com"}, "hubHostname", "'www.ratings.contoso.com'",
         "must differ from sharedHostname"),
    Case(HUB, {"hubHostname": "seattle.ratings.contoso.l0cal"}, "hubHostname", "'seattle.ratings.contoso.l0cal'",
         "a top-level label of letters only"),
    Case(HUB, {"sharedHostname": "www_ratings.contoso.com"}, "sharedHostname", "'www_ratings.contoso.com'",
         "must be a fully qualified DNS name"),
    Case(HUB, {"armEndpoint": "https://management.seattle.azurestack.lab2", "portalUrl": None}, "hubHostname",
         "(not set; derived 'hub-seattle-ingress.seattle.cloudapp.azurestack.lab2')",
         "the name derived from hubName, location and armEndpoint must be a fully qualified DNS name"),
    # Networks: the admin networks alone and together, the VNet against the cluster's Service range.
    Case(HUB, {"adminSourceCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, "adminSourceCidrs[0]", "'0.0.0.0/1'",
         "opens SSH and the Kubernetes API to 2,147,483,648 public addresses"),
    Case(HUB, {"adminSourceCidrs": ["0.0.0.0/0"]}, "adminSourceCidrs[0]", "'0.0.0.0/0'", "must not be 0.0.0.0/0"),
    Case(HUB, {"adminSourceCidrs": ["8.0.0.0/7"]}, "adminSourceCidrs[0]", "'8.0.0.0/7'",
         "may be at most a /8"),
    Case(HUB, {"adminSourceCidrs": ["10.250.10.0/24", "300.1.1.0/24"]}, "adminSourceCidrs[1]", "'300.1.1.0/24'",
         "not a valid CIDR"),
    Case(HUB, {"vnetCidr": "10.0.0.0/8"}, "vnetCidr", "'10.0.0.0/8'",
         "overlaps the cluster's Service address range 10.0.0.0/16"),
    Case(HUB, {"vnetCidr": "10.0.0.0/16", "clusterSubnetCidr": "10.0.0.0/22"}, "vnetCidr", "'10.0.0.0/16'",
         "overlaps the cluster's Service address range"),
    Case(HUB, {"clusterSubnetCidr": "10.99.0.0/22"}, "clusterSubnetCidr", "'10.99.0.0/22'",
         "must lie inside the VNet address space 10.10.0.0/16"),
    # The database volume against the largest disk a hub offers.
    Case(HUB, {"databaseVolumeSize": "2048Gi"}, "databaseVolumeSize", "'2048Gi'",
         "is 2048 GiB; the largest managed disk a hub offers is 1023 GiB (M30)"),
    Case(HUB, {"databaseVolumeSize": "16GB"}, "databaseVolumeSize", "'16GB'", "String should match pattern"),
    # Tags Resource Manager refuses, and user tags that would override the program's.
    Case(HUB, {"tags": {"cost/center": "platform"}}, "tags.cost/center", "'platform'",
         "tag name contains /, which Resource Manager refuses"),
    Case(HUB, {"tags": {"managed-by": "me"}}, "tags.managed-by", "'me'",
         "would override the tag 'managed-by' the program sets"),
    Case(HUB, {"tags": {"Hub": "elsewhere"}}, "tags.Hub", "'elsewhere'", "would override the tag 'hub'"),
    Case(HUB, {"tags": {"env": "a", "ENV": "b"}}, "tags.ENV", "'b'", "is the same tag as 'env'"),
    Case(HUB, {"tags": tags(14)}, "tags", "(14 tags)", "exceeds the 15 tags a resource may carry"),
    Case(HUB, {"tags": {"note": "n" * 300}}, "tags.note", "'nnnn", "tag value of 300 characters; at most 256"),
    # Registries and images: the chart path, a scheme, ports, pinned tags.
    Case(HUB, {"chartRegistry": "registry.contoso.local/helm"}, "chartRegistry", "'registry.contoso.local/helm'",
         "must not end in /helm"),
    Case(HUB, {"chartRegistry": "oci://Registry.contoso.local"}, "chartRegistry", "'oci://Registry.contoso.local'",
         "in lowercase, optionally with oci://"),
    Case(HUB, {"imageRegistry": "https://registry.contoso.local"}, "imageRegistry",
         "'https://registry.contoso.local'", "without a scheme"),
    Case(HUB, {"mongoImage": "mongo:latest"}, "mongoImage", "'mongo:latest'", "image tag latest is not pinned"),
    Case(HUB, {"mongoImage": "mongo"}, "mongoImage", "'mongo'", "image has no tag: pin one (such as mongo:8.0.17)"),
    Case(HUB, {"mongoImage": "registry.contoso.local:99999/mongo:8.0.17"}, "mongoImage",
         "'registry.contoso.local:99999/mongo:8.0.17'", "image registry port 99999 is outside 1-65535"),
    Case(HUB, {"ratingsApiTag": "latest"}, "ratingsApiTag", "'latest'", "must be a pinned tag, not latest"),
    Case(HUB, {"ratingsWebTag": "v1@sha256:abc"}, "ratingsWebTag", "'v1@sha256:abc'", "@sha256:<64 hex digits>"),
    Case(HUB, {"backupPythonImage": "python"}, "backupPythonImage", "'python'", "image has no tag"),
    Case(HUB, {"backupTimeZone": "Mars/Olympus_Mons"}, "backupTimeZone", "'Mars/Olympus_Mons'",
         "not an IANA name"),
    Case(HUB, {"backupSchedule": "* * * * *"}, "backupSchedule", "'* * * * *'", "fires more than once an hour"),
    # Keys, roles, identities and secrets.
    Case(HUB, {"vnetCdir": "10.10.0.0/16"}, "vnetCdir", "'10.10.0.0/16'", "unknown key; did you mean 'vnetCidr'?"),
    Case(HUB, {"role": "edge"}, "role", "'edge'", "must be one of: hub, shared, global"),
    Case(HUB, {"hubName": "Hub_Seattle"}, "hubName", "'Hub_Seattle'", "String should match pattern"),
    Case(HUB, {"location": "Seattle West"}, "location", "'Seattle West'", "String should match pattern"),
    Case(HUB, {"identitySystem": "ldap"}, "identitySystem", "'ldap'", "Input should be 'azure_ad' or 'adfs'"),
    Case(HUB, {"armClientSecret": "hunter2-plain"}, "armClientSecret", "[secret]", "is a secret stored in plain text",
         secret_keys={"dnsSolverClientSecret", "backupVerificationKey"}, hidden=("hunter2",)),
    Case(HUB, {"dnsSolverClientSecret": {"nested": "hunter2-nested"}}, "dnsSolverClientSecret", "[secret]",
         "Input should be a valid string", hidden=("hunter2",)),
]  # fmt: skip


SHARED_CASES = [
    Case(SHARED, {"location": "wetsus2"}, "location", "'wetsus2'",
         "is not a public Azure region; did you mean 'westus2'?"),
    Case(SHARED, {"location": "West US 2"}, "location", "'West US 2'",
         "must be the region's name, not its display name: 'westus2'"),
    Case(SHARED, {"backupSasExpiry": "2020-01-01"}, "backupSasExpiry", "'2020-01-01'",
         "is not after today"),
    Case(SHARED, {"backupSasExpiry": "2027-02-30"}, "backupSasExpiry", "'2027-02-30'", "must be a date YYYY-MM-DD"),
    Case(SHARED, {"tags": {"role": "backup"}}, "tags.role", "'backup'", "would override the tag 'role'"),
    Case(SHARED, {"tags": {"c" * 129: "v"}}, "tags", "'cccc", "tag name of 129 characters; at most 128"),
    Case(SHARED, {"tags": {"50%": "v"}}, "tags.50%", "'v'", "tag name contains %"),
    Case(SHARED, {"registryName": "acr"}, "registryName", "'acr'", "String should match pattern"),
    Case(SHARED, {"backupImmutabilityDays": 10}, "backupImmutabilityDays", "10",
         "must be at least backupRetentionDays (35)"),
    Case(SHARED, {"registryPullRepositories": ["ratings-api", "ratings-api"]}, "registryPullRepositories",
         "'ratings-api'", "is listed more than once"),
    Case(SHARED, {"registryNme": "contosoratings"}, "registryNme", "'contosoratings'",
         "did you mean 'registryName'?"),
    Case(SHARED, {"logPublisherClientSecret": "hunter2-plain"}, "logPublisherClientSecret", "[secret]",
         "is a secret stored in plain text", secret_keys={"registryPullPassword"}, hidden=("hunter2",)),
]  # fmt: skip

GLOBAL_CASES = [
    Case(GLOBAL, {"hubs": [{"stack": "hub-seattle", "endpointLocation": "West US2"}]}, "hubs[0].endpointLocation",
         "'West US2'", "is not a public Azure region; did you mean 'West US 2'?"),
    Case(GLOBAL, {"hubs": [{"stack": "hub-seattle", "endpointLocation": "Mars"}]}, "hubs[0].endpointLocation",
         "'Mars'", "is not a public Azure region"),
    Case(GLOBAL, {"monitorProtocol": "HTTP", "monitorPort": 443}, "monitorPort", "443",
         "is the HTTPS port but monitorProtocol is HTTP"),
    Case(GLOBAL, {"monitorProtocol": "HTTPS", "monitorPort": 80}, "monitorPort", "80",
         "is the HTTP port but monitorProtocol is HTTPS"),
    Case(GLOBAL, {"location": "mars"}, "location", "'mars'", "is not a public Azure region"),
    Case(GLOBAL, {"tags": {"Managed-By": "me"}}, "tags.Managed-By", "'me'", "would override the tag 'managed-by'"),
    Case(GLOBAL, {"tags": {"a<b": "x"}}, "tags.a<b", "'x'", "tag name contains <"),
    Case(GLOBAL, {"hubs": [{"stack": "hub-seattle", "endpointLocaton": "West US 2"}]}, "hubs[0]",
         "{", "unknown hub setting 'endpointLocaton'; did you mean 'endpointLocation'?"),
    Case(GLOBAL, {"monitorIntervalSeconds": 20}, "monitorIntervalSeconds", "'20'", "must be 10 or 30"),
    Case(GLOBAL, {"monitorIntervalSeconds": 10, "monitorTimeoutSeconds": 10}, "monitorTimeoutSeconds", "10",
         "must be 5-9 when monitorIntervalSeconds is 10"),
    Case(GLOBAL, {"routingMethod": "Fastest"}, "routingMethod", "'Fastest'", "Input should be 'Performance'"),
    Case(GLOBAL, {"appHostname": "www.ratings.contoso.c0m"}, "appHostname", "'www.ratings.contoso.c0m'",
         "a top-level label of letters only"),
    Case(GLOBAL, {"useSharedDnsZone": True, "sharedStack": None}, "sharedStack", "(not set)",
         "is required when useSharedDnsZone is true"),
]  # fmt: skip

CASES = [*HUB_CASES, *SHARED_CASES, *GLOBAL_CASES]


def test_the_matrix_covers_at_least_fifty_bad_inputs_across_the_three_roles() -> None:
    assert len(CASES) >= 50
    assert {c.stack for c in CASES} == {HUB, SHARED, GLOBAL}


def project_values(stack: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The stack file's `stackhub-ha:` config with keys changed (None removes one); provider keys left out."""
    return {k: v for k, v in config_of(stack, **overrides).items() if ":" not in k}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_stops_the_program_with_the_key_and_value_named_and_nothing_registered(case: Case) -> None:
    with pytest.raises(ConfigError) as caught:
        run_with(case.stack, project_values(case.stack, case.overrides), case.secret_keys)
    message = str(caught.value)
    assert f"stackhub-ha:{case.key} = {case.value}" in message, message
    line = next(p for p in message.splitlines() if f"stackhub-ha:{case.key} = {case.value}" in p)
    assert case.says in line, message
    assert "Traceback" not in message
    for hidden in case.hidden:
        assert hidden not in message
    assert registered_by_failed_run(caught.value) == ()


def test_a_mongo_image_on_a_registry_with_a_port_is_accepted_as_image_registry_is() -> None:
    values = project_values(
        "hub-denver", {"mongoImage": "registry.denver.hub.contoso.local:5000/library/mongo:8.0.17",
                       "imageRegistry": "registry.denver.hub.contoso.local:5000"}
    )  # fmt: skip
    run = run_with("hub-denver", values)
    (statefulset,) = run.by_type("kubernetes:apps/v1:StatefulSet")
    images = [c["image"] for c in statefulset.plain_inputs["spec"]["template"]["spec"]["containers"]]
    assert "registry.denver.hub.contoso.local:5000/library/mongo:8.0.17" in images


# --- as real processes: `python -m preview` on a temporary stack file -----------------------------------------


def preview(project: Path, stack: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARM_")}
    return subprocess.run(
        [sys.executable, "-m", "preview", stack, "--project-dir", str(project)],
        cwd=PROJECT_DIR, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip


def project_with(tmp_path: Path, files: dict[str, str]) -> Path:
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for stack, text in files.items():
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(text)
    return tmp_path


def stack_file_with(stack: str, **overrides: Any) -> str:
    """The stack file, with `stackhub-ha:` keys changed, as YAML (its `secure:` values kept)."""
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())
    for key, value in overrides.items():
        document["config"][f"stackhub-ha:{key}"] = value
    return yaml.safe_dump(document, sort_keys=False)


PROCESS_CASES = [
    (HUB, {"rebootWindow": {"startTime": "03:00", "endTime": "03:00", "timeZone": "UTC"}},
     "stackhub-ha:rebootWindow.endTime = '03:00': equals startTime (03:00)"),
    (HUB, {"hubHostname": "www.ratings.contoso.com"},
     "stackhub-ha:hubHostname = 'www.ratings.contoso.com': must differ from sharedHostname"),
    (SHARED, {"backupSasExpiry": "2020-01-01"}, "stackhub-ha:backupSasExpiry = '2020-01-01': is not after today"),
    (GLOBAL, {"monitorProtocol": "HTTP"},
     "stackhub-ha:monitorPort = 443: is the HTTPS port but monitorProtocol is HTTP"),
]  # fmt: skip


@pytest.mark.parametrize(("stack", "overrides", "expected"), PROCESS_CASES, ids=[c[2][:60] for c in PROCESS_CASES])
def test_a_bad_stack_file_exits_1_with_one_message_and_no_traceback(
    tmp_path: Path, stack: str, overrides: dict[str, Any], expected: str
) -> None:
    result = preview(project_with(tmp_path, {stack: stack_file_with(stack, **overrides)}), stack)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert expected in result.stderr
    assert result.stderr.startswith(f"Invalid configuration for stack '{stack}' (1 problem(s)):")
    assert result.stdout == ""


# --- malformed stack files: one line naming the file and the line -----------------------------------------------

MALFORMED = [
    ("config:\n  stackhub-ha:role: hub\n  stackhub-ha:hubName: [hub-a, hub-b\n",
     "Pulumi.hub-bad.yaml:3: not valid YAML: expected ',' or ']'"),
    ("config:\n  stackhub-ha:role: hub\n\tstackhub-ha:hubName: hub-bad\n",
     "Pulumi.hub-bad.yaml:3: not valid YAML: found character '\\t' that cannot start any token"),
    ("- config\n- stackhub-ha:role\n", "Pulumi.hub-bad.yaml:1: a stack file is a mapping with a `config:` section, "
                                      "not a list"),
    ("config:\n  - stackhub-ha:role: hub\n",
     "Pulumi.hub-bad.yaml:2: `config` must be a mapping of <namespace>:<key>: <value>, not a list"),
    ("confg:\n  stackhub-ha:role: hub\n",
     "Pulumi.hub-bad.yaml:1: unknown top-level key 'confg'; did you mean 'config'?"),
    ("config:\n  stackhub-ha:role: hub\n  stackhub-ha:hubName:\n",
     "Pulumi.hub-bad.yaml:3: 'stackhub-ha:hubName' has no value (YAML reads an empty value as null)"),
    ("config:\n  stackhub-ha:role: hub\n  hubName: hub-bad\n",
     "Pulumi.hub-bad.yaml:3: config key 'hubName' must be <namespace>:<name>, e.g. stackhub-ha:hubName"),
    ("config:\n  stackhub-ha:role: hub\n  stackhub-ha:role: shared\n",
     "Pulumi.hub-bad.yaml:3: 'stackhub-ha:role' is given twice (first at line 2)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), MALFORMED, ids=[e.split(": ", 1)[1][:50] for _, e in MALFORMED])
def test_a_malformed_stack_file_is_one_line_naming_the_file_and_the_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "Pulumi.hub-bad.yaml"
    path.write_text(text)
    with pytest.raises(StackFileError) as caught:
        read_stack_config(path, "stackhub-ha")
    assert str(caught.value).splitlines() == [str(caught.value)]
    assert str(caught.value).startswith(expected), str(caught.value)
    assert caught.value.stack == "hub-bad"


def test_every_problem_of_a_stack_file_is_a_line_of_its_own() -> None:
    text = "config:\n  stackhub-ha:role: hub\n  hubName: a\n  stackhub-ha:vnetCidr:\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Pulumi.hub-bad.yaml"
        path.write_text(text)
        with pytest.raises(StackFileError) as caught:
            read_stack_config(path, "stackhub-ha")
    assert str(caught.value).splitlines() == [
        "Pulumi.hub-bad.yaml:3: config key 'hubName' must be <namespace>:<name>, e.g. stackhub-ha:hubName",
        "Pulumi.hub-bad.yaml:4: 'stackhub-ha:vnetCidr' has no value (YAML reads an empty value as null); give it one "
        "or remove the line",
    ]


def test_the_shipped_stack_files_read_as_the_engine_reads_them() -> None:
    for path in sorted(PROJECT_DIR.glob("Pulumi.*.yaml")):
        document = yaml.safe_load(path.read_text())
        assert read_stack_config(path) == document["config"], path.name


@pytest.mark.parametrize(("text", "expected"), MALFORMED[:3], ids=["yaml-syntax", "tab", "top-level-list"])
def test_python_m_preview_on_a_malformed_stack_file_exits_1_with_the_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    result = preview(project_with(tmp_path, {"hub-bad": text}), "hub-bad")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(expected), result.stderr
    assert result.stdout == ""
