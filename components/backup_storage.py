"""BackupStorage: where the hubs' database backups live, in public Azure, never on the hub they protect.

A private container in a geo-redundant storage account. Hubs write with a service SAS scoped to that container
that can read, create, write and list but not delete: a compromised hub cannot erase the backups. Old backups
are removed by a lifecycle rule, and deleted blobs and containers stay recoverable for a while (soft delete).

The SAS is signed by the account key through ARM's `listServiceSas` action: the same parameters give the same
token on every run, so it changes only when the expiry (or the account key) changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import storage

# Read (restore), create and write (upload), list (find the latest); no delete.
BACKUP_WRITER_PERMISSIONS = "rcwl"


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
    soft_delete_days: int = 14
    """How long a deleted blob or container can be recovered."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on the storage account."""


class BackupStorage(pulumi.ComponentResource):
    """Storage account, soft delete, lifecycle rule, private container and the hubs' container SAS."""

    account_id: pulumi.Output[str]
    """ARM id of the storage account."""
    container_url: pulumi.Output[str]
    """`https://<account>.blob.core.windows.net/<container>`."""
    sas_token: pulumi.Output[str]
    """Container SAS for the hubs (read, create, write, list), a secret."""
    sas_expiry: pulumi.Output[str]
    """When the SAS stops working (ISO 8601, UTC)."""

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("stackhub-ha:index:BackupStorage", name, None, opts)
        account = storage.StorageAccount(
            f"{name}-account",
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
        storage.BlobServiceProperties(
            f"{name}-blob-service",
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
        storage.ManagementPolicy(
            f"{name}-lifecycle",
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
        expiry = f"{args.sas_expiry}T00:00:00Z"
        sas = storage.list_storage_account_service_sas_output(
            resource_group_name=args.resource_group_name,
            account_name=account.name,
            canonicalized_resource=pulumi.Output.concat("/blob/", account.name, "/", container.name),
            resource="c",
            permissions=BACKUP_WRITER_PERMISSIONS,
            protocols=storage.HttpProtocol.HTTPS,
            shared_access_expiry_time=expiry,
        )

        self.account_id = account.id
        self.container_url = pulumi.Output.concat(
            account.primary_endpoints.apply(lambda endpoints: endpoints.blob.rstrip("/")), "/", container.name
        )
        self.sas_token = pulumi.Output.secret(sas.service_sas_token)
        self.sas_expiry = pulumi.Output.from_input(expiry)
        self.register_outputs({
            "account_id": self.account_id,
            "container_url": self.container_url,
            "sas_token": self.sas_token,
            "sas_expiry": self.sas_expiry,
        })  # fmt: skip
