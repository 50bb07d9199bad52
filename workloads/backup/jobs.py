"""The backup, verification and restore workloads as Kubernetes-shaped dicts, for the component to create.

Every pod runs as the database's user (`workloads.mongo.MONGODB_UID`), under the `restricted` Pod Security
Standard with a read-only root filesystem and no service account token. Steps hand files over through the `work`
emptyDir:

- backup (CronJob): `dump` (mongo image: mongodump, openssl cms -encrypt) -> `upload` (Python image: counts the
  archive, Put Block / Put Block List, manifest last). Two images because the mongo image has no Python and no
  curl, and the Python image has no mongo tools; sequential init/main containers rather than a named pipe
  because the kubelet then orders them, an init failure stops the pod before the upload step starts, and the
  upload step can read the whole encrypted file (SHA-256 first, blocks retried from the file).
- verification (CronJob): `fetch` -> `restore` (scratch mongod on loopback in the pod) -> `report`.
- restore (Job, created for the occasion): `fetch` -> `restore` into the replica set.

Behind an egress proxy (`JobSettings.egress`), the steps that talk to the storage (`STORAGE_CALLERS`) get the
proxy variables and the proxy's CA (`workloads.egress.with_egress`); the mongo-image steps, which talk to the
database only, get nothing. Whether the storage itself is reached through the proxy is the no-proxy list's decision
(`storage_through_proxy`): a hub's own storage usually is not, and the NetworkPolicies follow that decision.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from planning.egress import EgressProxy, proxy_environment
from workloads.backup.pod.common import PROXY_DIR_VARIABLE
from workloads.backup.pod.profiles import DEFAULT_PROFILE, ProfileName
from workloads.backup.pod.runs import LATEST
from workloads.backup.scripts import RECIPIENTS_DIR, SCRIPTS_DIR, WORK_DIR
from workloads.egress import proxy_egress_rules, with_egress
from workloads.mongo import MONGODB_UID
from workloads.scan_exceptions import PULL_POLICY, ScanException, image_exceptions

POD_PACKAGE = "backupjob"
"""The Python steps' package name inside the pods (the ConfigMap is mounted as this directory)."""
PYTHON_ROOT = "/opt/backup/python"
UID = MONGODB_UID
"""The mongo image's steps run as the database does; the Python steps as the same user, to share the work volume."""
STORAGE_MOUNT = "/etc/backup/storage"
MONGO_CONFIG_MOUNT = "/etc/backup/mongo"
KEY_MOUNT = "/etc/backup/key"
PROXY_MOUNT = "/etc/backup/proxy"
"""The proxy variables as files, when the proxy's URLs carry credentials (`pod.common.load_proxy_files`)."""
BACKUP_LABELS = {"app.kubernetes.io/name": "ratings-backup"}
VERIFY_LABELS = {"app.kubernetes.io/name": "ratings-backup-verification"}
RESTORE_LABELS = {"app.kubernetes.io/name": "ratings-restore"}
STORAGE_CALLERS = {"backup": ("upload",), "verification": ("fetch", "report"), "restore": ("fetch",)}
"""The containers of each pod that talk to the storage: the only ones that get the proxy."""


@dataclass(frozen=True)
class Names:
    """Names of the Secrets and ConfigMaps the pods mount (the component creates them)."""

    storage_secret: str = "ratings-backup-storage"  # noqa: S105 (a Secret\'s name)
    """Key `url`: `<container URL>?<SAS>` (`settings.storage_secret_value`)."""
    dump_config_secret: str = "ratings-backup-mongodump"  # noqa: S105 (a Secret\'s name)
    """Key `config.yaml`: the backup user's `--config` file (`settings.mongo_tool_config`)."""
    restore_config_secret: str = "ratings-restore-mongorestore"  # noqa: S105 (a Secret\'s name)
    """Key `config.yaml`: a user with the `restore` role (root on a rebuilt cluster), for restores only."""
    key_secret: str = "ratings-backup-key"  # noqa: S105 (a Secret\'s name)
    """Key `key.pem`: the private key (verification key for the verification; recovery key for a restore)."""
    recipients_configmap: str = "ratings-backup-recipients"
    """One `<name>.pem` certificate per recipient."""
    python_configmap: str = "ratings-backup-python"
    """`python_files()`."""
    mongo_configmap: str = "ratings-backup-scripts"
    """`scripts.mongo_scripts(...)`."""
    proxy_secret: str = "ratings-backup-proxy"  # noqa: S105 (a Secret's name)
    """One key per proxy variable (`proxy_secret_data`), made only when the proxy's URLs carry credentials."""


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container."""

    cpu: str
    memory: str
    cpu_limit: str
    memory_limit: str

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu, "memory": self.memory},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


@dataclass(frozen=True)
class JobSettings:
    """What the pods need from the hub's configuration."""

    hub: str
    mongo_image: str
    python_image: str
    block_mib: int = 8
    storage_profile: ProfileName = DEFAULT_PROFILE
    """The kind of storage (`workloads.backup.pod.profiles`); the Python steps are told it unless it is the default."""
    egress: EgressProxy | None = None
    """The hub's egress proxy, if it has one: the storage callers get its variables and CA."""
    no_proxy: Sequence[str] = ()
    """The effective no-proxy list (`planning.egress.effective_no_proxy`), with `egress`."""
    work_size: str = "4Gi"
    """emptyDir limit: the plaintext and the encrypted archive side by side, or the scratch database."""
    restore_memory: str = "2Gi"
    """The decrypting containers' limit: `openssl cms -decrypt` holds the archive in memory (see docs)."""
    names: Names = field(default_factory=Names)
    image_pull_secrets: Sequence[str] = ()


def python_files() -> dict[str, str]:
    """The Python steps' ConfigMap: every module of `workloads.backup.pod`, flat."""
    package = resources.files("workloads.backup.pod")
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(package.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".py")
    }


def _security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env(extra: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    values = {"HOME": "/tmp", "BACKUP_WORK": WORK_DIR, **(extra or {})}  # noqa: S108 (an emptyDir)
    return [{"name": key, "value": value} for key, value in values.items()]


def _container(
    *,
    name: str,
    image: str,
    command: list[str],
    env: list[dict[str, str]],
    mounts: list[tuple[str, str]],
    limits: Resources,
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": PULL_POLICY,
        "command": command,
        "env": env,
        "volumeMounts": [
            {"name": volume, "mountPath": path, **({"readOnly": True} if volume not in ("work", "tmp") else {})}
            for volume, path in mounts
        ],
        "resources": limits.as_dict(),
        "securityContext": _security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _python_step(settings: JobSettings, name: str, module: str, args: list[str], mounts: list[tuple[str, str]]) -> Any:
    env = _env({"PYTHONPATH": PYTHON_ROOT, "PYTHONDONTWRITEBYTECODE": "1"})
    profile = [] if settings.storage_profile == DEFAULT_PROFILE else ["--storage-profile", settings.storage_profile]
    command = ["python", "-S", "-m", f"{POD_PACKAGE}.{module}", *args, *profile]
    memory = f"{2 * settings.block_mib + 96}Mi"
    limits = Resources("50m", memory, "500m", memory)
    return _container(
        name=name,
        image=settings.python_image,
        command=command,
        env=env,
        mounts=[*mounts, ("python", f"{PYTHON_ROOT}/{POD_PACKAGE}")],
        limits=limits,
    )


def _pod(settings: JobSettings, init: list[Any], main: list[Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    names = settings.names
    common = [
        {"name": "work", "emptyDir": {"sizeLimit": settings.work_size}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        {"name": "python", "configMap": {"name": names.python_configmap, "defaultMode": 0o444}},
        {"name": "scripts", "configMap": {"name": names.mongo_configmap, "defaultMode": 0o555}},
    ]
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": init,
        "containers": main,
        "volumes": common + volumes,
    }
    if settings.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in settings.image_pull_secrets]
    return spec


def _secret_volume(name: str, secret: str) -> dict[str, Any]:
    return {"name": name, "secret": {"secretName": secret, "defaultMode": 0o440}}


def backup_pod_spec(settings: JobSettings) -> dict[str, Any]:
    """The backup CronJob's pod."""
    names = settings.names
    dump = _container(
        name="dump",
        image=settings.mongo_image,
        command=["/bin/bash", f"{SCRIPTS_DIR}/dump.sh"],
        env=_env({"MONGODUMP_CONFIG": f"{MONGO_CONFIG_MOUNT}/config.yaml"}),
        mounts=[("work", WORK_DIR), ("tmp", "/tmp"), ("scripts", SCRIPTS_DIR), ("mongo-config", MONGO_CONFIG_MOUNT),  # noqa: S108
         ("recipients", RECIPIENTS_DIR)],
        limits=Resources("100m", "256Mi", "1", "512Mi"),
    )  # fmt: skip
    upload = _python_step(
        settings,
        "upload",
        "upload",
        ["--hub", settings.hub, "--work", WORK_DIR, "--sas-file", f"{STORAGE_MOUNT}/url",
         "--recipients", RECIPIENTS_DIR, "--block-kib", str(settings.block_mib * 1024)],
        [("work", WORK_DIR), ("storage", STORAGE_MOUNT), ("recipients", RECIPIENTS_DIR)],
    )  # fmt: skip
    spec = _pod(
        settings,
        [dump],
        [upload],
        [
            _secret_volume("storage", names.storage_secret),
            _secret_volume("mongo-config", names.dump_config_secret),
            {"name": "recipients", "configMap": {"name": names.recipients_configmap, "defaultMode": 0o444}},
        ],
    )
    return _with_egress(spec, STORAGE_CALLERS["backup"], settings)


def verify_pod_spec(settings: JobSettings) -> dict[str, Any]:
    """The verification CronJob's pod: the latest complete backup, restored into a scratch mongod in the pod."""
    names = settings.names
    fetch = _python_step(
        settings,
        "fetch",
        "fetch",
        ["--hub", settings.hub, "--select", LATEST, "--work", WORK_DIR, "--sas-file", f"{STORAGE_MOUNT}/url",
         "--record-failure"],
        [("work", WORK_DIR), ("storage", STORAGE_MOUNT)],
    )  # fmt: skip
    restore = _container(
        name="restore",
        image=settings.mongo_image,
        command=["/bin/bash", f"{SCRIPTS_DIR}/verify-restore.sh"],
        env=_env({"RESTORE_KEY": f"{KEY_MOUNT}/key.pem"}),
        mounts=[("work", WORK_DIR), ("tmp", "/tmp"), ("scripts", SCRIPTS_DIR), ("key", KEY_MOUNT)],  # noqa: S108
        limits=Resources("250m", settings.restore_memory, "2", settings.restore_memory),
    )
    report = _python_step(
        settings,
        "report",
        "report",
        ["--work", WORK_DIR, "--sas-file", f"{STORAGE_MOUNT}/url"],
        [("work", WORK_DIR), ("storage", STORAGE_MOUNT)],
    )
    spec = _pod(
        settings,
        [fetch, restore],
        [report],
        [_secret_volume("storage", names.storage_secret), _secret_volume("key", names.key_secret)],
    )
    return _with_egress(spec, STORAGE_CALLERS["verification"], settings)


def restore_pod_spec(settings: JobSettings, select: str = LATEST) -> dict[str, Any]:
    """The restore Job's pod: `select` is latest, latest-verified or `<hub>/<stamp>`."""
    names = settings.names
    fetch = _python_step(
        settings,
        "fetch",
        "fetch",
        ["--hub", settings.hub, "--select", select, "--work", WORK_DIR, "--sas-file", f"{STORAGE_MOUNT}/url"],
        [("work", WORK_DIR), ("storage", STORAGE_MOUNT)],
    )
    restore_env = {"RESTORE_KEY": f"{KEY_MOUNT}/key.pem", "MONGORESTORE_CONFIG": f"{MONGO_CONFIG_MOUNT}/config.yaml"}
    restore = _container(
        name="restore",
        image=settings.mongo_image,
        command=["/bin/bash", f"{SCRIPTS_DIR}/restore.sh"],
        env=_env(restore_env),
        mounts=[("work", WORK_DIR), ("tmp", "/tmp"), ("scripts", SCRIPTS_DIR), ("key", KEY_MOUNT),  # noqa: S108
                ("mongo-config", MONGO_CONFIG_MOUNT)],
        limits=Resources("250m", settings.restore_memory, "2", settings.restore_memory),
    )  # fmt: skip
    spec = _pod(
        settings,
        [fetch],
        [restore],
        [
            _secret_volume("storage", names.storage_secret),
            _secret_volume("key", names.key_secret),
            _secret_volume("mongo-config", names.restore_config_secret),
        ],
    )
    return _with_egress(spec, STORAGE_CALLERS["restore"], settings)


def _with_egress(spec: dict[str, Any], callers: Sequence[str], settings: JobSettings) -> dict[str, Any]:
    """The pod as it is without a proxy; with one, its storage callers get the proxy variables and the CA.

    When the proxy's URLs carry credentials, the variables are files of the `proxy_secret` Secret, mounted into the
    callers only, rather than values in the pod spec (and so in the CronJob, the stack's state and every rendered
    manifest) in plain text, or environment variables taken from a Secret (which any process of the container and
    anything that can read its environment sees); the steps load them before making a client.
    """
    proxy = settings.egress
    if proxy is None:
        return spec
    result = with_egress(spec, callers, proxy, settings.no_proxy)
    if not proxy.has_credentials:
        return result
    variables = set(proxy_environment(proxy, settings.no_proxy))
    for group in ("initContainers", "containers"):
        for container in result.get(group) or []:
            if container["name"] not in callers:
                continue
            kept = [item for item in container["env"] if item["name"] not in variables]
            container["env"] = [*kept, {"name": PROXY_DIR_VARIABLE, "value": PROXY_MOUNT}]
            container["volumeMounts"] = [*container["volumeMounts"],
                                         {"name": "proxy", "mountPath": PROXY_MOUNT, "readOnly": True}]  # fmt: skip
    result["volumes"] = [*result["volumes"], _secret_volume("proxy", settings.names.proxy_secret)]
    return result


def proxy_secret_data(settings: JobSettings) -> dict[str, str] | None:
    """What the `proxy_secret` Secret holds: the proxy variables, when the proxy's URLs carry credentials."""
    proxy = settings.egress
    if proxy is None or not proxy.has_credentials:
        return None
    return proxy_environment(proxy, settings.no_proxy)


def storage_through_proxy(container_url: str, proxy: EgressProxy | None, no_proxy: Sequence[str]) -> bool:
    """Whether the pods reach the storage through the proxy: the decision of the pods' own client (urllib).

    urllib reads no CIDR in `no_proxy` and matches each entry, any leading dot ignored, as the host itself or a
    suffix after a dot (`urllib.request.proxy_bypass_environment`; the tests hold this to it). The effective no-proxy
    list holds the hub's storage suffix, so a storage account on the hub itself is reached directly.
    """
    if proxy is None:
        return False
    host = (urlsplit(container_url).hostname or "").lower()
    for entry in no_proxy:
        name = entry.strip().lstrip(".").lower()
        if name and (host == name or host.endswith(f".{name}")):
            return False
    return True


def scan_exceptions(settings: JobSettings) -> list[ScanException]:
    """The checkov exceptions every backup, verification and restore CronJob carries: their images'."""
    return image_exceptions([settings.mongo_image, settings.python_image])


def cronjob(
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    schedule: str,
    time_zone: str,
    deadlines: tuple[int, int],
    pod_spec: Mapping[str, Any],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A batch/v1 CronJob: Forbid, a starting and an active deadline (`settings.job_deadlines`), one retry.

    `annotations` go on the CronJob itself (`scan_exceptions.skip_annotations(scan_exceptions(settings))`).
    """
    starting, active = deadlines
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata,
        "spec": {
            "schedule": schedule,
            "timeZone": time_zone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": starting,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": active,
                    "template": {"metadata": {"labels": dict(labels)}, "spec": dict(pod_spec)},
                },
            },
        },
    }


def restore_template(suspended: dict[str, Any]) -> dict[str, Any]:
    """The restore's CronJob as a template (`kubectl create job --from=cronjob/...` makes one restore): never
    scheduled (suspended), and no retry, since a failed restore is looked at before it runs again."""
    template = copy.deepcopy(suspended)
    template["spec"]["suspend"] = True
    template["spec"]["jobTemplate"]["spec"]["backoffLimit"] = 0
    return template


def network_policies(
    namespace: str,
    database_labels: Mapping[str, str],
    database_port: int,
    storage_egress: Sequence[tuple[str, int]],
    proxy: EgressProxy | None = None,
) -> list[dict[str, Any]]:
    """Egress of the backup, verification and restore pods: the database (backup, restore) and the storage.

    `storage_egress` is (CIDR, port) pairs the pods reach directly: the storage endpoint's addresses on 443.
    `proxy` is the egress proxy when the storage is reached through it (`storage_through_proxy`): its addresses
    and ports (`workloads.egress.proxy_egress_rules`) then come first. NetworkPolicy matches addresses, not names;
    the storage account's addresses are not promised to stay, so a proxy that allows the storage host by name is
    the steadier choice where a hub has one. DNS is left to the namespace's allow-dns policy. The database's own
    policy must admit the backup and restore pods too (`database_ingress_peers`).
    """
    storage = [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}
               for cidr, port in storage_egress]  # fmt: skip
    if proxy is not None:
        storage = [*proxy_egress_rules(proxy), *storage]
    database = {"to": [{"podSelector": {"matchLabels": dict(database_labels)}}],
                "ports": [{"protocol": "TCP", "port": database_port}]}  # fmt: skip

    def policy(name: str, labels: Mapping[str, str], rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "podSelector": {"matchLabels": dict(labels)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": rules,
            },
        }

    return [
        policy("ratings-backup", BACKUP_LABELS, [database, *storage]),
        policy("ratings-backup-verification", VERIFY_LABELS, storage),
        policy("ratings-restore", RESTORE_LABELS, [database, *storage]),
    ]


def database_ingress_peers() -> list[dict[str, Any]]:
    """Peers to add to the database pods' ingress rule on its port."""
    return [{"podSelector": {"matchLabels": dict(labels)}} for labels in (BACKUP_LABELS, RESTORE_LABELS)]
