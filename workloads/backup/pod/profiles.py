"""Where backups can go, and what each kind of storage accepts: the one place that knows it.

Standard library only: the pods import it (they are told their profile by a command-line argument, never left to
guess it from the URL), and the hub stack's checks import it too (`workloads.backup.settings`).

- `azure`: a storage account in public Azure (the shared stack's `BackupStorage`). Service version 2019-12-12, the
  first that takes blocks of up to 4000 MiB. The shared stack puts a time-based retention (immutability) policy on
  the container, so not even a holder of the hubs' SAS can overwrite or delete a backup before it expires.
- `azurestack`: the Blob service of an Azure Stack Hub storage account, on the hub's own network
  (`https://<account>.blob.<region>.<fqdn>/<container>`), for hubs that cannot reach public Azure. A hub accepts
  storage service versions up to 2019-07-07 (release 2008 and later; azure-stack-docs `azure-stack-acs-differences.md`
  and the 2008 release notes) and refuses newer ones with `400 InvalidHeaderValue` naming `x-ms-version`. Before
  2019-12-12, Put Block takes at most 100 MiB (Azure's limit at those versions, and the hub's documented block blob
  limit of 100 MB x 50,000 blocks). The storage account is the operator's, not this project's, and nothing here
  sets an immutability policy on its container (hubs from release 2008 take container policies through the storage
  resource provider's REST API only, untested here): without one, whoever holds the SAS (`w`) can overwrite a
  backup there (docs/operations.md says what protects the data then).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

MIB = 1024 * 1024
ProfileName = Literal["azure", "azurestack"]


@dataclass(frozen=True)
class StorageProfile:
    """What the pods send to one kind of storage, and what its SAS and blocks may be."""

    name: ProfileName
    """`azure` or `azurestack`: the value of `--storage-profile` and of the stack's setting."""
    service_version: str
    """Sent as `x-ms-version` on every request."""
    oldest_sas_version: str
    """The oldest SAS service version (`sv`) accepted: the SAS must support what the hubs' SAS carries (`spr`)."""
    newest_sas_version: str | None
    """The newest `sv` the storage accepts (None: no known limit)."""
    max_block_bytes: int
    """The largest block Put Block takes at `service_version`."""
    immutable: bool
    """Whether this project puts a time-based retention policy on the container (the shared stack does on Azure)."""
    where: str
    """How messages name this kind of storage."""

    def sas_version_problem(self, version: str) -> str | None:
        """Why a SAS of service version `version` cannot be used with this storage (None: it can)."""
        shown = version or "(none)"
        if not version or version < self.oldest_sas_version:
            return (
                f"service version sv={shown} is older than {self.oldest_sas_version}, the oldest used with {self.where}"
            )
        if self.newest_sas_version is not None and version > self.newest_sas_version:
            return (
                f"service version sv={shown} is newer than {self.where} accepts ({self.oldest_sas_version} to "
                f"{self.newest_sas_version}): issue it at a version the hub knows, e.g. with the Azure CLI under the "
                "hub's API profile (`az cloud update --profile 2020-09-01-hybrid` signs at 2019-07-07)"
            )
        return None


AZURE = StorageProfile(
    name="azure",
    service_version="2019-12-12",
    oldest_sas_version="2019-12-12",
    newest_sas_version=None,
    max_block_bytes=4000 * MIB,
    immutable=True,
    where="Azure storage",
)
AZURE_STACK_HUB = StorageProfile(
    name="azurestack",
    service_version="2019-07-07",
    # `spr` (HTTPS only) and `sip` first exist in SAS version 2015-04-05, the oldest a hub lists.
    oldest_sas_version="2015-04-05",
    newest_sas_version="2019-07-07",
    max_block_bytes=100 * MIB,
    immutable=False,
    where="an Azure Stack Hub",
)
PROFILES: Mapping[str, StorageProfile] = MappingProxyType({p.name: p for p in (AZURE, AZURE_STACK_HUB)})
DEFAULT_PROFILE: ProfileName = AZURE.name


def storage_profile(name: str) -> StorageProfile:
    """The profile called `name`; ValueError naming the allowed values."""
    try:
        return PROFILES[name]
    except KeyError:
        allowed = " or ".join(repr(key) for key in PROFILES)
        raise ValueError(f"storage profile {name!r}: must be {allowed}") from None
