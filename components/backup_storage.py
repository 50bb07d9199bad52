"""BackupStorage: where the hubs' database backups live, in public Azure, never on the hub they protect.

A private container in a geo-redundant storage account. Hubs write with a service SAS scoped to that container
that can read, create, write and list, never delete, HTTPS only and optionally only from the hubs' egress
addresses. `w` could still overwrite a blob: a time-based retention (immutability) policy on the container, at least
as long as the retention, makes every backup unoverwritable and undeletable until it is that old; locked (only when
configured: a locked policy can never be removed or shortened) not even the account's owner can. Old backups are
removed by a lifecycle rule once the retention has passed, and deleted blobs and containers stay recoverable for a
while (soft delete).

The SAS is signed by the account key through ARM's `listServiceSas` action and names a stored access policy
(`si`) of the container: deleting that policy revokes every SAS issued under it without rotating the account key.
The same parameters give the same token on every run, so it changes only when the expiry, the policy name, the
address range (or the account key) changes.

azure-native 3.x cannot do two of these things itself, so a `pulumi_command` local command runs the Azure CLI for
them on the deploying machine (`az login` with rights on the account):
- a blob container's stored access policies are its data-plane ACL (Set Container ACL); `BlobContainer` has no
  `signedIdentifiers` (only `FileShare` has), so `az storage container policy create|delete` manages it;
- `BlobContainerImmutabilityPolicy` has no lock argument (locking is the ARM action `.../immutabilityPolicies/
  default/lock` with the policy's etag), so `az storage container immutability-policy lock` does it, once.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
from pulumi_azure_native import storage

from workloads.backup.settings import HUB_SAS_PERMISSIONS

# The hubs' SAS permissions (workloads/backup/settings.py, which the hubs check them against): create and write
# (Put Block, Put Block List of a new blob), list (find the latest), read (the hub's weekly verification and a
# restore download the encrypted archives); never delete. Overwriting or deleting a backup is refused by the
# container's retention (immutability) policy whatever the SAS allows.
BACKUP_WRITER_PERMISSIONS = HUB_SAS_PERMISSIONS


@dataclass(frozen=True)
class BackupStorageArgs:
    """Inputs of a BackupStorage."""

    resource_group_name: pulumi.Input[str]
    """Resource group of the storage account."""
    location: str
    """Azure region, e.g. `westeurope`."""
    account_name: str
    """Globally unique storage account name (3-24 lowercase letters and digits)."""
    sas_expiry: str
    """Expiry of the hubs' SAS, `YYYY-MM-DD` (UTC midnight); renew it by changing this date."""
    sku: str = "Standard_GRS"
    """Replication of the account; geo-redundant by default so a regional outage keeps the backups."""
    container_name: str = "hub-backups"
    """The private container; each hub writes under its own prefix."""
    retention_days: int = 35
    """Backups older than this are deleted by the lifecycle rule."""
    immutability_days: int | None = None
    """Time-based retention of the container (no overwrite, no delete), at least `retention_days` (the default)."""
    immutability_locked: bool = False
    """Lock the retention policy: irreversible, it can then only be extended, and the account cannot be deleted
    while a blob is under it."""
    sas_policy_name: str = "hub-writer"
    """Stored access policy the hubs' SAS is issued under; rename it to revoke every SAS issued so far."""
    sas_allowed_ip_range: str | None = None
    """The hubs' egress address (`a.b.c.d`) or range (`a.b.c.d-e.f.g.h`); None: any address."""
    soft_delete_days: int = 14
    """How long a deleted blob or container can be recovered."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on the storage account."""


class BackupStorage(pulumi.ComponentResource):
    """Storage account, soft delete, lifecycle rule, private container with a retention policy, the hubs' SAS."""

    account_id: pulumi.Output[str]
    """ARM id of the storage account."""
    container_url: pulumi.Output[str]
    """`https://<account>.blob.core.windows.net/<container>`."""
    sas_token: pulumi.Output[str]
    """Container SAS for the hubs (create, write, list), a secret."""
    sas_expiry: pulumi.Output[str]
    """When the SAS stops working (ISO 8601, UTC)."""

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        immutability_days = args.retention_days if args.immutability_days is None else args.immutability_days
        if immutability_days < args.retention_days:
            # A backup must not become overwritable while it is still kept (the stack's config says so first).
            raise ValueError(
                f"immutability of {immutability_days} days is shorter than the retention of {args.retention_days}"
            )
        super().__init__("stackhub-ha:index:BackupStorage", name, None, opts)
        self._name = name
        self._args = args
        account = self._create_account()
        self._create_soft_delete(account)
        self._create_lifecycle_rule(account)
        container = storage.BlobContainer(
            f"{name}-container",
            storage.BlobContainerArgs(
                resource_group_name=args.resource_group_name,
                account_name=account.name,
                container_name=args.container_name,
                public_access=storage.PublicAccess.NONE,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._create_immutability(account, container, immutability_days)
        stored_policy = self._create_stored_policy(account, container)
        expiry = f"{args.sas_expiry}T00:00:00Z"

        self.account_id = account.id
        self.container_url = pulumi.Output.concat(
            account.primary_endpoints.apply(lambda endpoints: endpoints.blob.rstrip("/")), "/", container.name
        )
        self.sas_token = self._issue_sas(account, container, stored_policy, expiry)
        self.sas_expiry = pulumi.Output.from_input(expiry)
        self.register_outputs({
            "account_id": self.account_id,
            "container_url": self.container_url,
            "sas_token": self.sas_token,
            "sas_expiry": self.sas_expiry,
        })  # fmt: skip

    def _create_account(self) -> storage.StorageAccount:
        """The storage account: private, HTTPS and TLS 1.2 only."""
        args = self._args
        return storage.StorageAccount(
            f"{self._name}-account",
            storage.StorageAccountArgs(
                resource_group_name=args.resource_group_name,
                location=args.location,
                account_name=args.account_name,
                kind="StorageV2",
                sku=storage.SkuArgs(name=args.sku),
                access_tier=storage.AccessTier.HOT,
                allow_blob_public_access=False,
                # Shared keys stay on: the hubs' SAS is signed with one (hubs have no Entra workload identity).
                allow_shared_key_access=True,
                enable_https_traffic_only=True,
                minimum_tls_version="TLS1_2",
                tags=dict(args.tags),
            ),
            # Holds every hub's backups.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )

    def _create_soft_delete(self, account: storage.StorageAccount) -> None:
        """Deleted blobs and containers stay recoverable for `soft_delete_days`."""
        args = self._args
        storage.BlobServiceProperties(
            f"{self._name}-blob-service",
            storage.BlobServicePropertiesArgs(
                resource_group_name=args.resource_group_name,
                account_name=account.name,
                blob_services_name="default",
                delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=args.soft_delete_days),
                container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                    enabled=True, days=args.soft_delete_days
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_lifecycle_rule(self, account: storage.StorageAccount) -> None:
        """Backups in the container are deleted `retention_days` after they were written."""
        args = self._args
        storage.ManagementPolicy(
            f"{self._name}-lifecycle",
            storage.ManagementPolicyArgs(
                resource_group_name=args.resource_group_name,
                account_name=account.name,
                management_policy_name="default",
                policy=storage.ManagementPolicySchemaArgs(
                    rules=[
                        storage.ManagementPolicyRuleArgs(
                            name="expire-old-backups",
                            type="Lifecycle",
                            enabled=True,
                            definition=storage.ManagementPolicyDefinitionArgs(
                                filters=storage.ManagementPolicyFilterArgs(
                                    blob_types=["blockBlob"], prefix_match=[f"{args.container_name}/"]
                                ),
                                actions=storage.ManagementPolicyActionArgs(
                                    base_blob=storage.ManagementPolicyBaseBlobArgs(
                                        delete=storage.DateAfterModificationArgs(
                                            days_after_modification_greater_than=args.retention_days
                                        )
                                    )
                                ),
                            ),
                        )
                    ]
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_immutability(
        self, account: storage.StorageAccount, container: storage.BlobContainer, days: int
    ) -> None:
        """Time-based retention: blobs can be created but neither overwritten nor deleted before they are `days` old;
        locked too when the args say so."""
        args = self._args
        immutability = storage.BlobContainerImmutabilityPolicy(
            f"{self._name}-immutability",
            storage.BlobContainerImmutabilityPolicyArgs(
                resource_group_name=args.resource_group_name,
                account_name=account.name,
                container_name=container.name,
                immutability_policy_name="default",
                immutability_period_since_creation_in_days=days,
                allow_protected_append_writes=False,
            ),
            # Removing the policy would make every backup overwritable by the hubs' SAS.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        if not args.immutability_locked:
            return
        target = pulumi.Output.all(args.resource_group_name, account.name, container.name).apply(
            lambda v: (
                f"--resource-group {shlex.quote(v[0])} --account-name {shlex.quote(v[1])} "
                f"--container-name {shlex.quote(v[2])}"
            )
        )
        # Irreversible: no delete command, and protected. Runs again only if the policy is replaced.
        command.local.Command(
            f"{self._name}-immutability-lock",
            create=pulumi.Output.concat(
                "az storage container immutability-policy lock ", target, " --if-match ",
                "\"$(az storage container immutability-policy show ", target, " --query etag --output tsv)\"",
            ),
            triggers=[immutability.id],
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=[immutability]),
        )  # fmt: skip

    def _create_stored_policy(
        self, account: storage.StorageAccount, container: storage.BlobContainer
    ) -> command.local.Command:
        """The container's stored access policy the SAS is issued under; deleting it revokes the SAS.

        It holds nothing but its name: the SAS carries permissions and expiry (Azure refuses a field set in both), so
        the hubs can still check them.
        """
        args = self._args
        data_plane = pulumi.Output.all(account.name, container.name).apply(
            lambda v: f"--account-name {shlex.quote(v[0])} --container-name {shlex.quote(v[1])} --auth-mode key"
        )
        policy_name = shlex.quote(args.sas_policy_name)
        return command.local.Command(
            f"{self._name}-sas-policy",
            create=pulumi.Output.concat("az storage container policy create ", data_plane, " --name ", policy_name),
            delete=pulumi.Output.concat("az storage container policy delete ", data_plane, " --name ", policy_name),
            # A new name is a new policy (created before the old one is deleted): every earlier SAS stops working.
            triggers=[args.sas_policy_name, container.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[container]),
        )

    def _issue_sas(
        self,
        account: storage.StorageAccount,
        container: storage.BlobContainer,
        stored_policy: command.local.Command,
        expiry: str,
    ) -> pulumi.Output[str]:
        """The hubs' container SAS (a secret), signed with the account key under the stored policy."""
        args = self._args
        sas = storage.list_storage_account_service_sas_output(
            resource_group_name=args.resource_group_name,
            account_name=account.name,
            canonicalized_resource=pulumi.Output.concat("/blob/", account.name, "/", container.name),
            resource="c",
            permissions=BACKUP_WRITER_PERMISSIONS,
            protocols=storage.HttpProtocol.HTTPS,
            shared_access_expiry_time=expiry,
            # Known only once the policy exists: the token is issued after it.
            identifier=stored_policy.id.apply(lambda _: args.sas_policy_name),
            i_p_address_or_range=args.sas_allowed_ip_range,
        )
        return pulumi.Output.secret(sas.service_sas_token)
