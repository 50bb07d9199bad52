"""The shared stack: services in public Azure that every hub uses and that must not live on a hub.

The container registry the hubs pull from, the workspace they send logs and events to, the storage their database
backups go to, and optionally the public DNS zone of the application's name (cert-manager's Azure DNS solver works
only with public Azure DNS).
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Annotated, Literal

import pulumi
from pulumi_azure_native import authorization, dns, resources
from pydantic import AfterValidator, Field, SecretStr

from components.backup_storage import BackupStorage, BackupStorageArgs
from components.container_registry import ContainerRegistry, ContainerRegistryArgs
from components.log_ingestion import LogIngestion, LogIngestionArgs
from stacks.config import (
    PUBLIC_AZURE_MAX_TAGS,
    STORAGE_ACCOUNT_TAG_NAME_MAX,
    AzureRegion,
    Fqdn,
    Guid,
    Problem,
    ResourceGroupName,
    StackConfig,
    load,
    tag_problems,
)
from stacks.contracts import shared_exports

# A repository path as the registry accepts it: lowercase components separated by '/'.
_REPOSITORY = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"


def _date(value: str) -> str:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date YYYY-MM-DD, e.g. 2027-06-30") from None
    if len(value) != len("YYYY-MM-DD"):
        raise ValueError("must be a date YYYY-MM-DD, e.g. 2027-06-30")
    return value


IsoDate = Annotated[str, AfterValidator(_date)]


def sas_expiry_problem(expiry: str, today: datetime.date) -> str | None:
    """Why the hubs' backup SAS cannot expire on `expiry` (a valid YYYY-MM-DD), or None: it must still be valid."""
    if datetime.date.fromisoformat(expiry) > today:
        return None
    return (
        f"is not after today ({today.isoformat()}, UTC): the hubs' SAS would be issued already expired and every "
        "backup would fail; move it forward"
    )


SHARED_SYSTEM_TAGS = ("managed-by", "role")
"""Tags the program puts on every shared resource; a user tag may not take their names."""


def _ip_range(value: str) -> str:
    """An IPv4 address or an ascending range `a.b.c.d-e.f.g.h`, as a SAS's `sip` accepts it (no CIDR, no IPv6)."""
    message = "must be an IPv4 address (203.0.113.10) or range (203.0.113.0-203.0.113.255)"
    try:
        bounds = [ipaddress.IPv4Address(part) for part in value.split("-")]
    except ValueError:
        raise ValueError(message) from None
    if len(bounds) > 2 or bounds[0] > bounds[-1]:
        raise ValueError(message + ", lowest address first")
    return value


IpRange = Annotated[str, AfterValidator(_ip_range)]


class SharedConfig(StackConfig):
    """Configuration of the shared stack (`role: shared`)."""

    role: Literal["shared"]
    location: AzureRegion
    resource_group: ResourceGroupName = Field(description="resource group of every shared service")
    name_prefix: str = Field(
        pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$", description="prefix of the workspace, endpoint and rule names"
    )
    registry_name: str = Field(pattern=r"^[a-z0-9]{5,50}$", description="globally unique registry name")
    registry_sku: Literal["Basic", "Standard", "Premium"] = "Standard"
    registry_pull_repositories: list[Annotated[str, Field(pattern=_REPOSITORY)]] = Field(
        default_factory=lambda: ["ratings-api", "ratings-web"], min_length=1
    )
    registry_pull_password: SecretStr | None = Field(
        default=None, description="password of the hubs' pull token, from `az acr token credential generate`"
    )
    storage_account_name: str = Field(pattern=r"^[a-z0-9]{3,24}$", description="globally unique storage account name")
    backup_storage_sku: Literal[
        "Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"
    ] = "Standard_GRS"
    backup_container_name: str = Field(
        default="hub-backups", pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length=3, max_length=63
    )
    backup_retention_days: int = Field(default=35, ge=7, le=3650)
    backup_immutability_days: int | None = Field(
        default=None, ge=7, le=146000, description="time-based retention of the container; default the retention"
    )
    backup_immutability_locked: bool = False
    backup_sas_policy_name: str = Field(default="hub-writer", pattern=r"^[A-Za-z0-9-]{1,64}$")
    backup_sas_allowed_ip_range: IpRange | None = None
    backup_sas_expiry: IsoDate = Field(description="expiry date of the hubs' backup SAS, YYYY-MM-DD")
    log_retention_days: int = Field(default=30, ge=30, le=730)
    log_publisher_client_id: Guid = Field(description="application (client) id the hubs publish logs with")
    log_publisher_principal_id: Guid = Field(description="object id of that application's service principal")
    log_publisher_client_secret: SecretStr = Field(description="client secret of that application")
    dns_zone_name: Fqdn | None = None
    tags: dict[str, str] = Field(default_factory=dict, description="tags put on every shared resource")

    def cross_checks(self) -> list[Problem]:
        """The pull repositories are listed once each; backups stay immutable at least as long as they are kept;
        the SAS has not expired; the tags are ones Resource Manager takes and the program does not set."""
        today = datetime.datetime.now(datetime.UTC).date()
        repeated = sorted({r for r in self.registry_pull_repositories if self.registry_pull_repositories.count(r) > 1})
        problems = [Problem("registryPullRepositories", repr(r), "is listed more than once") for r in repeated]
        immutability = self.backup_immutability_days
        if immutability is not None and immutability < self.backup_retention_days:
            problems.append(
                Problem(
                    "backupImmutabilityDays",
                    repr(immutability),
                    f"must be at least backupRetentionDays ({self.backup_retention_days}): a backup must stay "
                    "unoverwritable for as long as it is kept",
                )
            )
        if (why := sas_expiry_problem(self.backup_sas_expiry, today)) is not None:
            problems.append(Problem("backupSasExpiry", repr(self.backup_sas_expiry), why))
        # The storage account carries the tags too: its tag names are limited to 128 characters.
        problems += tag_problems(self.tags, system=SHARED_SYSTEM_TAGS, max_tags=PUBLIC_AZURE_MAX_TAGS,
                                 name_max=STORAGE_ACCOUNT_TAG_NAME_MAX)  # fmt: skip
        return problems


def program(stack: str) -> None:
    """The shared stack's program: validated config -> components -> exported contract."""
    config = load(SharedConfig, stack)
    tags = {"managed-by": "pulumi", "role": "shared", **config.tags}
    client = authorization.get_client_config_output()

    group = resources.ResourceGroup(
        "shared-rg",
        resources.ResourceGroupArgs(resource_group_name=config.resource_group, location=config.location, tags=tags),
        opts=pulumi.ResourceOptions(protect=True),
    )
    registry = _registry(config, group.name, tags)
    logs = _log_ingestion(config, group.name, client.subscription_id, tags)
    backups = _backup_storage(config, group.name, tags)
    zone = _dns_zone(config, group.name, tags)

    pull_password = config.registry_pull_password
    exports = shared_exports(
        location=config.location,
        resource_group=group.name,
        registry=registry,
        registry_pull_password=None
        if pull_password is None
        else pulumi.Output.secret(pull_password.get_secret_value()),
        logs=logs,
        logs_tenant_id=client.tenant_id,
        logs_client_id=config.log_publisher_client_id,
        logs_client_secret=pulumi.Output.secret(config.log_publisher_client_secret.get_secret_value()),
        backups=backups,
        dns_zone_name=config.dns_zone_name,
        dns_zone_id=None if zone is None else zone.id,
        dns_name_servers=None if zone is None else zone.name_servers,
    )
    for key, value in exports.items():
        pulumi.export(key, value)


def _registry(config: SharedConfig, group: pulumi.Output[str], tags: dict[str, str]) -> ContainerRegistry:
    """The registry the hubs pull the application's images from, with their pull-only token."""
    return ContainerRegistry(
        "registry",
        ContainerRegistryArgs(
            resource_group_name=group,
            location=config.location,
            registry_name=config.registry_name,
            sku=config.registry_sku,
            pull_repositories=config.registry_pull_repositories,
            tags=tags,
        ),
    )


def _log_ingestion(
    config: SharedConfig, group: pulumi.Output[str], subscription_id: pulumi.Output[str], tags: dict[str, str]
) -> LogIngestion:
    """The workspace, endpoint and rule the hubs send container logs and Kubernetes events to."""
    return LogIngestion(
        "logs",
        LogIngestionArgs(
            resource_group_name=group,
            location=config.location,
            name_prefix=config.name_prefix,
            subscription_id=subscription_id,
            publisher_principal_id=config.log_publisher_principal_id,
            retention_days=config.log_retention_days,
            tags=tags,
        ),
    )


def _backup_storage(config: SharedConfig, group: pulumi.Output[str], tags: dict[str, str]) -> BackupStorage:
    """Where the hubs' database backups go: never on the hub they protect."""
    return BackupStorage(
        "backups",
        BackupStorageArgs(
            resource_group_name=group,
            location=config.location,
            account_name=config.storage_account_name,
            sku=config.backup_storage_sku,
            container_name=config.backup_container_name,
            retention_days=config.backup_retention_days,
            immutability_days=config.backup_immutability_days,
            immutability_locked=config.backup_immutability_locked,
            sas_expiry=config.backup_sas_expiry,
            sas_policy_name=config.backup_sas_policy_name,
            sas_allowed_ip_range=config.backup_sas_allowed_ip_range,
            tags=tags,
        ),
    )


def _dns_zone(config: SharedConfig, group: pulumi.Output[str], tags: dict[str, str]) -> dns.Zone | None:
    """The public zone of the application's name, when configured (cert-manager's DNS-01 solver writes there)."""
    if config.dns_zone_name is None:
        return None
    return dns.Zone(
        "app-zone",
        dns.ZoneArgs(
            resource_group_name=group,
            zone_name=config.dns_zone_name,
            location="global",
            zone_type=dns.ZoneType.PUBLIC,
            tags=tags,
        ),
        # Recreating a zone assigns new name servers, breaking the delegation at the registrar.
        opts=pulumi.ResourceOptions(protect=True),
    )
