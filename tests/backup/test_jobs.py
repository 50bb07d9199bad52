"""What the component will create: schema-valid, `restricted`, scripts that parse, pods that reach only what they
need, and a Python ConfigMap that imports nothing but the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest

from aksengine.versions import DEFAULT_KUBERNETES_VERSION
from planning.egress import EgressProxy
from policy.stackhub_policies.pod_security import all_containers, restricted_violations
from tests.backup.conftest import BASH, Pod
from tests.egress.certs import certificate_pem
from tests.egress.hubs import DENVER_NO_PROXY, PROXY_VARIABLES
from tests.workloads.network_paths import Path, allowed_paths
from tests.workloads.network_paths import Pod as PolicyPod
from workloads.backup.jobs import (
    BACKUP_LABELS,
    RESTORE_LABELS,
    STORAGE_CALLERS,
    VERIFY_LABELS,
    JobSettings,
    backup_pod_spec,
    cronjob,
    database_ingress_peers,
    network_policies,
    proxy_secret_data,
    python_files,
    restore_pod_spec,
    restore_template,
    verify_pod_spec,
)
from workloads.backup.scripts import Recipient, encrypt_command, mongo_scripts
from workloads.backup.settings import DEFAULT_SCHEDULE, job_deadlines
from workloads.egress import CA_CONFIGMAP, openssl_subject_hash

SETTINGS = JobSettings(hub="seattle", mongo_image="mongo:8.0.17", python_image="python:3.13-slim",
                       image_pull_secrets=["registry-pull"])  # fmt: skip
PODS = {
    "backup": backup_pod_spec(SETTINGS),
    "verification": verify_pod_spec(SETTINGS),
    "restore": restore_pod_spec(SETTINGS, "seattle/20260101T021500Z"),
}


def objects() -> list[dict[str, Any]]:
    deadlines = job_deadlines(DEFAULT_SCHEDULE)
    made = [
        cronjob(name="ratings-backup", namespace="ratingsapp", labels=BACKUP_LABELS, schedule=DEFAULT_SCHEDULE,
                time_zone="Etc/UTC", deadlines=deadlines, pod_spec=PODS["backup"]),
        cronjob(name="ratings-backup-verification", namespace="ratingsapp", labels=VERIFY_LABELS,
                schedule="45 4 * * 0", time_zone="Etc/UTC", deadlines=deadlines, pod_spec=PODS["verification"]),
        restore_template(cronjob(name="ratings-restore", namespace="ratingsapp", labels=RESTORE_LABELS,
                                 schedule=DEFAULT_SCHEDULE, time_zone="Etc/UTC", deadlines=deadlines,
                                 pod_spec=PODS["restore"])),
    ]  # fmt: skip
    return made + network_policies("ratingsapp", {"app.kubernetes.io/name": "ratings-mongodb"}, 27017,
                                   [("20.60.0.0/16", 443)])  # fmt: skip


@pytest.mark.parametrize("obj", objects(), ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_objects_are_schema_valid(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, DEFAULT_KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", PODS)
def test_pods_are_restricted_read_only_and_tokenless(name: str) -> None:
    spec = PODS[name]
    assert restricted_violations(spec) == []
    assert spec["automountServiceAccountToken"] is False
    for _, container in all_containers(spec):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["limits"]["memory"]


def test_cronjob_hygiene() -> None:
    backup = objects()[0]["spec"]
    assert backup["concurrencyPolicy"] == "Forbid"
    assert backup["timeZone"] == "Etc/UTC"
    assert (backup["startingDeadlineSeconds"], backup["jobTemplate"]["spec"]["activeDeadlineSeconds"]) == (3600, 14400)
    assert backup["jobTemplate"]["spec"]["backoffLimit"] == 1
    assert backup["successfulJobsHistoryLimit"] == backup["failedJobsHistoryLimit"] == 3


def test_steps_run_in_order_with_the_right_images() -> None:
    def steps(spec: dict[str, Any]) -> list[tuple[str, str]]:
        return [(c["name"], c["image"]) for c in spec["initContainers"] + spec["containers"]]

    assert steps(PODS["backup"]) == [("dump", "mongo:8.0.17"), ("upload", "python:3.13-slim")]
    assert steps(PODS["verification"]) == [("fetch", "python:3.13-slim"), ("restore", "mongo:8.0.17"),
                                           ("report", "python:3.13-slim")]  # fmt: skip
    upload = PODS["backup"]["containers"][0]
    assert upload["command"][:4] == ["python", "-S", "-m", "backupjob.upload"]
    assert upload["command"][-2:] == ["--block-kib", "8192"]
    assert "--select" in PODS["restore"]["initContainers"][0]["command"]


def test_network_policies_reach_the_database_only_from_backup_and_restore() -> None:
    mongo = {"app.kubernetes.io/name": "ratings-mongodb"}
    pods = [
        PolicyPod("backup", "ratingsapp", BACKUP_LABELS),
        PolicyPod("verification", "ratingsapp", VERIFY_LABELS),
        PolicyPod("restore", "ratingsapp", RESTORE_LABELS),
        PolicyPod("mongo", "ratingsapp", mongo, {"mongodb": (27017, "TCP")}),
    ]
    database_policy = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "mongo", "namespace": "ratingsapp"},
        "spec": {"podSelector": {"matchLabels": mongo}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": database_ingress_peers(), "ports": [{"port": 27017}]}]},
    }  # fmt: skip
    policies = network_policies("ratingsapp", mongo, 27017, [("20.60.0.0/16", 443)])
    paths = allowed_paths([*policies, database_policy], pods, {})
    assert paths == {Path("backup", "mongo", 27017), Path("restore", "mongo", 27017)}
    storage = policies[1]["spec"]["egress"]
    assert storage == [{"to": [{"ipBlock": {"cidr": "20.60.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 443}]}]


def test_scripts_parse_and_encrypt_for_each_recipient(pod: Pod) -> None:
    scripts = mongo_scripts([Recipient("recovery.pem", rsa=True)], "secondary")
    for name, text in scripts.items():
        if name.endswith(".sh"):
            subprocess.run([BASH, "-n"], input=text, text=True, check=True)
    command = encrypt_command([Recipient("a.pem", rsa=True), Recipient("b.pem", rsa=False)])
    assert command.count("-recip") == 2
    assert command.count("rsa_padding_mode:oaep") == 1
    assert "-aes-256-gcm" in command
    assert "-stream" in command
    with pytest.raises(ValueError, match="recipient file"):
        encrypt_command([Recipient("a.pem; rm -rf /", rsa=False)])


def test_the_python_configmap_is_the_whole_package_and_stdlib_only() -> None:
    files = python_files()
    assert {"__init__.py", "upload.py", "fetch.py", "report.py", "blob.py", "archive.py", "runs.py"} <= set(files)
    local = {name.removesuffix(".py") for name in files}
    for name, text in files.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module in local, f"{name}: from .{node.module}"
            elif isinstance(node, ast.ImportFrom | ast.Import):
                modules = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for module in modules:
                    top = (module or "").split(".")[0]
                    assert top == "__future__" or top in sys.stdlib_module_names, f"{name}: import {module}"


# --- a hub's own storage, and an egress proxy ----------------------------------------------------------------------

CA = certificate_pem("Contoso TLS Inspection CA")
PROXY = EgressProxy("http://10.20.8.4:3128", trusted_ca=CA)
CREDENTIALED = EgressProxy("http://svc-backup:Pr0xy%25pw@10.20.8.4:3128", trusted_ca=CA)
NO_PROXY = DENVER_NO_PROXY


def pods(settings: JobSettings) -> dict[str, dict[str, Any]]:
    return {
        "backup": backup_pod_spec(settings),
        "verification": verify_pod_spec(settings),
        "restore": restore_pod_spec(settings, "latest-verified"),
    }


def test_the_python_steps_are_told_a_hubs_profile_and_the_mongo_steps_nothing() -> None:
    hub = pods(JobSettings(hub="denver", mongo_image="mongo:8.0.17", python_image="python:3.13-slim",
                           storage_profile="azurestack"))  # fmt: skip
    for name, spec in hub.items():
        for _, container in all_containers(spec):
            command = container["command"]
            if container["image"].startswith("python"):
                assert command[-2:] == ["--storage-profile", "azurestack"], (name, container["name"])
            else:
                assert "--storage-profile" not in command, (name, container["name"])
    # The default profile adds nothing: the pods' own default is Azure.
    assert all("--storage-profile" not in c["command"] for spec in PODS.values() for _, c in all_containers(spec))


def test_behind_a_proxy_only_the_storage_callers_get_it_and_its_ca() -> None:
    settings = JobSettings(hub="denver", mongo_image="mongo:8.0.17", python_image="python:3.13-slim",
                           egress=PROXY, no_proxy=NO_PROXY)  # fmt: skip
    ca_file = f"/etc/ssl/certs/{openssl_subject_hash(CA)}.0"
    for name, spec in pods(settings).items():
        assert restricted_violations(spec) == [], name
        callers = set()
        for _, container in all_containers(spec):
            env = {item["name"]: item.get("value") for item in container["env"]}
            mounts = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == CA_CONFIGMAP]
            if set(env) >= PROXY_VARIABLES:
                callers.add(container["name"])
                assert env["HTTPS_PROXY"] == "http://10.20.8.4:3128"
                assert env["NO_PROXY"] == ",".join(NO_PROXY)
                assert mounts == [ca_file]
            else:
                assert not PROXY_VARIABLES & set(env), (name, container["name"])
                assert mounts == [], (name, container["name"])
        assert callers == set(STORAGE_CALLERS[name]), name
        assert next(v for v in spec["volumes"] if v["name"] == CA_CONFIGMAP)["configMap"]["name"] == CA_CONFIGMAP
        kubernetes_validate.validate(
            cronjob(name=f"ratings-{name}", namespace="ratingsapp", labels=BACKUP_LABELS, schedule=DEFAULT_SCHEDULE,
                    time_zone="Etc/UTC", deadlines=(3600, 14400), pod_spec=spec),
            DEFAULT_KUBERNETES_VERSION, strict=True,
        )  # fmt: skip
    assert proxy_secret_data(settings) is None


def test_a_proxy_with_credentials_reaches_the_callers_only_as_files_of_a_secret() -> None:
    settings = JobSettings(hub="denver", mongo_image="mongo:8.0.17", python_image="python:3.13-slim",
                           egress=CREDENTIALED, no_proxy=NO_PROXY)  # fmt: skip
    for name, spec in pods(settings).items():
        assert "Pr0xy" not in str(spec), name
        assert restricted_violations(spec) == [], name
        volume = next(v for v in spec["volumes"] if v["name"] == "proxy")
        assert volume == {"name": "proxy", "secret": {"secretName": "ratings-backup-proxy", "defaultMode": 0o440}}
        for _, container in all_containers(spec):
            env = {item["name"]: item.get("value") for item in container["env"]}
            mounts = {m["name"]: m for m in container["volumeMounts"]}
            assert not PROXY_VARIABLES & set(env), (name, container["name"])
            assert not [item for item in container["env"] if "valueFrom" in item], (name, container["name"])
            if container["name"] in STORAGE_CALLERS[name]:
                assert env["BACKUP_PROXY_DIR"] == mounts["proxy"]["mountPath"] == "/etc/backup/proxy"
                assert mounts["proxy"]["readOnly"] is True
                assert CA_CONFIGMAP in mounts
            else:
                assert "BACKUP_PROXY_DIR" not in env
                assert "proxy" not in mounts
    data = proxy_secret_data(settings)
    assert data is not None
    assert set(data) == PROXY_VARIABLES
    assert data["HTTPS_PROXY"] == "http://svc-backup:Pr0xy%25pw@10.20.8.4:3128"


def test_through_the_proxy_the_policies_allow_the_proxy_and_no_storage_address() -> None:
    mongo = {"app.kubernetes.io/name": "ratings-mongodb"}
    policies = network_policies("ratingsapp", mongo, 27017, [], PROXY)
    to_proxy = {"to": [{"ipBlock": {"cidr": "10.20.8.4/32"}}], "ports": [{"protocol": "TCP", "port": 3128}]}
    database = {"to": [{"podSelector": {"matchLabels": mongo}}], "ports": [{"protocol": "TCP", "port": 27017}]}
    assert [p["spec"]["egress"] for p in policies] == [[database, to_proxy], [to_proxy], [database, to_proxy]]
    for policy in policies:
        kubernetes_validate.validate(policy, DEFAULT_KUBERNETES_VERSION, strict=True)
    # A storage reached directly next to a proxy (a hub's own storage): its addresses, after the proxy's.
    both = network_policies("ratingsapp", mongo, 27017, [("192.168.102.0/24", 443)], PROXY)
    assert both[1]["spec"]["egress"][-1]["to"] == [{"ipBlock": {"cidr": "192.168.102.0/24"}}]
