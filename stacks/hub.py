"""The hub stack: one per Azure Stack Hub. Network first; the cluster and the application build on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import pulumi
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import AfterValidator, Field, SecretStr
from pydantic.alias_generators import to_camel, to_snake

from aksengine.apimodel import ClusterSettings
from aksengine.apimodel import Problem as ClusterProblem
from aksengine.apimodel import validate as validate_cluster
from aksengine.versions import AKS_ENGINE_VERSION, DEFAULT_KUBERNETES_VERSION
from arm import HubConnection
from components.aks_engine_cluster import AksEngineCluster, AksEngineClusterArgs
from components.cluster_platform import AcmeSettings, ClusterPlatform, ClusterPlatformArgs, IngressAddress, LogShipping
from components.database_backup import BackupRecipient, DatabaseBackup, DatabaseBackupArgs
from components.hub_network import HubNetwork, HubNetworkArgs
from components.ratings_app import PULL_SECRET, AppImages, RatingsApp, RatingsAppArgs, RegistryCredentials
from planning.cluster import (
    DATABASE_MEMBERS,
    database_volume_problem,
    master_size_problem,
    worker_count_problem,
    worker_size_problem,
)
from planning.egress import (
    EgressProxy,
    api_server_fqdn,
    effective_no_proxy,
    egress_proxy_problems,
    proxy_cidrs,
    proxy_environment,
    redact_url,
)
from planning.names import (
    chart_registry_problem,
    hostname_problem,
    image_reference_problem,
    image_tag_problem,
    registry_problem,
)
from planning.network import (
    DEFAULT_MAX_PODS,
    admin_cidr_problem,
    admin_cidrs_problem,
    master_block,
    network_ids,
    service_range_problem,
    subnet_problems,
)
from planning.reboot import reboot_window_problems, time_of_day_problem, time_zone_problem
from policy.stackhub_policies.hub_facts import MAX_TAGS_PER_RESOURCE, SERVICE_CIDR, size_problem
from stacks import project
from stacks.config import GUID_PATTERN as _GUID
from stacks.config import (
    REDACTED,
    Fqdn,
    Guid,
    HttpsUrl,
    Ipv4Cidr,
    Problem,
    ResourceGroupName,
    StackConfig,
    load,
    tag_problems,
)
from stacks.contracts import (
    SharedBackupOutputs,
    SharedDnsSolverOutputs,
    SharedLogOutputs,
    SharedRegistryOutputs,
    StackOutputError,
    StackOutputs,
    hub_exports,
)
from workloads.backup.jobs import storage_through_proxy
from workloads.backup.settings import (
    DEFAULT_SCHEDULE,
    DEFAULT_TIME_ZONE,
    DEFAULT_VERIFY_SCHEDULE,
    RecipientCertificate,
    check_container_url,
    check_cron,
    check_egress_cidrs,
    check_hub_sas,
    check_recipient,
    check_time_zone,
    job_deadlines,
)
from workloads.charts import PlatformCharts
from workloads.issuers import AzureDnsZone
from workloads.log_shipping import IngestionTarget
from workloads.mongo import PORT as MONGODB_PORT
from workloads.mongo import member_hosts
from workloads.platform_values import RebootWindow, node_image_problem
from workloads.ratings import MONGODB, NAMESPACE


def cluster_exports(cluster: AksEngineCluster, *, aks_engine_version: str) -> dict[str, pulumi.Input[Any]]:
    """The cluster part of the hub contract (see stacks/contracts.py for the network part)."""
    return {
        "kubeconfig": cluster.kubeconfig,
        "apiServerFqdn": cluster.api_server_fqdn,
        "clusterResourceGroup": cluster.resource_group,
        "masterCount": cluster.master_count,
        "agentCount": cluster.agent_count,
        "kubernetesVersion": cluster.kubernetes_version,
        "aksEngineVersion": aks_engine_version,
        # Only when the project generated the key: with `sshPublicKey` no private key is ever in Pulumi.
        **({"sshPrivateKey": cluster.ssh_private_key} if cluster.ssh_private_key is not None else {}),
    }


Weekday = Literal["mo", "tu", "we", "th", "fr", "sa", "su"]


def _rule(check: Callable[[str], str | None]) -> Callable[[str], str]:
    """A pydantic validator from one of the plain rules (`planning`): the value, or ValueError saying why not."""

    def validate(value: str) -> str:
        if (problem := check(value)) is not None:
            raise ValueError(problem)
        return value

    return validate


TimeOfDay = Annotated[str, AfterValidator(_rule(time_of_day_problem))]


class RebootWindowConfig(StackConfig):
    """When kured may reboot nodes (`rebootWindow`). The rules between its fields: planning.reboot."""

    days: tuple[Weekday, ...] = Field(default=("mo", "tu", "we", "th", "fr", "sa", "su"), min_length=1)
    start_time: TimeOfDay = "02:00"
    end_time: TimeOfDay = "05:00"
    time_zone: Annotated[str, AfterValidator(_rule(time_zone_problem))] = "UTC"


class EgressProxyConfig(StackConfig):
    """`egressProxy`: the proxy every component that reaches out goes through (planning/egress.py has the rules)."""

    http_proxy: str = Field(description="http://host:port for plain-HTTP destinations")
    https_proxy: str | None = Field(
        default=None, description="http://host:port for HTTPS destinations; httpProxy if unset"
    )
    no_proxy: tuple[str, ...] = Field(default=(), description="extra destinations reached directly")
    trusted_ca: str | None = Field(default=None, description="PEM CA certificate(s) of a TLS-inspecting proxy")
    addresses: tuple[str, ...] = Field(default=(), description="the proxy's IPv4 ranges, when its URLs name a host")

    def proxy(self) -> EgressProxy:
        """The checked setting as the components take it."""
        return EgressProxy(
            http_proxy=self.http_proxy,
            https_proxy=self.https_proxy,
            no_proxy=self.no_proxy,
            trusted_ca=self.trusted_ca,
            addresses=self.addresses,
        )


def _ssh_public_key(value: str) -> str:
    """An OpenSSH RSA public key of 2048 bits or more (what AKS Engine's linuxProfile and a hub's VMs take)."""
    try:
        key = serialization.load_ssh_public_key(value.strip().encode())
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("must be an OpenSSH public key line: ssh-rsa AAAA... [comment]") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise ValueError("must be an RSA key of 2048 bits or more (ssh-rsa): AKS Engine's linuxProfile takes RSA")
    return value.strip()


class BackupTargetConfig(StackConfig):
    """`backupTarget`: a backup container other than the shared stack's, e.g. a storage account on the hub itself."""

    container_url: str = Field(description="https://<account>.blob.<region>.<domain>/<container>")
    profile: Literal["azure", "azurestack"] = Field(
        default="azure", description="azurestack: an Azure Stack Hub's own Blob service (service version 2019-07-07)"
    )


# The shared stack's container, as the pods' client decides its route: a representative URL of Azure's Blob endpoint.
SHARED_STORAGE_URL = "https://account.blob.core.windows.net/backups"


ImageTag = Annotated[str, AfterValidator(_rule(image_tag_problem))]
ImageReference = Annotated[str, AfterValidator(_rule(image_reference_problem))]
AdminCidr = Annotated[Ipv4Cidr, AfterValidator(_rule(admin_cidr_problem))]

HUB_SYSTEM_TAGS = ("hub", "managed-by")
"""Tags the program puts on every hub resource; a user tag may not take their names."""


def _backup_schedule(expression: str) -> str:
    check_cron(expression)
    job_deadlines(expression)  # refuses a schedule that fires more than once an hour
    return expression


def _backup_recipients(recipients: dict[str, str]) -> dict[str, str]:
    if not recipients:
        raise ValueError("at least one recipient certificate (name: PEM), e.g. the recovery key's")
    for name, pem in recipients.items():
        check_recipient(f"{name}.pem", pem)
    return recipients


BackupSchedule = Annotated[str, AfterValidator(_backup_schedule)]


class HubConfig(StackConfig):
    """Configuration of a hub stack (`role: hub`)."""

    ENVIRONMENT_FALLBACKS: ClassVar[dict[str, str]] = {
        "tenantId": "ARM_TENANT_ID",
        "armClientId": "ARM_CLIENT_ID",
        "armClientSecret": "ARM_CLIENT_SECRET",
    }

    role: Literal["hub"]
    hub_name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$", description="short hub name, e.g. hub-seattle")
    location: str = Field(pattern=r"^[a-z0-9]{1,40}$", description="the hub region, `local` on a development kit")
    arm_endpoint: HttpsUrl = Field(description="https://management.<region>.<fqdn>")
    portal_url: HttpsUrl | None = Field(default=None, description="https://portal.<region>.<fqdn>; derived if unset")
    identity_system: Literal["azure_ad", "adfs"] = Field(description="azure_ad (connected) or adfs (disconnected)")
    tenant_id: str = Field(description="Azure AD tenant GUID, or `adfs` on AD FS hubs")
    subscription_id: Guid = Field(description="the hub user subscription")
    arm_client_id: Guid = Field(description="service principal (application) id")
    arm_client_secret: SecretStr = Field(description="service principal secret")
    resource_group: ResourceGroupName = Field(description="resource group of the network and the ingress address")
    vnet_cidr: Ipv4Cidr = Field(description="VNet address space")
    cluster_subnet_cidr: Ipv4Cidr = Field(description="subnet for masters and nodes, inside vnetCidr")
    admin_source_cidrs: list[AdminCidr] = Field(min_length=1, description="networks allowed SSH and the Kubernetes API")
    tags: dict[str, str] = Field(default_factory=dict, description="tags put on every hub resource")

    # The cluster (AKS Engine). Rules: aksengine.apimodel.validate, run by cross_checks.
    aks_engine_version: str = Field(default=AKS_ENGINE_VERSION, description="the aks-engine-azurestack release")
    cluster_resource_group: ResourceGroupName | None = Field(
        default=None, description="the cluster's own resource group; `<hubName>-cluster` if unset"
    )
    dns_prefix: str | None = Field(default=None, description="API server DNS prefix; hubName if unset")
    kubernetes_version: str = Field(default=DEFAULT_KUBERNETES_VERSION, description="Kubernetes version")
    master_count: int = Field(default=3, description="control-plane nodes: 3 or 5")
    master_vm_size: str = Field(default="Standard_DS2_v2", description="VM size of the masters (hub_facts.VM_SIZES)")
    agent_pool_name: str = Field(default="linuxpool", description="name of the worker pool")
    agent_count: int = Field(default=3, description="worker nodes, at least 3 (one per database member)")
    agent_vm_size: str = Field(default="Standard_DS3_v2", description="VM size of the workers (hub_facts.VM_SIZES)")
    max_pods: int = Field(default=DEFAULT_MAX_PODS, description="pods per node (Azure CNI reserves one address each)")
    admin_username: str = Field(default="azureuser", description="Linux admin user on every node")
    ssh_public_key: Annotated[str, AfterValidator(_ssh_public_key)] | None = Field(
        default=None,
        description="the admin user's OpenSSH RSA public key; unset: a key is generated and its private half exported",
    )
    other_nodes_in_subscription: int = Field(
        default=0, ge=0, description="nodes of other clusters in the subscription (50-node limit)"
    )

    # The platform and the application on the cluster.
    shared_stack: str = Field(
        pattern=r"^([\w.-]+/){0,2}[\w.-]+$",
        description="the shared stack to read, `shared` or `<org>/<project>/shared`",
    )
    shared_hostname: Fqdn = Field(description="the application's name served by every hub, e.g. ratings.contoso.com")
    hub_hostname: Fqdn | None = Field(
        default=None, description="this hub's own name for the application; the ingress address's DNS name if unset"
    )
    acme_email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Let's Encrypt account e-mail; unset = certificates from the private CA only (disconnected hubs)",
    )
    dns_solver_client_id: Guid | None = Field(
        default=None, description="service principal allowed to write TXT records in the shared DNS zone (DNS-01)"
    )
    dns_solver_client_secret: SecretStr | None = Field(default=None, description="its secret")
    log_shipping: bool = Field(default=True, description="ship container logs and events to the shared workspace")
    chart_registry: Annotated[str, AfterValidator(_rule(chart_registry_problem))] | None = Field(
        default=None, description="private OCI registry holding mirrored charts under helm/ (disconnected hubs)"
    )
    image_registry: Annotated[str, AfterValidator(_rule(registry_problem))] | None = Field(
        default=None, description="mirror of the platform images"
    )
    bootstrap_private_ca: bool = Field(
        default=True,
        description="self-sign the cluster's private CA; false when you put one CA of your own into every hub",
    )
    reboot_window: RebootWindowConfig = Field(
        default_factory=RebootWindowConfig, description="when kured may reboot nodes"
    )
    ratings_api_tag: ImageTag = Field(default="v1", description="tag of ratings-api in the shared registry")
    ratings_web_tag: ImageTag = Field(default="v1", description="tag of ratings-web in the shared registry")
    mongo_image: ImageReference = Field(default="mongo:8.0.17", description="MongoDB image")
    database_volume_size: Annotated[str, AfterValidator(_rule(database_volume_problem))] = Field(
        default="16Gi", pattern=r"^[1-9][0-9]*Gi$", description="each Mongo member's volume"
    )

    # Database backups to the shared stack's container (docs/operations.md): off while backupRecipients is unset.
    backup_recipients: Annotated[dict[str, str], AfterValidator(_backup_recipients)] | None = Field(
        default=None, description="name -> PEM certificate the backups are encrypted for; unset = no backups"
    )
    backup_verification_key: SecretStr | None = Field(
        default=None, description="PEM private key of this hub's verification recipient (one of backupRecipients)"
    )
    backup_target: BackupTargetConfig | None = Field(
        default=None, description="where backups go instead of the shared stack's container"
    )
    backup_target_sas: SecretStr | None = Field(default=None, description="the container SAS of backupTarget (rcwl)")
    backup_schedule: BackupSchedule = Field(default=DEFAULT_SCHEDULE, description="the backup CronJob's schedule")
    backup_verify_schedule: BackupSchedule = Field(
        default=DEFAULT_VERIFY_SCHEDULE, description="the verification CronJob's schedule"
    )
    backup_time_zone: Annotated[str, AfterValidator(check_time_zone)] = Field(
        default=DEFAULT_TIME_ZONE, description="the CronJobs' IANA time zone"
    )
    backup_egress: Annotated[list[str], AfterValidator(check_egress_cidrs)] | None = Field(
        default=None, description="the storage endpoint's address ranges (port 443), without egressProxy"
    )
    egress_proxy: EgressProxyConfig | None = Field(
        default=None, description="the proxy every component that reaches out goes through"
    )
    egress_node_image: ImageReference | None = Field(
        default=None,
        description="pinned image (Python 3, nsenter) of the nodes' proxy configurator, from a registry the nodes "
        "reach without the proxy; required with egressProxy",
    )
    backup_python_image: ImageReference = Field(
        default="python:3.12.8-slim", description="pinned Python image of the upload, fetch and report steps"
    )

    @property
    def backups(self) -> bool:
        """Whether the hub backs its database up (backupRecipients set)."""
        return self.backup_recipients is not None

    def recipient_certificates(self) -> list[RecipientCertificate]:
        """The checked recipients, in config order."""
        return [check_recipient(f"{name}.pem", pem) for name, pem in (self.backup_recipients or {}).items()]

    @property
    def backups_to_shared(self) -> bool:
        """Whether backups go to the shared stack's container (backups on, no backupTarget)."""
        return self.backups and self.backup_target is None

    def backup_storage_through_proxy(self, container_url: str | None = None) -> bool:
        """Whether the backup pods reach their storage through the egress proxy, as their client decides it."""
        proxy = self.proxy()
        if proxy is None:
            return False
        url = container_url or (self.backup_target.container_url if self.backup_target else SHARED_STORAGE_URL)
        try:
            no_proxy = self.no_proxy()
        except ValueError:  # a bad noProxy entry: reported under egressProxy
            return False
        return storage_through_proxy(url, proxy, no_proxy)

    def backup_egress_rules(self, container_url: str | None = None) -> list[tuple[str, int]]:
        """(CIDR, port) pairs the backup pods may reach: the egress proxy, or the storage endpoint on 443."""
        proxy = self.proxy()
        if proxy is not None and self.backup_storage_through_proxy(container_url):
            ports = sorted({e.port for e in proxy.endpoints})
            return [(cidr, port) for cidr in proxy_cidrs(proxy) for port in ports]
        return [(cidr, 443) for cidr in self.backup_egress or []]

    def proxy(self) -> EgressProxy | None:
        """The egress proxy, when one is configured."""
        return self.egress_proxy.proxy() if self.egress_proxy is not None else None

    def no_proxy(self) -> tuple[str, ...]:
        """The destinations reached without the proxy, computed from the address plan (planning.egress); empty
        without egressProxy."""
        if self.egress_proxy is None:
            return ()
        return effective_no_proxy(
            service_cidr=SERVICE_CIDR,
            vnet_cidr=self.vnet_cidr,
            api_server_fqdn=api_server_fqdn(self.dns_prefix or self.hub_name, self.location, self.domain),
            arm_endpoint=self.arm_endpoint,
            storage_suffix=f"{self.location}.{self.domain}",
            extra=self.egress_proxy.no_proxy,
        )

    @property
    def app_hub_hostname(self) -> str:
        """This hub's name for the app: configured, or the DNS name HubNetwork gives the ingress address."""
        return self.hub_hostname or f"{self.hub_name}-ingress.{self.location}.cloudapp.{self.domain}".lower()

    @property
    def domain(self) -> str:
        """The hub's external domain, from the ARM endpoint `management.<region>.<domain>`."""
        host = self.arm_endpoint.removeprefix("https://").split(":")[0]
        return host.split(".", 2)[2] if host.count(".") >= 2 else ""

    @property
    def portal(self) -> str:
        """The user portal URL, as configured or derived from the ARM endpoint."""
        return self.portal_url or f"https://portal.{self.location}.{self.domain}"

    def cluster_settings(self) -> ClusterSettings:
        """The cluster as AKS Engine will be asked for it (network ids as HubNetwork names them)."""
        ids = network_ids(self.subscription_id, self.resource_group, self.hub_name)
        return ClusterSettings(
            location=self.location,
            portal_url=self.portal,
            identity_system=self.identity_system,
            subscription_id=self.subscription_id,
            resource_group=self.cluster_resource_group or f"{self.hub_name}-cluster",
            dns_prefix=self.dns_prefix or self.hub_name,
            subnet_id=ids.subnet,
            subnet_cidr=self.cluster_subnet_cidr,
            vnet_cidr=self.vnet_cidr,
            first_consecutive_static_ip=master_block(self.cluster_subnet_cidr).first_ip,
            # Generated by the cluster component; a well-formed stand-in lets every other rule be checked now.
            ssh_public_key=SSH_KEY_STAND_IN,
            admin_username=self.admin_username,
            client_id=self.arm_client_id,
            master_vm_size=self.master_vm_size,
            agent_vm_size=self.agent_vm_size,
            agent_count=self.agent_count,
            kubernetes_version=self.kubernetes_version,
            master_count=self.master_count,
            agent_pool_name=self.agent_pool_name,
            max_pods=self.max_pods,
        )

    def connection(self) -> HubConnection:
        """What the ARM provider needs to reach this hub (no secret)."""
        return HubConnection(
            arm_endpoint=self.arm_endpoint,
            tenant_id=self.tenant_id,
            subscription_id=self.subscription_id,
            client_id=self.arm_client_id,
            identity_system=self.identity_system,
        )

    def cross_checks(self) -> list[Problem]:
        """Endpoints consistent with the region, AD FS tenant rules, subnet inside the VNet."""
        problems: list[Problem] = []
        host = self.arm_endpoint.removeprefix("https://").split(":")[0]
        if not host.startswith(f"management.{self.location}.") or not self.domain:
            problems.append(
                Problem(
                    "armEndpoint",
                    repr(self.arm_endpoint),
                    f"must be https://management.{self.location}.<fqdn> for location {self.location!r}",
                )
            )
        elif self.portal_url is not None and self.portal_url != f"https://portal.{self.location}.{self.domain}":
            # AKS Engine's validator requires the portal URL to start with https://portal.<location>.
            problems.append(
                Problem(
                    "portalUrl",
                    repr(self.portal_url),
                    f"must be https://portal.{self.location}.{self.domain}, matching armEndpoint",
                )
            )
        if self.identity_system == "adfs" and self.tenant_id != "adfs":
            problems.append(Problem("tenantId", repr(self.tenant_id), "must be 'adfs' when identitySystem is adfs"))
        if self.identity_system == "azure_ad" and not _GUID.match(self.tenant_id):
            problems.append(
                Problem(
                    "tenantId",
                    repr(self.tenant_id),
                    "must be the Azure AD tenant GUID when identitySystem is azure_ad",
                )
            )
        problems += [
            Problem("clusterSubnetCidr", repr(self.cluster_subnet_cidr), p)
            for p in subnet_problems(self.vnet_cidr, self.cluster_subnet_cidr)
        ]
        problems += self._name_problems()
        problems += self._address_problems()
        problems += self._window_problems()
        problems += tag_problems(self.tags, system=HUB_SYSTEM_TAGS, max_tags=MAX_TAGS_PER_RESOURCE)
        problems += self._size_problems()
        if self.acme_email is not None:
            for key, value in (
                ("dnsSolverClientId", self.dns_solver_client_id),
                ("dnsSolverClientSecret", self.dns_solver_client_secret),
            ):
                if value is None:
                    problems.append(
                        Problem(
                            key,
                            "(not set)",
                            "required when acmeEmail is set: cert-manager proves the "
                            "shared name by DNS-01 in the shared Azure DNS zone",
                        )
                    )
        problems += self._backup_problems()
        problems += self._egress_problems()
        if self.aks_engine_version != AKS_ENGINE_VERSION:
            problems.append(
                Problem(
                    "aksEngineVersion",
                    repr(self.aks_engine_version),
                    f"must be {AKS_ENGINE_VERSION}: the Kubernetes versions and apimodel rules here "
                    "are those of that release",
                )
            )
        if problems:
            return problems  # the cluster rules below assume a consistent network and endpoints
        problems += [
            _cluster_problem(p) for p in validate_cluster(self.cluster_settings(), self.other_nodes_in_subscription)
        ]
        return problems  # fmt: skip

    def _name_problems(self) -> list[Problem]:
        """The names the application serves: valid for the ingress and certificates, and not one name twice."""
        problems = []
        if self.hub_hostname is None and (why := hostname_problem(self.app_hub_hostname)) is not None:
            # The default is built from hubName, location and armEndpoint; the ingress refuses it the same way.
            problems.append(Problem("hubHostname", f"(not set; derived {self.app_hub_hostname!r})",
                                    f"the name derived from hubName, location and armEndpoint {why}; set "
                                    "hubHostname"))  # fmt: skip
        if self.app_hub_hostname == self.shared_hostname:
            problems.append(Problem("hubHostname", repr(self.app_hub_hostname),
                                    "must differ from sharedHostname: the shared name reaches whichever hub Traffic "
                                    "Manager picks, this hub's own name reaches this hub only"))  # fmt: skip
        return problems

    def _address_problems(self) -> list[Problem]:
        problems = []
        if (why := admin_cidrs_problem(self.admin_source_cidrs)) is not None:
            problems.append(Problem("adminSourceCidrs", repr(self.admin_source_cidrs), why))
        if (why := service_range_problem(self.vnet_cidr)) is not None:
            problems.append(Problem("vnetCidr", repr(self.vnet_cidr), why))
        return problems

    def _window_problems(self) -> list[Problem]:
        w = self.reboot_window
        return [Problem(f"rebootWindow.{field}", repr(getattr(w, to_snake(field))), why)
                for field, why in reboot_window_problems(w.start_time, w.end_time, w.time_zone, w.days)]  # fmt: skip

    def _size_problems(self) -> list[Problem]:
        """VM sizes the hub offers, big enough for their role, and workers enough to place the application on."""
        problems = []
        if (why := master_size_problem(self.master_vm_size)) is not None:
            problems.append(Problem("masterVmSize", repr(self.master_vm_size), why))
        count = worker_count_problem(self.agent_count)
        if count is not None:
            problems.append(Problem("agentCount", repr(self.agent_count), count))
        # The size is checked on its own when the count is wrong, and against the application when it is right.
        size = (
            size_problem(self.agent_vm_size, "agent")
            if count is not None
            else worker_size_problem(
                self.agent_vm_size,
                self.agent_count,
                log_shipping=self.log_shipping,
                egress_proxy=self.egress_proxy is not None,
            )
        )
        if size is not None:
            problems.append(Problem("agentVmSize", repr(self.agent_vm_size), size))
        return problems

    def _egress_problems(self) -> list[Problem]:
        problems = self._egress_setting_problems()
        if self.egress_proxy is None or problems:
            return problems
        if self.egress_node_image is None:
            required = (
                "is required with egressProxy: the nodes' proxy configurator needs a pinned image from a registry "
                "they reach without the proxy (the site's mirror)"
            )
            problems.append(Problem("egressNodeImage", "(not set)", required))
        elif (why := node_image_problem(self.egress_node_image, self.no_proxy())) is not None:
            problems.append(Problem("egressNodeImage", repr(self.egress_node_image), why))
        return problems

    def _egress_setting_problems(self) -> list[Problem]:
        """What is wrong with egressProxy itself (the URLs, the CA, the no-proxy list)."""
        if self.egress_proxy is None:
            return []
        secret = "egressProxy" in self.secret_keys
        found = egress_proxy_problems(self.egress_proxy.proxy(), secret=secret, service_cidr=SERVICE_CIDR)
        if found:
            return [Problem(f"egressProxy.{key}", REDACTED if secret else self._egress_value(key), message)
                    for key, message in found]  # fmt: skip
        try:
            self.no_proxy()
        except ValueError as error:
            return [Problem("egressProxy.noProxy", repr(list(self.egress_proxy.no_proxy)), str(error))]
        return []

    def _egress_value(self, key: str) -> str:
        """A sub-key's value as an error may show it: URLs without credentials, a CA bundle by its size."""
        assert self.egress_proxy is not None  # noqa: S101 (only called with egressProxy set)
        name, _, index = key.partition("[")
        value: Any = getattr(self.egress_proxy, to_snake(name))
        if index:
            value = value[int(index.rstrip("]"))]
        if name in ("httpProxy", "httpsProxy") and isinstance(value, str):
            return repr(redact_url(value))
        if name == "trustedCa" and isinstance(value, str):
            return f"(a PEM bundle of {len(value)} characters)"
        return repr(list(value) if isinstance(value, tuple) else value)

    def _backup_target_problems(self) -> list[Problem]:
        target = self.backup_target
        if target is None:
            if self.backup_target_sas is not None:
                return [Problem("backupTargetSas", REDACTED, "set only with backupTarget")]
            return []
        try:
            check_container_url(target.container_url, target.profile)
        except ValueError as error:
            return [Problem("backupTarget.containerUrl", repr(target.container_url), str(error))]
        if self.backup_target_sas is None:
            why = (
                "required with backupTarget: the container SAS (rcwl, HTTPS only, no delete), set with "
                "`pulumi config set --secret backupTargetSas ...`"
            )
            return [Problem("backupTargetSas", "(not set)", why)]
        try:
            check_hub_sas(target.container_url, self.backup_target_sas.get_secret_value(), profile=target.profile)
        except ValueError as error:
            return [Problem("backupTargetSas", REDACTED, str(error))]
        return []

    def _backup_problems(self) -> list[Problem]:
        if not self.backups:
            return []
        problems = self._backup_target_problems()
        # The route to the storage is known only once the target and the proxy are valid (they report otherwise).
        if not problems and not self._egress_setting_problems():
            problems += self._backup_route_problems()
        if self.backup_verification_key is None:
            problems.append(Problem("backupVerificationKey", "(not set)",
                                    "required when backupRecipients is set: the weekly verification decrypts the "
                                    "latest backup with it"))  # fmt: skip
        return problems

    def _backup_route_problems(self) -> list[Problem]:
        through_proxy = self.backup_storage_through_proxy()
        if self.backup_egress is None and not through_proxy:
            return [Problem("backupEgress", "(not set)",
                            "set backupEgress (the storage endpoint's address ranges) when backupRecipients is set "
                            "and the storage is reached directly (no egressProxy, or a storage the no-proxy list "
                            "reaches, such as the hub's own): the backup pods reach nothing else")]  # fmt: skip
        if self.backup_egress is not None and through_proxy:
            return [Problem("backupEgress", repr(self.backup_egress),
                            "leave it unset with egressProxy: the backup pods then reach the storage through the "
                            "proxy, and nothing else outside the cluster")]  # fmt: skip
        return []


# ClusterSettings fields that are not config keys, and the key that decides them.
_CLUSTER_FIELD_KEYS = {
    "subnet_id": "clusterSubnetCidr",
    "subnet_cidr": "clusterSubnetCidr",
    "first_consecutive_static_ip": "clusterSubnetCidr",
    "portal_url": "portalUrl",
    "client_id": "armClientId",
    "resource_group": "clusterResourceGroup",
    "dns_prefix": "dnsPrefix",
}
SSH_KEY_STAND_IN = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0 generated-at-deploy"


def _cluster_problem(problem: ClusterProblem) -> Problem:
    key = _CLUSTER_FIELD_KEYS.get(problem.field, to_camel(problem.field))
    return Problem(key, repr(problem.value), problem.allowed)


def program(stack: str) -> None:
    """The hub stack's program: validated config -> network -> cluster -> platform and app -> exported contract."""
    config = load(HubConfig, stack)
    lifecycle_python = project.lifecycle_python()  # before any resource: a bad Pulumi.yaml registers nothing
    proxy = config.proxy()
    client_secret = pulumi.Output.secret(config.arm_client_secret.get_secret_value())
    network = HubNetwork(
        config.hub_name,
        HubNetworkArgs(
            connection=config.connection(),
            client_secret=client_secret,
            location=config.location,
            resource_group=config.resource_group,
            name_prefix=config.hub_name,
            vnet_cidr=config.vnet_cidr,
            cluster_subnet_cidr=config.cluster_subnet_cidr,
            admin_source_cidrs=config.admin_source_cidrs,
            tags={"hub": config.hub_name, "managed-by": "pulumi", **config.tags},
        ),
    )
    cluster = AksEngineCluster(
        config.hub_name,
        AksEngineClusterArgs(
            settings=config.cluster_settings(),
            subnet_id=network.subnet_id,
            subnet_cidr=network.subnet_cidr,
            vnet_cidr=network.vnet_cidr,
            first_consecutive_static_ip=network.first_consecutive_static_ip,
            client_secret=client_secret,
            # AD FS hubs authenticate against the stamp's own AD FS; the tenant id is only needed on Azure AD.
            tenant_id=config.tenant_id,
            other_nodes_in_subscription=config.other_nodes_in_subscription,
            lifecycle_python=lifecycle_python,
            proxy_environment=proxy_environment(proxy, config.no_proxy()) if proxy is not None else {},
            ssh_public_key=config.ssh_public_key,
        ),
    )
    exports = hub_exports(hub_name=config.hub_name, location=config.location, network=network)
    exports |= cluster_exports(cluster, aks_engine_version=config.aks_engine_version)
    if config.egress_proxy is not None:
        # Shown in every preview: what the nodes, the pods and this machine reach without the proxy.
        exports["egressNoProxy"] = list(config.no_proxy())
    for key, value in exports.items():
        pulumi.export(key, value)

    shared_ref = pulumi.StackReference(config.shared_stack)

    async def deploy_app() -> None:
        # The shared stack's outputs are read and checked before anything that uses them is declared.
        shared = await _read_shared(config, shared_ref, stack)
        app = _deploy_app(config, network, cluster, shared)
        for key, value in app_exports(app).items():
            pulumi.export(key, value)

    pulumi.run(deploy_app)


_Part = TypeVar("_Part", bound=StackOutputs)


@dataclass(frozen=True)
class SharedParts:
    """The parts of the shared stack's contract this hub uses: each is read only when the hub needs it."""

    registry: SharedRegistryOutputs
    logs: SharedLogOutputs | None
    backups: SharedBackupOutputs | None
    zone: SharedDnsSolverOutputs | None


async def _read_shared(config: HubConfig, ref: pulumi.StackReference, stack: str) -> SharedParts:
    problems: list[Problem] = []
    read = {"stack": config.shared_stack, "key": "sharedStack", "reader": stack}

    async def part(model: type[_Part], needed: bool) -> _Part | None:
        if not needed:
            return None
        try:
            return await model.read(ref, **read)
        except StackOutputError as error:
            problems.extend(error.problems)
            return None

    registry = await part(SharedRegistryOutputs, True)
    logs = await part(SharedLogOutputs, config.log_shipping)
    backups = await part(SharedBackupOutputs, config.backups_to_shared)
    zone = await part(SharedDnsSolverOutputs, config.acme_email is not None)
    if zone is not None and not config.shared_hostname.endswith(f".{zone.dns_zone_name}"):
        problems.append(Problem("sharedHostname", repr(config.shared_hostname),
                                f"must be inside the shared DNS zone {zone.dns_zone_name}: its certificate is "
                                "issued by DNS-01 there"))  # fmt: skip
    if backups is not None:
        try:
            check_hub_sas(backups.backup_container_url, backups.backup_sas_token.get_secret_value())
        except ValueError as error:
            problems.append(Problem("backupSasToken", REDACTED, f"{error} (renew it in the shared stack)"))
    if problems or registry is None:
        raise StackOutputError(stack, problems)
    return SharedParts(registry, logs, backups, zone)


def _deploy_app(
    config: HubConfig,
    network: HubNetwork,
    cluster: AksEngineCluster,
    shared: SharedParts,
) -> RatingsApp:
    platform = _deploy_platform(config, network, cluster, shared)
    app = RatingsApp(
        config.hub_name,
        RatingsAppArgs(
            provider=cluster.provider,
            registry=RegistryCredentials(
                login_server=shared.registry.registry_login_server,
                username=shared.registry.registry_pull_username,
                password=shared.registry.secret("registry_pull_password"),
            ),
            shared_hostname=config.shared_hostname,
            hub_hostname=config.app_hub_hostname,
            tls_issuer=platform.default_issuer,
            storage_class=platform.storage_class_name,
            worker_count=config.agent_count,
            worker_vm_size=config.agent_vm_size,
            images=AppImages(
                api_tag=config.ratings_api_tag, web_tag=config.ratings_web_tag, mongodb=config.mongo_image
            ),
            log_shipping=shared.logs is not None,
            mongodb_members=DATABASE_MEMBERS,
            database_volume_size=config.database_volume_size,
            backup_user=config.backups,
            egress_proxy=config.egress_proxy is not None,
        ),
        opts=pulumi.ResourceOptions(depends_on=[platform]),
    )
    if config.backups:
        _deploy_backup(config, cluster, shared.backups, app)
    return app


def _deploy_platform(
    config: HubConfig, network: HubNetwork, cluster: AksEngineCluster, shared: SharedParts
) -> ClusterPlatform:
    window = config.reboot_window
    return ClusterPlatform(
        config.hub_name,
        ClusterPlatformArgs(
            provider=cluster.provider,
            hub_name=config.hub_name,
            ingress_address=IngressAddress(network.ingress_ip_address, network.resource_group_name),
            worker_count=config.agent_count,
            charts=PlatformCharts.mirrored(config.chart_registry) if config.chart_registry else PlatformCharts(),
            image_registry=config.image_registry,
            acme=_acme(config, shared.zone),
            bootstrap_private_ca=config.bootstrap_private_ca,
            reboot_window=RebootWindow(
                start_time=window.start_time, end_time=window.end_time, time_zone=window.time_zone, days=window.days
            ),
            log_shipping=_log_shipping(shared.logs),
            egress=config.proxy(),
            no_proxy=config.no_proxy(),
            egress_node_image=config.egress_node_image,
            masters_cidr=master_block(config.cluster_subnet_cidr).cidr,
        ),
    )


def _acme(config: HubConfig, zone: SharedDnsSolverOutputs | None) -> AcmeSettings | None:
    """Let's Encrypt by DNS-01 in the shared zone, when the hub is connected (acmeEmail) and the zone is read."""
    if zone is None or not (config.acme_email and config.dns_solver_client_id and config.dns_solver_client_secret):
        return None
    return AcmeSettings(
        email=config.acme_email,
        dns_zone=AzureDnsZone(
            subscription_id=zone.subscription_id,
            resource_group=zone.dns_zone_resource_group,
            zone_name=zone.dns_zone_name,
            tenant_id=zone.tenant_id,
            client_id=config.dns_solver_client_id,
        ),
        dns_client_secret=pulumi.Output.secret(config.dns_solver_client_secret.get_secret_value()),
    )


def _log_shipping(logs: SharedLogOutputs | None) -> LogShipping | None:
    """Where Fluent Bit ships, when the hub ships logs (its shared log outputs were read)."""
    if logs is None:
        return None
    return LogShipping(
        target=IngestionTarget(
            endpoint=logs.logs_ingestion_endpoint,
            dcr_immutable_id=logs.logs_dcr_immutable_id,
            container_log_stream=logs.logs_container_log_stream,
            event_stream=logs.logs_event_stream,
        ),
        tenant_id=logs.logs_tenant_id,
        client_id=logs.logs_client_id,
        client_secret=logs.secret("logs_client_secret"),
    )


def _deploy_backup(
    config: HubConfig, cluster: AksEngineCluster, shared: SharedBackupOutputs | None, app: RatingsApp
) -> None:
    assert config.backup_verification_key is not None  # noqa: S101 (checked by cross_checks)
    if config.backup_target is not None and config.backup_target_sas is not None:
        url, profile = config.backup_target.container_url, config.backup_target.profile
        sas = pulumi.Output.secret(config.backup_target_sas.get_secret_value())
    else:
        assert shared is not None  # noqa: S101 (read whenever backups go to the shared container)
        url, profile, sas = shared.backup_container_url, "azure", shared.secret("backup_sas_token")
    DatabaseBackup(
        f"{config.hub_name}-backup",
        DatabaseBackupArgs(
            provider=cluster.provider,
            namespace=app.namespace,
            hub=config.hub_name,
            container_url=url,
            sas_token=sas,
            storage_profile=profile,
            recipients=[
                BackupRecipient(c.recipient.file, c.pem, c.recipient.rsa) for c in config.recipient_certificates()
            ],
            verification_key=pulumi.Output.secret(config.backup_verification_key.get_secret_value()),
            database_hosts=member_hosts(DATABASE_MEMBERS, MONGODB, MONGODB, NAMESPACE),
            database_labels={"app.kubernetes.io/name": MONGODB},
            database_port=MONGODB_PORT,
            storage_egress=config.backup_egress_rules(url),
            egress=config.proxy(),
            no_proxy=config.no_proxy(),
            mongo_image=config.mongo_image,
            python_image=config.backup_python_image,
            schedule=config.backup_schedule,
            verify_schedule=config.backup_verify_schedule,
            time_zone=config.backup_time_zone,
            image_pull_secrets=[PULL_SECRET],
        ),
        # Not depends_on the app: its StatefulSet waits for the backup user's Secret. The namespace Output orders
        # these objects after the namespace.
    )


def app_exports(app: RatingsApp) -> dict[str, pulumi.Input[Any]]:
    """The application part of the hub contract: the names it serves and where the global probe should look."""
    return {
        "sharedHostname": app.shared_hostname,
        "hubHostname": app.hub_hostname,
        "healthUrl": app.health_url,
    }
