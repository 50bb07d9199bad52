"""DatabaseBackup in the hub stack under the offline engine: what is registered, checked like every workload.

The hub-seattle stack file turns backups on (throwaway test certificates); hub-denver leaves them off. The shared
stack's outputs are those of its offline run, with a SAS whose permissions the hubs need (`rcwl`) and a sentinel
signature, so that a test can prove the SAS never reaches a rendered manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.database_backup import (
    BACKUP_CRONJOB,
    RESTORE_KEY_SECRET,
    RESTORE_TEMPLATE,
    VERIFY_CRONJOB,
)
from planning.egress import EgressProxy
from policy.stackhub_policies.pod_security import restricted_violations
from preview.engine import REDACTED, SECRET_SIG, SIG_KEY, StackRun, is_secret, run_stack
from preview.manifests import rendered_objects, write_manifests
from stacks.config import ConfigError, validate
from stacks.contracts import StackOutputError
from stacks.hub import HubConfig
from tests.backup.component_render import GOLDEN, base_args, canonical, render, without_pod_code
from tests.backup.component_render import run as component_run
from tests.conftest import config_of, shared_outputs
from tests.egress.certs import certificate_pem
from tests.egress.hubs import DENVER_NO_PROXY, PROXY_VARIABLES
from tests.workloads.hub_cluster import KUBERNETES_VERSION
from tests.workloads.test_checkov import EXCEPTIONS as CHECKOV_EXCEPTIONS
from tests.workloads.test_checkov import checkov, scan
from workloads.backup.jobs import BACKUP_LABELS, RESTORE_LABELS, Names
from workloads.backup.settings import shortest_interval_seconds
from workloads.egress import CA_CONFIGMAP
from workloads.mongo import BACKUP_USER_DIR, BACKUP_USER_FILES, BACKUP_USER_SECRET, MONGODB_UID

NAMESPACE = "ratingsapp"
SAS_SIGNATURE = "sentinel-backup-sas-signature-41c7"
SAS = f"sv=2022-11-02&sr=c&sp=rcwl&se=2099-06-30T00:00:00Z&spr=https&sig={SAS_SIGNATURE}"
SECRETS = {"armClientSecret", "dnsSolverClientSecret", "backupVerificationKey"}
CRONJOBS = {BACKUP_CRONJOB, VERIFY_CRONJOB, RESTORE_TEMPLATE}


def shared(sas: str = SAS) -> dict[str, Any]:
    """The shared stack's outputs with the given hub SAS."""
    return {**shared_outputs(), "backupSasToken": {SIG_KEY: SECRET_SIG, "value": sas}}


def run_hub(stack: str = "hub-seattle", sas: str = SAS, **overrides: Any) -> StackRun:
    config = {f"stackhub-ha:{k}": v for k, v in config_of(stack, **overrides).items()}
    return run_stack(
        stack,
        config=config,
        secret_keys={f"stackhub-ha:{k}" for k in SECRETS},
        stack_outputs={"shared": shared(sas)},
    )


@pytest.fixture(scope="module")
def seattle() -> StackRun:
    return run_hub()


@pytest.fixture(scope="module")
def objects(seattle: StackRun) -> list[dict[str, Any]]:
    return rendered_objects(seattle)


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o for o in objects if o["kind"] == kind and o["metadata"].get("namespace") == NAMESPACE
    }


def backup_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {*CRONJOBS, *vars(Names()).values(), BACKUP_USER_SECRET, "ratings-restore"}
    return [o for o in objects if o["metadata"].get("namespace") == NAMESPACE and o["metadata"]["name"] in names]


def test_the_cronjobs_secrets_and_configmaps_are_registered(objects: list[dict[str, Any]]) -> None:
    names = Names()
    assert set(of_kind(objects, "CronJob")) == CRONJOBS
    secrets = set(of_kind(objects, "Secret"))
    assert {names.storage_secret, names.dump_config_secret, names.key_secret, BACKUP_USER_SECRET} <= secrets
    # The restore's private key and its mongorestore user are supplied at restore time, never by the stack.
    assert RESTORE_KEY_SECRET not in secrets
    assert names.restore_config_secret not in secrets
    config_maps = of_kind(objects, "ConfigMap")
    assert set(config_maps[names.recipients_configmap]["data"]) == {"recovery.pem", "hub-seattle-verification.pem"}
    assert {"dump.sh", "restore.sh", "verify-restore.sh", "counts.js"} == set(
        config_maps[names.mongo_configmap]["data"]
    )
    assert "upload.py" in config_maps[names.python_configmap]["data"]
    policies = of_kind(objects, "NetworkPolicy")
    assert {"ratings-backup", "ratings-backup-verification", "ratings-restore"} <= set(policies)


def test_backup_objects_pass_the_schema_strictly(objects: list[dict[str, Any]]) -> None:
    chosen = backup_objects(objects)
    assert len(chosen) >= 12
    for obj in chosen:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_every_pod_is_restricted_with_a_read_only_root(objects: list[dict[str, Any]]) -> None:
    for name, cronjob in of_kind(objects, "CronJob").items():
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert restricted_violations(pod) == [], name
        for container in pod["initContainers"] + pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, (name, container["name"])
        assert pod["automountServiceAccountToken"] is False


def test_cronjob_hygiene(objects: list[dict[str, Any]]) -> None:
    config = validate(HubConfig, "hub-seattle", config_of("hub-seattle"), SECRETS)
    cronjobs = of_kind(objects, "CronJob")
    for name, schedule in ((BACKUP_CRONJOB, config.backup_schedule), (VERIFY_CRONJOB, config.backup_verify_schedule)):
        spec = cronjobs[name]["spec"]
        job = spec["jobTemplate"]["spec"]
        interval = shortest_interval_seconds(schedule)
        assert interval is not None
        assert spec["schedule"] == schedule
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["timeZone"] == "America/Los_Angeles"
        assert 0 < spec["startingDeadlineSeconds"] < interval
        assert 0 < job["activeDeadlineSeconds"] < interval
        assert job["backoffLimit"] <= 1
        assert spec["successfulJobsHistoryLimit"] == 3
        assert spec["failedJobsHistoryLimit"] == 3
        assert "suspend" not in spec
    restore = cronjobs[RESTORE_TEMPLATE]["spec"]
    assert restore["suspend"] is True
    assert restore["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = restore["jobTemplate"]["spec"]["template"]["spec"]
    keys = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
    assert RESTORE_KEY_SECRET in keys
    assert Names().key_secret not in keys  # the verification key never restores the hub
    fetch = pod["initContainers"][0]
    assert fetch["command"][fetch["command"].index("--select") + 1] == "latest-verified"


def test_the_backup_pod_dumps_and_uploads_for_this_hub(objects: list[dict[str, Any]]) -> None:
    pod = of_kind(objects, "CronJob")[BACKUP_CRONJOB]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["dump"]
    assert pod["initContainers"][0]["image"] == "mongo:8.0.17"
    upload = pod["containers"][0]
    assert upload["image"] == "python:3.12.8-slim"
    assert upload["command"][upload["command"].index("--hub") + 1] == "hub-seattle"
    script = of_kind(objects, "ConfigMap")[Names().mongo_configmap]["data"]["dump.sh"]
    assert "--readPreference=secondary" in script
    assert "--oplog" in script


def test_no_secret_value_is_rendered(objects: list[dict[str, Any]]) -> None:
    text = json.dumps(objects)
    assert SAS_SIGNATURE not in text
    assert "offline-secret-backupVerificationKey" not in text
    for name, secret in of_kind(objects, "Secret").items():
        assert set(secret["stringData"].values()) == {REDACTED}, name


def test_every_backup_secret_value_is_a_secret_in_the_state(seattle: StackRun) -> None:
    secrets = [r for r in seattle.resources if r.type == "kubernetes:core/v1:Secret" and "-backup-" in r.name]
    assert len(secrets) == 4
    for resource in secrets:
        values = resource.inputs["stringData"]
        assert is_secret(values) or all(is_secret(v) for v in values.values()), resource.name
    (password,) = [r for r in seattle.resources if r.type == "random:index/randomPassword:RandomPassword"
                   and r.name == "hub-seattle-backup-user-password"]  # fmt: skip
    assert password.protect


def test_the_backup_pods_reach_only_the_database_and_the_storage(objects: list[dict[str, Any]]) -> None:
    policies = of_kind(objects, "NetworkPolicy")
    backup = policies["ratings-backup"]["spec"]
    targets = [peer for rule in backup["egress"] for peer in rule["to"]]
    assert {"ipBlock": {"cidr": "20.60.0.0/16"}} in targets
    assert all("ipBlock" in t or t["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "ratings-mongodb"}
               for t in targets)  # fmt: skip
    assert policies["ratings-backup-verification"]["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 443}]
    # ... and the database lets them in.
    database = policies["ratings-mongodb"]["spec"]["ingress"][0]["from"]
    for labels in (BACKUP_LABELS, RESTORE_LABELS):
        assert {"podSelector": {"matchLabels": labels}} in database


def test_the_members_create_the_backup_user_from_its_secrets_files(
    seattle: StackRun, objects: list[dict[str, Any]]
) -> None:
    pod = of_kind(objects, "StatefulSet")["ratings-mongodb"]["spec"]["template"]["spec"]
    member = next(c for c in pod["containers"] if c["name"] == "member")
    assert {"name": "BACKUP_USER_DIR", "value": BACKUP_USER_DIR} in member["env"]
    assert not [e for e in member["env"] if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]]
    mount = next(m for m in member["volumeMounts"] if m["mountPath"] == BACKUP_USER_DIR)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"] == {"secretName": BACKUP_USER_SECRET, "defaultMode": 0o440}
    assert mount["readOnly"] is True
    # The Secret holds exactly the files join.js reads.
    (secret,) = [r for r in seattle.by_type("kubernetes:core/v1:Secret") if r.name == "hub-seattle-backup-user-secret"]
    assert set(secret.plain_inputs["stringData"]) == set(BACKUP_USER_FILES)
    join = of_kind(objects, "ConfigMap")["ratings-mongodb-scripts"]["data"]["join.js"]
    assert "role: 'backup', db: 'admin'" in join
    assert "if (env.BACKUP_USER_DIR) {" in join
    for name in BACKUP_USER_FILES:
        assert f"backupFile('{name}')" in join


def test_every_cronjob_names_its_tag_pinned_images_as_checkov_exceptions(objects: list[dict[str, Any]]) -> None:
    for name, cronjob in of_kind(objects, "CronJob").items():
        annotations = cronjob["metadata"]["annotations"]
        assert sorted(value.split("=")[0] for value in annotations.values()) == ["CKV_K8S_15", "CKV_K8S_43"], name
        assert all("mongo:8.0.17, python:3.12.8-slim" in value for value in annotations.values()), name
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["fsGroup"] == MONGODB_UID >= 10000


def test_backups_are_off_when_no_recipient_is_set() -> None:
    objects = rendered_objects(run_hub("hub-denver"))
    assert of_kind(objects, "CronJob") == {}
    assert BACKUP_USER_SECRET not in of_kind(objects, "Secret")
    statefulset = of_kind(objects, "StatefulSet")["ratings-mongodb"]
    member = next(c for c in statefulset["spec"]["template"]["spec"]["containers"] if c["name"] == "member")
    assert not [e for e in member["env"] if e["name"].startswith("BACKUP_")]


def test_a_sas_the_hubs_cannot_restore_with_stops_the_stack() -> None:
    with pytest.raises(StackOutputError) as caught:
        run_hub(sas=SAS.replace("sp=rcwl", "sp=cwl"))
    text = str(caught.value)
    assert "backupSasToken" in text
    assert "lack r" in text
    assert SAS_SIGNATURE not in text


CERTIFICATE = config_of("hub-seattle")["backupRecipients"]["recovery"]
BAD_KEYS = [
    ("backupSchedule", "*/10 * * * *", "stackhub-ha:backupSchedule = '*/10 * * * *': schedule"),
    ("backupSchedule", "15 25 * * *", "stackhub-ha:backupSchedule = '15 25 * * *': schedule hour"),
    ("backupVerifySchedule", "bad", "stackhub-ha:backupVerifySchedule = 'bad': schedule"),
    ("backupTimeZone", "Mars/Olympus", "stackhub-ha:backupTimeZone = 'Mars/Olympus': time zone"),
    ("backupRecipients", {}, "stackhub-ha:backupRecipients = {}: at least one recipient"),
    ("backupRecipients", {"Recovery": CERTIFICATE}, "backup recipient name 'Recovery.pem'"),
    ("backupRecipients", {"recovery": "-----BEGIN PRIVATE KEY-----\nx\n"}, "this is a private key"),
    (
        "backupRecipients",
        {"recovery": "not a pem"},
        'stackhub-ha:backupRecipients = {"recovery": "not a pem"}: backup recipient recovery.pem: not a PEM',
    ),
    ("backupEgress", ["0.0.0.0/0"], 'stackhub-ha:backupEgress = ["0.0.0.0/0"]: backup egress 0.0.0.0/0'),
    ("backupEgress", ["20.60.0.1/16"], 'stackhub-ha:backupEgress = ["20.60.0.1/16"]: backup egress'),
    ("backupPythonImage", "python:latest", "stackhub-ha:backupPythonImage = 'python:latest': image"),
    ("backupPythonImage", "python", "stackhub-ha:backupPythonImage = 'python': image"),
    ("backupVerificationKey", None, "stackhub-ha:backupVerificationKey = (not set): required when backupRecipients"),
    (
        "egressProxy",
        {"httpProxy": "http://10.10.4.20:3128"},
        "stackhub-ha:backupEgress = ['20.60.0.0/16', '20.150.0.0/16']: leave it unset with egressProxy",
    ),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_KEYS, ids=[f"{k}={v!r:.30}" for k, v, _ in BAD_KEYS])
def test_a_bad_backup_key_is_refused_naming_it(key: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(HubConfig, "hub-test", config_of("hub-seattle", **{key: value}), SECRETS)
    assert any(expected in str(problem) for problem in caught.value.problems), caught.value.problems


def test_the_verification_key_must_be_a_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        validate(HubConfig, "hub-test", config_of("hub-seattle"), SECRETS - {"backupVerificationKey"})
    assert "stackhub-ha:backupVerificationKey" in str(caught.value)
    assert "offline-secret-backupVerificationKey" not in str(caught.value)


def test_the_defaults_apply_and_backups_are_off_without_recipients() -> None:
    config = validate(HubConfig, "hub-denver", config_of("hub-denver"), SECRETS)
    assert not config.backups
    assert config.backup_schedule == "15 2 * * *"
    assert config.backup_time_zone == "Etc/UTC"


# --- the component on its own: no proxy changes nothing; a proxy; a hub's own storage ---------------------------

HUB_TARGET = "https://denverbackups.blob.denver.azs.contoso.com/ratings-backups"
HUB_SAS = "sv=2019-07-07&sr=c&sp=rcwl&se=2099-06-30T00:00:00Z&spr=https&sig=sentinel-hub-target-sas-5b1f"
PROXY_CA = certificate_pem("Contoso TLS Inspection CA")
PROXY_URL = "http://10.20.8.4:3128"
PROXY_PASSWORD = "Pr0xy-sentinel-77e1"
NO_PROXY = DENVER_NO_PROXY


def pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            for o in objects if o["kind"] == "CronJob"}  # fmt: skip


def egress_of(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {o["metadata"]["name"]: o["spec"].get("egress", []) for o in objects if o["kind"] == "NetworkPolicy"}


def test_without_a_proxy_the_objects_are_those_rendered_before_the_egress_model() -> None:
    """Byte for byte what the component rendered before `egress` and `storage_profile` existed (the golden file was
    written by that version, from the same inputs); only the pod code's own ConfigMap is left out."""
    assert canonical(without_pod_code(render())) == GOLDEN.read_text()


def test_behind_a_proxy_the_callers_get_it_the_namespace_its_ca_and_the_policies_the_proxy() -> None:
    proxy = EgressProxy(PROXY_URL, trusted_ca=PROXY_CA)
    objects = render(egress=proxy, no_proxy=NO_PROXY)
    (ca,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == CA_CONFIGMAP]
    assert ca["metadata"]["namespace"] == NAMESPACE
    assert ca["data"] == {"ca-0.crt": PROXY_CA}
    callers = {BACKUP_CRONJOB: {"upload"}, VERIFY_CRONJOB: {"fetch", "report"}, RESTORE_TEMPLATE: {"fetch"}}
    for name, pod in pod_specs(objects).items():
        assert restricted_violations(pod) == [], name
        with_proxy = set()
        for container in pod["initContainers"] + pod["containers"]:
            env = {item["name"]: item.get("value") for item in container["env"]}
            mounts = {m["name"] for m in container["volumeMounts"]}
            if set(env) >= PROXY_VARIABLES:
                with_proxy.add(container["name"])
                assert env["HTTPS_PROXY"] == PROXY_URL
                assert CA_CONFIGMAP in mounts
            else:
                assert not PROXY_VARIABLES & set(env), (name, container["name"])
                assert CA_CONFIGMAP not in mounts, (name, container["name"])
        assert with_proxy == callers[name]
    to_proxy = {"to": [{"ipBlock": {"cidr": "10.20.8.4/32"}}], "ports": [{"protocol": "TCP", "port": 3128}]}
    policies = egress_of(objects)
    assert policies["ratings-backup-verification"] == [to_proxy]
    assert policies["ratings-backup"][1:] == policies["ratings-restore"][1:] == [to_proxy]
    assert "20.60.0.0/16" not in json.dumps(policies)  # the storage's own addresses are no longer reachable
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_a_proxys_credentials_stay_in_a_secret() -> None:
    proxy = EgressProxy(f"http://svc-backup:{PROXY_PASSWORD}@10.20.8.4:3128", trusted_ca=PROXY_CA)
    run = component_run(egress=proxy, no_proxy=NO_PROXY)
    objects = rendered_objects(run)
    assert PROXY_PASSWORD not in json.dumps(objects)
    (secret,) = [r for r in run.by_type("kubernetes:core/v1:Secret") if r.name == "backup-proxy-secret"]
    values = secret.inputs["stringData"]
    assert is_secret(values) or all(is_secret(value) for value in values.values())
    assert set(secret.plain_inputs["stringData"]) == PROXY_VARIABLES
    assert PROXY_PASSWORD in secret.plain_inputs["stringData"]["HTTPS_PROXY"]
    upload = pod_specs(objects)[BACKUP_CRONJOB]["containers"][0]
    assert {"name": "BACKUP_PROXY_DIR", "value": "/etc/backup/proxy"} in upload["env"]
    assert not PROXY_VARIABLES & {e["name"] for e in upload["env"]}


def test_a_hubs_own_storage_behind_the_proxy_is_reached_directly() -> None:
    """The no-proxy list sends the hub's storage suffix directly: the policies allow its addresses, not the proxy."""
    proxy = EgressProxy(PROXY_URL, trusted_ca=PROXY_CA)
    objects = render(container_url=HUB_TARGET, sas_token=pulumi.Output.secret(HUB_SAS), storage_profile="azurestack",
                     storage_egress=[("192.168.102.0/24", 443)], egress=proxy, no_proxy=NO_PROXY)  # fmt: skip
    direct = {"to": [{"ipBlock": {"cidr": "192.168.102.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    policies = egress_of(objects)
    assert policies["ratings-backup-verification"] == [direct]
    assert "10.20.8.4/32" not in json.dumps(policies)
    for name, pod in pod_specs(objects).items():
        for container in pod["initContainers"] + pod["containers"]:
            if container["image"].startswith("python"):
                assert container["command"][-2:] == ["--storage-profile", "azurestack"], (name, container["name"])
    assert "sentinel-hub-target-sas" not in json.dumps(objects)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"egress": EgressProxy(PROXY_URL), "container_url": pulumi.Output.from_input(HUB_TARGET)},
         "container_url must be a plain string when egress is set"),
        ({"storage_egress": []}, r"storage_egress: at least one \(CIDR, port\) pair: the pods reach the storage"),
        ({"storage_egress": [], "egress": EgressProxy(PROXY_URL), "no_proxy": NO_PROXY, "container_url": HUB_TARGET},
         r"directly \(the no-proxy list covers its host\)"),
        ({"storage_egress": [("10.20.8.4/32", 3128)], "egress": EgressProxy(PROXY_URL), "no_proxy": NO_PROXY,
          "container_url": HUB_TARGET},
         r"names the egress proxy, but the pods reach the storage directly \(the no-proxy list covers its host\): "
         "give the storage endpoint's address ranges on 443"),
        ({"storage_profile": "azurestack", "block_mib": 128}, r"block size 128 MiB: 1 to 100 \(storage profile"),
        ({"storage_profile": "s3"}, "storage profile 's3': must be 'azure' or 'azurestack'"),
    ],
)  # fmt: skip
def test_arguments_that_cannot_work_are_refused(overrides: dict[str, Any], message: str) -> None:
    provider = k8s.Provider("unused", kubeconfig="{}", opts=pulumi.ResourceOptions())
    with pytest.raises(ValueError, match=message):
        base_args(provider, **overrides)


def test_checkov_finds_nothing_behind_a_proxy_or_on_a_hub_target(tmp_path: Path) -> None:
    checkov()
    proxy = EgressProxy(f"http://svc-backup:{PROXY_PASSWORD}@10.20.8.4:3128", trusted_ca=PROXY_CA)
    write_manifests(component_run(egress=proxy, no_proxy=NO_PROXY), tmp_path / "proxy")
    hub = component_run(container_url=HUB_TARGET, storage_profile="azurestack", egress=proxy, no_proxy=NO_PROXY,
                        storage_egress=[("192.168.102.0/24", 443)])  # fmt: skip
    write_manifests(hub, tmp_path / "hub")
    result = scan(tmp_path)
    assert result["summary"]["resource_count"] >= 20
    assert result["results"]["failed_checks"] == []
    assert {c["check_id"] for c in result["results"]["skipped_checks"]} <= CHECKOV_EXCEPTIONS
