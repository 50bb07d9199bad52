"""DatabaseBackup: encrypted off-hub backups of the ratings database and their weekly verified restore.

What it creates in the application's namespace (the pieces come from `workloads.backup`):
- the backup user's password (pulumi-random, protected) and its Secret, which the replica-set members read to
  create the user with the built-in `backup` role only (RatingsApp, `backup_user`);
- Secrets: the storage (`<container URL>?<SAS>`), mongodump's `--config` file, the verification private key;
- ConfigMaps: the pod-side Python steps, the mongo-image scripts, the recipients' certificates (public only);
- the backup CronJob and the verification CronJob (Forbid, deadlines from the schedule, time zone, history);
- a suspended restore CronJob that is never scheduled: the reviewed template of the restore Job, which an operator
  starts with `kubectl create job --from=cronjob/ratings-restore ...` once the recovery key and the restore user's
  `--config` Secret are in place (docs/operations.md, "Backups and restores"). The recovery key that opens every
  backup must never pass through Pulumi config or state, so no restore is declared here;
- the NetworkPolicies that let these pods reach only the database and the storage endpoint (or the egress proxy);
- behind an egress proxy (`egress`): the proxy's CA in a ConfigMap (`workloads.egress.ca_config_map`), and, when
  the proxy's URLs carry credentials, the proxy variables in a Secret mounted as files. Only the containers that
  talk to the storage get them (`workloads.backup.jobs.STORAGE_CALLERS`).

The storage is the shared stack's container in public Azure (`storage_profile="azure"`), or a storage account on
the hub's own network (`"azurestack"`, for hubs that cannot reach Azure): the component is the same for both; the
profile tells the pods which service version to speak and how large a block may be.

The component knows nothing of config: the hub stack checks the settings (`workloads.backup.settings`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from planning.egress import EgressProxy, proxy_cidrs
from workloads.backup.jobs import (
    BACKUP_LABELS,
    RESTORE_LABELS,
    VERIFY_LABELS,
    JobSettings,
    Names,
    backup_pod_spec,
    cronjob,
    network_policies,
    proxy_secret_data,
    python_files,
    restore_pod_spec,
    restore_template,
    scan_exceptions,
    storage_through_proxy,
    verify_pod_spec,
)
from workloads.backup.pod.profiles import storage_profile
from workloads.backup.pod.runs import LATEST_VERIFIED
from workloads.backup.scripts import Recipient, mongo_scripts
from workloads.backup.settings import (
    DEFAULT_BLOCK_MIB,
    DEFAULT_SCHEDULE,
    DEFAULT_TIME_ZONE,
    DEFAULT_VERIFY_SCHEDULE,
    check_block_mib,
    dump_read_preference,
    job_deadlines,
    mongo_tool_config,
    storage_secret_value,
)
from workloads.egress import ca_config_map
from workloads.mongo import BACKUP_USER, BACKUP_USER_FILES, BACKUP_USER_SECRET, REPLICA_SET
from workloads.scan_exceptions import skip_annotations

BACKUP_CRONJOB = "ratings-backup"
VERIFY_CRONJOB = "ratings-backup-verification"
RESTORE_TEMPLATE = "ratings-restore"
"""The suspended CronJob that restore Jobs are created from."""
RESTORE_KEY_SECRET = "ratings-restore-key"  # noqa: S105 (a Secret's name)
"""Key `key.pem`: the recovery private key, created by the operator for one restore and deleted after it."""
RESTORE_SCHEDULE = "0 0 1 1 *"
"""Never fires (the CronJob is suspended); sets the restore Job's active deadline (four hours)."""


@dataclass(frozen=True)
class BackupRecipient:
    """A certificate the archives are encrypted for (checked by `settings.check_recipient`)."""

    file: str
    """Key in the recipients' ConfigMap, e.g. `recovery.pem`."""
    pem: str
    """The PEM certificate (public)."""
    rsa: bool
    """Whether its key is RSA (OAEP) rather than EC."""


@dataclass(frozen=True)
class DatabaseBackupArgs:
    """Inputs of a DatabaseBackup."""

    provider: k8s.Provider
    """The cluster's Kubernetes provider."""
    namespace: pulumi.Input[str]
    """The application's namespace (RatingsApp.namespace: its Output makes every object wait for it)."""
    hub: str
    """The hub's name: each run is stored under `<hub>/<UTC timestamp>/`."""
    container_url: pulumi.Input[str]
    """The backup container (https): the shared stack's, or one on the hub (`storage_profile="azurestack"`). A
    plain string when `egress` is set: whether the pods reach it through the proxy depends on its host."""
    sas_token: pulumi.Input[str]
    """The hubs' SAS for it (rcwl, no delete); kept only in a Secret."""
    recipients: Sequence[BackupRecipient]
    """Certificates the archives are encrypted for: at least one; the private keys stay off the hub."""
    verification_key: pulumi.Input[str]
    """PEM private key of this hub's verification recipient (one of `recipients`); kept only in a Secret."""
    database_hosts: Sequence[str]
    """The replica set's members (`host:port`)."""
    database_labels: Mapping[str, str]
    """Labels of the database pods (the NetworkPolicy's egress target)."""
    database_port: int
    """The database's port."""
    storage_egress: Sequence[tuple[str, int]]
    """(CIDR, port) pairs the pods reach directly: the storage endpoint on 443. Needed unless the storage is reached
    through `egress` (then the policies allow the proxy instead, and these are not used)."""
    mongo_image: str
    """The mongo image (mongodump, mongorestore, openssl): the database's own image."""
    python_image: str
    """A pinned Python 3 image for the upload, fetch and report steps."""
    storage_profile: Literal["azure", "azurestack"] = "azure"
    """The kind of storage behind `container_url` (`workloads.backup.pod.profiles`): Azure, or an Azure Stack Hub's
    own Blob service (service version 2019-07-07, blocks of at most 100 MiB, no immutability set by this project)."""
    egress: EgressProxy | None = None
    """The hub's egress proxy, if it has one."""
    no_proxy: Sequence[str] = field(default_factory=tuple)
    """The effective no-proxy list (`planning.egress.effective_no_proxy`, computed by the stack), with `egress`."""
    schedule: str = DEFAULT_SCHEDULE
    """The backup CronJob's schedule."""
    verify_schedule: str = DEFAULT_VERIFY_SCHEDULE
    """The verification CronJob's schedule."""
    time_zone: str = DEFAULT_TIME_ZONE
    """The CronJobs' IANA time zone."""
    block_mib: int = DEFAULT_BLOCK_MIB
    """Upload block size in MiB."""
    image_pull_secrets: Sequence[str] = field(default_factory=tuple)
    """Pull Secrets of the pods (the application's registry Secret)."""

    def __post_init__(self) -> None:
        if not self.recipients:
            raise ValueError("at least one backup recipient certificate is needed")
        files = [recipient.file for recipient in self.recipients]
        if len(set(files)) != len(files):
            raise ValueError(f"backup recipients {files}: the file names must differ")
        storage_profile(self.storage_profile)
        check_block_mib(self.block_mib, self.storage_profile)
        if self.egress is not None and not isinstance(self.container_url, str):
            raise ValueError(
                "container_url must be a plain string when egress is set: whether the pods reach the storage through "
                "the proxy depends on its host and the no-proxy list"
            )
        if self.storage_through_proxy:
            return
        covered = " (the no-proxy list covers its host)" if self.egress is not None else ""
        if not self.storage_egress:
            raise ValueError(
                f"storage_egress: at least one (CIDR, port) pair: the pods reach the storage directly{covered}"
            )
        if self.egress is not None and set(self.storage_egress) <= _proxy_pairs(self.egress):
            raise ValueError(
                f"storage_egress {list(self.storage_egress)} names the egress proxy, but the pods reach the storage "
                f"directly{covered}: give the storage endpoint's address ranges on 443"
            )

    @property
    def storage_through_proxy(self) -> bool:
        """Whether the pods reach the storage through `egress` (never without one)."""
        if self.egress is None or not isinstance(self.container_url, str):
            return False
        return storage_through_proxy(self.container_url, self.egress, self.no_proxy)


def _proxy_pairs(proxy: EgressProxy) -> set[tuple[str, int]]:
    return {(cidr, endpoint.port) for cidr in proxy_cidrs(proxy) for endpoint in proxy.endpoints}


class DatabaseBackup(pulumi.ComponentResource):
    """The backup and verification CronJobs of the ratings database, their Secrets, ConfigMaps and policies."""

    backup_cronjob: pulumi.Output[str]
    """Name of the backup CronJob."""
    verification_cronjob: pulumi.Output[str]
    """Name of the verification CronJob."""
    restore_template: pulumi.Output[str]
    """Name of the suspended CronJob that restore Jobs are created from."""

    def __init__(self, name: str, args: DatabaseBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("stackhub-ha:index:DatabaseBackup", name, None, opts)
        self._name = name
        self._args = args
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        names = Names()
        settings = JobSettings(
            hub=args.hub,
            mongo_image=args.mongo_image,
            python_image=args.python_image,
            block_mib=args.block_mib,
            storage_profile=args.storage_profile,
            egress=args.egress,
            no_proxy=tuple(args.no_proxy),
            names=names,
            image_pull_secrets=tuple(args.image_pull_secrets),
        )
        # Every CronJob runs the same two images, so carries the same checkov exceptions.
        self._annotations: dict[str, str] = skip_annotations(scan_exceptions(settings))
        password = random.RandomPassword(
            f"{name}-user-password",
            length=32,
            special=False,
            # A new value would not reach a database that already has the user until the members restart.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        tool_config = password.result.apply(
            lambda secret: mongo_tool_config(BACKUP_USER, secret, args.database_hosts, REPLICA_SET)
        )
        storage = pulumi.Output.all(args.container_url, args.sas_token).apply(
            lambda parts: storage_secret_value(parts[0], parts[1])
        )
        username_key, password_key = BACKUP_USER_FILES
        user: dict[str, pulumi.Input[str]] = {username_key: BACKUP_USER, password_key: password.result}
        self._secret("user", BACKUP_USER_SECRET, user)
        self._secret("storage", names.storage_secret, {"url": storage})
        self._secret("mongodump", names.dump_config_secret, {"config.yaml": tool_config})
        self._secret("verification-key", names.key_secret, {"key.pem": args.verification_key})
        if (proxy_variables := proxy_secret_data(settings)) is not None:
            self._secret("proxy", names.proxy_secret, dict(proxy_variables))

        recipients = [Recipient(r.file, r.rsa) for r in args.recipients]
        members = len(args.database_hosts)
        self._config_map("python", names.python_configmap, python_files())
        self._config_map("scripts", names.mongo_configmap, mongo_scripts(recipients, dump_read_preference(members)))
        self._config_map("recipients", names.recipients_configmap, {r.file: r.pem for r in args.recipients})
        if args.egress is not None and (ca := ca_config_map("", args.egress)) is not None:
            self._config_map("egress-ca", ca["metadata"]["name"], ca["data"], ca["metadata"]["labels"])

        restore_settings = replace(settings, names=replace(names, key_secret=RESTORE_KEY_SECRET))
        restore = restore_template(self._cronjob(RESTORE_TEMPLATE, RESTORE_LABELS, RESTORE_SCHEDULE,
                                                 restore_pod_spec(restore_settings, LATEST_VERIFIED)))  # fmt: skip
        for role, body in (
            ("backup", self._cronjob(BACKUP_CRONJOB, BACKUP_LABELS, args.schedule, backup_pod_spec(settings))),
            ("verification", self._cronjob(VERIFY_CRONJOB, VERIFY_LABELS, args.verify_schedule,
                                           verify_pod_spec(settings))),
            ("restore", restore),
        ):  # fmt: skip
            k8s.batch.v1.CronJob(
                f"{name}-{role}-cronjob",
                metadata=self._metadata(body["metadata"]),
                spec=body["spec"],
                opts=self._opts,
            )
        through_proxy = args.storage_through_proxy
        direct = () if through_proxy else args.storage_egress
        proxy = args.egress if through_proxy else None
        for policy in network_policies("", args.database_labels, args.database_port, direct, proxy):
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy['metadata']['name']}-netpol",
                metadata=self._metadata(policy["metadata"]),
                spec=policy["spec"],
                opts=self._opts,
            )

        self.backup_cronjob = pulumi.Output.from_input(BACKUP_CRONJOB)
        self.verification_cronjob = pulumi.Output.from_input(VERIFY_CRONJOB)
        self.restore_template = pulumi.Output.from_input(RESTORE_TEMPLATE)
        self.register_outputs({
            "backup_cronjob": self.backup_cronjob,
            "verification_cronjob": self.verification_cronjob,
            "restore_template": self.restore_template,
        })  # fmt: skip

    def _metadata(self, metadata: Mapping[str, Any]) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=metadata["name"],
            namespace=self._args.namespace,
            labels=metadata.get("labels"),
            annotations=metadata.get("annotations"),
        )

    def _cronjob(self, name: str, labels: Mapping[str, str], schedule: str, pod_spec: Any) -> dict[str, Any]:
        return cronjob(
            name=name,
            namespace="",
            labels=labels,
            schedule=schedule,
            time_zone=self._args.time_zone,
            deadlines=job_deadlines(schedule),
            pod_spec=pod_spec,
            annotations=self._annotations,
        )

    def _secret(self, role: str, name: str, string_data: Mapping[str, pulumi.Input[str]]) -> None:
        k8s.core.v1.Secret(
            f"{self._name}-{role}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self._args.namespace),
            type="Opaque",
            string_data={key: pulumi.Output.secret(value) for key, value in string_data.items()},
            opts=self._opts,
        )

    def _config_map(
        self, role: str, name: str, data: Mapping[str, str], labels: Mapping[str, str] | None = None
    ) -> None:
        k8s.core.v1.ConfigMap(
            f"{self._name}-{role}-configmap",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self._args.namespace, labels=labels),
            data=dict(data),
            opts=self._opts,
        )
