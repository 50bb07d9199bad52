"""What each stack exports: the contract other stacks read through StackReferences.

The producer side is one function per role; the consumer side is a model that parses and checks another stack's
outputs, so a missing or malformed output is reported naming the stack and the output.

Consumers read outputs before they register anything that depends on them: inside the program's asynchronous
entry point (`pulumi.run`), through the public `StackReference.get_output_details`. A broken contract is then a
`StackOutputError` raised before the resources that would use it exist, not an error lost inside an `apply`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import pulumi
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from stacks.config import REDACTED, ConfigError, Fqdn, Guid, HttpsUrl, Ipv4Address, Ipv4Cidr, Problem
from workloads.registry import docker_config_json

if TYPE_CHECKING:
    from components.backup_storage import BackupStorage
    from components.container_registry import ContainerRegistry
    from components.global_traffic_manager import GlobalTrafficManager
    from components.hub_network import HubNetwork
    from components.log_ingestion import LogIngestion

HUB_CONTRACT_VERSION = "1"
SHARED_CONTRACT_VERSION = "1"
GLOBAL_CONTRACT_VERSION = "1"


# --- producers ----------------------------------------------------------------------------------------------


def hub_exports(*, hub_name: str, location: str, network: HubNetwork) -> dict[str, pulumi.Input[Any]]:
    """A hub stack's outputs. Keys are camelCase; secrets stay Output secrets."""
    return {
        "contractVersion": HUB_CONTRACT_VERSION,
        "hubName": hub_name,
        "location": location,
        "resourceGroup": network.resource_group_name,
        "vnetId": network.vnet_id,
        "addressSpaces": network.vnet_cidr.apply(lambda cidr: [cidr]),
        "clusterSubnetId": network.subnet_id,
        "firstConsecutiveStaticIp": network.first_consecutive_static_ip,
        "ingressIpId": network.ingress_ip_id,
        "ingressIp": network.ingress_ip_address,
        "ingressFqdn": network.ingress_fqdn,
    }


def shared_exports(
    *,
    location: str,
    resource_group: pulumi.Input[str],
    registry: ContainerRegistry,
    registry_pull_password: pulumi.Output[str] | None,
    logs: LogIngestion,
    logs_tenant_id: pulumi.Input[str],
    logs_client_id: str,
    logs_client_secret: pulumi.Output[str],
    backups: BackupStorage,
    dns_zone_name: str | None = None,
    dns_zone_id: pulumi.Input[str] | None = None,
    dns_name_servers: pulumi.Input[Sequence[str]] | None = None,
) -> dict[str, pulumi.Input[Any]]:
    """The shared stack's outputs: what a hub needs to pull images, publish logs and store backups off-hub.

    `registryPullPassword` is exported only once it is configured (it is generated outside Pulumi, after the
    first deployment); the DNS keys only when the stack hosts the application's zone.
    """
    exports: dict[str, pulumi.Input[Any]] = {
        "contractVersion": SHARED_CONTRACT_VERSION,
        "location": location,
        "resourceGroup": resource_group,
        "registryLoginServer": registry.login_server,
        "registryPullUsername": registry.pull_token_name,
        "logsIngestionEndpoint": logs.ingestion_endpoint,
        "logsDcrImmutableId": logs.rule_immutable_id,
        "logsContainerLogStream": logs.container_log_stream,
        "logsEventStream": logs.event_stream,
        "logsTableName": logs.table_name,
        "logsWorkspaceId": logs.workspace_customer_id,
        "logsTenantId": logs_tenant_id,
        "logsClientId": logs_client_id,
        "logsClientSecret": pulumi.Output.secret(logs_client_secret),
        "backupContainerUrl": backups.container_url,
        "backupSasToken": pulumi.Output.secret(backups.sas_token),
        "backupSasExpiry": backups.sas_expiry,
    }
    if registry_pull_password is not None:
        exports["registryPullPassword"] = pulumi.Output.secret(registry_pull_password)
    if dns_zone_name is not None:
        exports |= {
            # The directory of the zone's subscription: where a hub's DNS-01 solver signs in.
            "tenantId": logs_tenant_id,
            "dnsZoneName": dns_zone_name,
            "dnsZoneResourceGroup": resource_group,
            "dnsZoneId": dns_zone_id,
            "dnsNameServers": dns_name_servers,
        }
    return exports


def global_exports(*, traffic_manager: GlobalTrafficManager, app_hostname: str) -> dict[str, pulumi.Input[Any]]:
    """The global stack's outputs: the public name, the profile behind it and where each hub endpoint points."""
    exports: dict[str, pulumi.Input[Any]] = {
        "contractVersion": GLOBAL_CONTRACT_VERSION,
        "appHostname": app_hostname,
        "profileId": traffic_manager.profile_id,
        "profileFqdn": traffic_manager.profile_fqdn,
        "routingMethod": traffic_manager.routing_method,
        "endpointTargets": traffic_manager.endpoint_targets,
    }
    if traffic_manager.cname_fqdn is not None:
        exports["cnameRecord"] = traffic_manager.cname_fqdn
    return exports


# --- consumers ----------------------------------------------------------------------------------------------


class StackOutputError(ConfigError, pulumi.RunError):
    """Outputs read from another stack break the contract, or break a rule between stacks.

    A `ConfigError` (the offline preview and the entry point report it without a traceback) and a `RunError`
    (the Pulumi language host reports it as a message, also when it is raised after the program's top level).
    Each problem names the config key that points at the other stack, that stack and the output.
    """

    def __init__(self, stack: str, problems: Iterable[Problem]) -> None:
        super().__init__(stack, problems)
        lines = [f"Stack '{stack}' cannot use what the stacks it references export ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append("Deploy or fix the referenced stacks (or the keys named above), then run this stack again.")
        self.args = ("\n".join(lines),)


_O = TypeVar("_O", bound="StackOutputs")


class StackOutputs(BaseModel):
    """Base of the models that read another stack's outputs.

    Only the outputs a consumer needs are declared, so a producer may add outputs without breaking it; the
    declared ones are checked strictly. Outputs named in `SECRET_OUTPUTS` must arrive as secrets.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    SECRET_OUTPUTS: ClassVar[frozenset[str]] = frozenset()

    def secret(self, field: str) -> pulumi.Output[str]:
        """One of the secret outputs (a SecretStr field), as an Output secret: never a plain string in state or logs."""
        value = getattr(self, field)
        if not isinstance(value, SecretStr):
            raise TypeError(f"{type(self).__name__}.{field} is not a secret output")
        return pulumi.Output.secret(value.get_secret_value())

    @classmethod
    def output_names(cls) -> list[str]:
        """The stack outputs this model reads."""
        return [field.alias or name for name, field in cls.model_fields.items()]

    @classmethod
    def parse(
        cls: type[_O],
        outputs: Mapping[str, Any],
        secret_names: Collection[str],
        *,
        stack: str,
        key: str,
        reader: str,
    ) -> _O:
        """The model built from a stack's outputs, or `StackOutputError` naming each missing or malformed output.

        `stack` is the referenced stack, `key` the config key that names it and `reader` the running stack.
        """
        problems = [
            Problem(key, repr(stack), f"output '{name}' must be a secret output (export it with Output.secret)")
            for name in sorted(cls.SECRET_OUTPUTS)
            if name in outputs and name not in secret_names
        ]
        try:
            model = cls.model_validate(dict(outputs))
        except ValidationError as exc:
            problems += [cls._problem(err, stack=stack, key=key) for err in exc.errors()]
            raise StackOutputError(reader, problems) from None
        if problems:
            raise StackOutputError(reader, problems)
        return model

    @classmethod
    async def read(cls: type[_O], ref: pulumi.StackReference, *, stack: str, key: str, reader: str) -> _O:
        """Read and check the outputs this model needs from a StackReference (inside `pulumi.run`)."""
        values: dict[str, Any] = {}
        secrets: set[str] = set()
        for name in cls.output_names():
            details = await ref.get_output_details(name)
            if details.secret_value is not None:
                values[name] = details.secret_value
                secrets.add(name)
            elif details.value is not None:
                values[name] = details.value
        return cls.parse(values, secrets, stack=stack, key=key, reader=reader)

    @classmethod
    def _problem(cls, err: Any, *, stack: str, key: str) -> Problem:
        loc = [str(p) for p in err["loc"]]
        name = loc[0] + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
        if err["type"] == "missing":
            detail = "is missing: deploy that stack first, or check that the stack name is right"
        else:
            shown = REDACTED if loc[0] in cls.SECRET_OUTPUTS else json.dumps(err.get("input"), default=str)
            detail = f"= {shown}: {str(err['msg']).removeprefix('Value error, ')}"
        return Problem(key, repr(stack), f"output '{name}' {detail}")


class HubOutputs(StackOutputs):
    """What the global stack reads from each hub stack."""

    contract_version: Literal["1"]
    hub_name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$")
    address_spaces: list[Ipv4Cidr] = Field(min_length=1)
    ingress_ip: Ipv4Address
    ingress_fqdn: Fqdn
    shared_hostname: Fqdn


class SharedDnsZoneOutputs(StackOutputs):
    """What the global stack reads from the shared stack when it publishes the application's name there."""

    contract_version: Literal["1"]
    dns_zone_name: Fqdn
    dns_zone_resource_group: str
    dns_zone_id: str = Field(
        pattern=r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/Microsoft\.Network/dnsZones/[^/]+$"
    )

    @property
    def subscription_id(self) -> str:
        """The zone's subscription (public Azure), from its ARM id."""
        return self.dns_zone_id.split("/")[2]


class SharedDnsSolverOutputs(SharedDnsZoneOutputs):
    """What a hub whose certificates are issued by DNS-01 in the shared zone reads: the zone and its directory."""

    tenant_id: Guid


class SharedRegistryOutputs(StackOutputs):
    """What every hub reads from the shared stack: pull access to the application's registry."""

    SECRET_OUTPUTS: ClassVar[frozenset[str]] = frozenset({"registryPullPassword"})

    contract_version: Literal["1"]
    registry_login_server: Fqdn
    registry_pull_username: str = Field(min_length=1)
    registry_pull_password: SecretStr

    def image_pull_secret(self) -> pulumi.Output[str]:
        """The `.dockerconfigjson` of a `kubernetes.io/dockerconfigjson` Secret for the registry, as a secret."""
        password = self.registry_pull_password.get_secret_value()
        return pulumi.Output.secret(
            docker_config_json(self.registry_login_server, self.registry_pull_username, password)
        )


class SharedLogOutputs(StackOutputs):
    """What a hub that ships its logs reads from the shared stack: the Logs Ingestion target and its publisher."""

    SECRET_OUTPUTS: ClassVar[frozenset[str]] = frozenset({"logsClientSecret"})

    contract_version: Literal["1"]
    logs_ingestion_endpoint: HttpsUrl
    logs_dcr_immutable_id: str = Field(pattern=r"^dcr-[0-9a-f]{32}$")
    logs_container_log_stream: str = Field(pattern=r"^Custom-[A-Za-z0-9_]+$")
    logs_event_stream: str = Field(pattern=r"^Custom-[A-Za-z0-9_]+$")
    logs_tenant_id: Guid
    logs_client_id: Guid
    logs_client_secret: SecretStr


class SharedBackupOutputs(StackOutputs):
    """What a hub that backs up to the shared stack's container reads: the container and the hubs' SAS."""

    SECRET_OUTPUTS: ClassVar[frozenset[str]] = frozenset({"backupSasToken"})

    contract_version: Literal["1"]
    backup_container_url: str = Field(pattern=r"^https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/[a-z0-9-]{3,63}$")
    backup_sas_token: SecretStr
    backup_sas_expiry: datetime
