"""The AKS Engine cluster definition (vlabs apimodel) for Azure Stack Hub: settings, rules, builder, change plan.

Pure functions only: nothing here touches Pulumi, the network or the disk. Field names and rules come from
the aks-engine-azurestack source (`pkg/api/vlabs/types.go`, `pkg/api/vlabs/validate.go`,
`pkg/api/common/helper.go`) and Microsoft's Azure Stack Hub notes on AKS Engine; each rule says why.
"""

import copy
import dataclasses
import ipaddress
import re
import typing
from dataclasses import dataclass
from typing import Any, Literal

from aksengine.versions import (
    AKS_ENGINE_VERSION,
    DEFAULT_KUBERNETES_VERSION,
    NEW_CLUSTER_KUBERNETES_VERSIONS,
    minor_of,
    parse_kubernetes_version,
    upgrade_refusal,
)
from planning.network import node_capacity
from policy.stackhub_policies.hub_facts import MIN_WORKERS, NODES_PER_SUBSCRIPTION, UPGRADE_SURGE_VMS

IdentitySystem = Literal["azure_ad", "adfs"]


MASTER_STATIC_IP_BLOCK = 16
"""Consecutive addresses AKS Engine takes from `firstConsecutiveStaticIP` (masters, internal LB at +10)."""

AZURE_RESERVED_LOW = 4
"""Azure keeps the first four addresses of every subnet (network, gateway, two for DNS)."""

AZURE_RESERVED_HIGH = 1
"""... and the last one (broadcast)."""

SERVICE_PRINCIPAL_SECRET_PLACEHOLDER = ""
"""What `build_apimodel` puts in `servicePrincipalProfile.secret`; the lifecycle swaps in the real secret."""

AZURE_DISK_CSI_ADDON = "azuredisk-csi-driver"
# From Kubernetes 1.21 the in-tree disk provisioner is gone and AKS Engine does not turn this addon on by
# itself on a hub (`ShouldEnableAzureCloudAddon` returns false for it on AzureStackCloud): without it no
# PersistentVolume can be provisioned.

_DNS_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,43}[A-Za-z0-9]$")  # common.ValidateDNSPrefix
_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")  # vlabs validatePoolName: part of every VM name
_LOCATION = re.compile(r"^[a-z0-9]+$")
_VM_SIZE = re.compile(r"^Standard_[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
_SUBNET_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)"
    r"/providers/Microsoft\.Network/virtualNetworks/(?P<vnet>[^/]+)/subnets/(?P<subnet>[^/]+)$",
    re.IGNORECASE,
)
_ADMIN_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Names Azure refuses for a Linux VM's admin account (Compute API, osProfile.adminUsername).
_RESERVED_ADMIN_NAMES = frozenset({"admin", "administrator", "root", "user", "guest", "test", "sys", "adm"})
_DISTROS = ("aks-ubuntu-22.04",)
_NETWORK_PLUGINS = ("azure",)
_MAX_PODS_RANGE = (5, 250)  # vlabs KubernetesMinMaxPods; Azure CNI serves at most 250 pods per node


@dataclass(frozen=True)
class ClusterSettings:
    """What one AKS Engine cluster on one hub should look like; everything but secrets."""

    location: str
    """Hub region (`local` on a development kit); AKS Engine compares it with `--location`."""
    portal_url: str
    """Hub user portal, `https://portal.<location>.<fqdn>`; AKS Engine derives every endpoint from it."""
    identity_system: IdentitySystem
    """`azure_ad` (connected) or `adfs` (disconnected) stamps."""
    subscription_id: str
    """Subscription (UUID) the cluster, its VNet and its 50-node budget live in."""
    resource_group: str
    """Resource group AKS Engine creates for the cluster and that deleting the cluster removes whole."""
    dns_prefix: str
    """Cluster name: prefix of VM names and of the API server FQDN; fixed after deploy."""
    subnet_id: str
    """ARM id of the existing subnet all nodes join (owned by the network component)."""
    subnet_cidr: str
    """Address prefix of that subnet, to check the static block and Azure CNI's address needs."""
    vnet_cidr: str
    """Address space of the subnet's VNet (`masterProfile.vnetCidr`)."""
    first_consecutive_static_ip: str
    """First of the 16 consecutive addresses reserved for control-plane VMs (e.g. `.224` of a /24)."""
    admin_username: str
    """Linux admin account on every node."""
    ssh_public_key: str
    """OpenSSH RSA public key for the admin account."""
    client_id: str
    """Service principal application id (UUID) the cloud provider and AKS Engine use."""
    master_vm_size: str
    """VM size of control-plane nodes, e.g. `Standard_DS2_v2`."""
    agent_vm_size: str
    """VM size of worker nodes."""
    agent_count: int
    """Number of worker nodes (at least 2 for this pattern)."""
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    """Kubernetes version; a new cluster must use one the pinned AKS Engine release installs."""
    master_count: int = 3
    """Control-plane nodes: 3 or 5; fixed after deploy."""
    agent_pool_name: str = "linuxpool"
    """Name of the single worker pool (lowercase, at most 12 characters)."""
    distro: str = "aks-ubuntu-22.04"
    """Node image distro; the AKS Base Ubuntu 22.04 marketplace item must be on the hub."""
    network_plugin: str = "azure"
    """Azure CNI; kubenet is refused (see `validate`)."""
    max_pods: int = 30
    """Pods per node; with Azure CNI each node takes this many subnet addresses plus one."""
    run_unattended_upgrades_on_bootstrap: bool = False
    """Patch nodes while they boot; off because disconnected hubs cannot reach Ubuntu archives."""
    enable_unattended_upgrades: bool = True
    """Daily unattended-upgrade on nodes (kured reboots them); turn off where no archive is reachable."""


@dataclass(frozen=True)
class Problem:
    """One broken rule: which field, the value it has, and what is allowed instead."""

    field: str
    value: object
    allowed: str

    def __str__(self) -> str:
        return f"{self.field}={self.value!r}: {self.allowed}"


def settings_from_dict(data: object) -> ClusterSettings:
    """Build settings from JSON (snake_case keys); ValueError naming every unknown, missing or mistyped key."""
    if not isinstance(data, dict):
        # ValueError like every other input problem, so callers report all of them the same way.
        raise ValueError(f"cluster settings must be a JSON object, got {type(data).__name__}")  # noqa: TRY004
    hints = typing.get_type_hints(ClusterSettings)
    fields = {f.name: f for f in dataclasses.fields(ClusterSettings)}
    errors = [f"unknown key {key!r}" for key in sorted(set(data) - set(fields))]
    for name, spec in fields.items():
        required = spec.default is dataclasses.MISSING
        if name not in data:
            if required:
                errors.append(f"missing key {name!r}")
            continue
        problem = _type_problem(data[name], hints[name])
        if problem:
            errors.append(f"{name}: {problem}")
    if errors:
        raise ValueError("invalid cluster settings: " + "; ".join(errors))
    return ClusterSettings(**{k: v for k, v in data.items() if k in fields})


def settings_to_dict(settings: ClusterSettings) -> dict[str, Any]:
    """The JSON form `settings_from_dict` reads back."""
    return dataclasses.asdict(settings)


def _type_problem(value: object, expected: object) -> str | None:
    if typing.get_origin(expected) is Literal:
        choices = typing.get_args(expected)
        return None if value in choices else f"must be one of {', '.join(map(repr, choices))}"
    if expected is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if expected is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if expected is str:
        return None if isinstance(value, str) else "must be a string"
    raise TypeError(f"settings_from_dict does not know how to check {expected!r}")


class _Rules:
    """Collects the rules a group breaks, in the order the group checks them."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def check(self, ok: bool, field: str, value: object, allowed: str) -> None:
        """Record `field` as broken unless `ok`."""
        if not ok:
            self.problems.append(Problem(field, value, allowed))


def validate(
    settings: ClusterSettings,
    other_nodes_in_subscription: int = 0,
    *,
    current_version: str | None = None,
) -> list[Problem]:
    """Every rule the settings break, all at once (an empty list means AKS Engine and the hub will accept them).

    `other_nodes_in_subscription` counts Kubernetes nodes of other clusters in the same subscription.
    `current_version` is the version a deployed cluster runs: it stays acceptable even when the pinned
    release would not create a new cluster with it.
    """
    return [
        *_hub_problems(settings),
        *_shape_problems(settings),
        *_software_problems(settings, current_version),
        *_admin_problems(settings),
        *_quota_problems(settings, other_nodes_in_subscription),
        *_placement_problems(settings),
        *_address_problems(settings),
    ]


def _hub_problems(s: ClusterSettings) -> list[Problem]:
    """Which hub the cluster goes to and who it acts as there: region, portal, identity system, ids."""
    rules = _Rules()
    rules.check(
        bool(_LOCATION.match(s.location)),
        "location",
        s.location,
        "the hub's region name in lowercase letters and digits (e.g. `local`)",
    )
    rules.check(
        hub_domain(s) != "",
        "portal_url",
        s.portal_url,
        f"must start with `https://portal.{s.location}.` followed by the hub's domain: AKS Engine derives "
        "the hub's endpoints from it and rejects any other form",
    )
    rules.check(
        s.identity_system in ("azure_ad", "adfs"),
        "identity_system",
        s.identity_system,
        "`azure_ad` or `adfs`",
    )
    rules.check(bool(_UUID.match(s.subscription_id)), "subscription_id", s.subscription_id, "a UUID")
    rules.check(
        bool(_UUID.match(s.client_id)),
        "client_id",
        s.client_id,
        "the service principal's application id, a UUID (AKS Engine parses `--client-id` as one)",
    )
    return rules.problems


def _shape_problems(s: ClusterSettings) -> list[Problem]:
    """The cluster's names, node counts and VM sizes: what AKS Engine turns into VMs."""
    rules = _Rules()
    rules.check(
        bool(_DNS_PREFIX.match(s.dns_prefix)),
        "dns_prefix",
        s.dns_prefix,
        "3 to 45 letters, digits and hyphens, starting with a letter and ending with a letter or digit",
    )
    rules.check(
        bool(_POOL_NAME.match(s.agent_pool_name)),
        "agent_pool_name",
        s.agent_pool_name,
        "a lowercase letter, then at most 11 lowercase letters or digits (it becomes part of VM names)",
    )
    rules.check(
        s.master_count in (3, 5),
        "master_count",
        s.master_count,
        "3 or 5: AKS Engine allows 1, 3 or 5 control-plane VMs and a highly available cluster needs 3 or more",
    )
    rules.check(
        s.agent_count >= MIN_WORKERS,
        "agent_count",
        s.agent_count,
        f"at least {MIN_WORKERS} worker nodes, so workloads survive the loss or upgrade of one node",
    )
    for field, size in (("master_vm_size", s.master_vm_size), ("agent_vm_size", s.agent_vm_size)):
        rules.check(bool(_VM_SIZE.match(size)), field, size, "an Azure VM size name such as `Standard_DS2_v2`")
    return rules.problems


def _software_problems(s: ClusterSettings, current_version: str | None) -> list[Problem]:
    """What runs on the nodes: Kubernetes version, network plugin, node image, pods per node."""
    rules = _Rules()
    # A deployed cluster keeps its version even when the pinned release would not create a new cluster with it.
    if current_version is None or s.kubernetes_version != current_version:
        rules.check(
            s.kubernetes_version in NEW_CLUSTER_KUBERNETES_VERSIONS,
            "kubernetes_version",
            s.kubernetes_version,
            f"one of {', '.join(NEW_CLUSTER_KUBERNETES_VERSIONS)} (what AKS Engine {AKS_ENGINE_VERSION} "
            "installs on Azure Stack Hub)",
        )
    rules.check(
        s.network_plugin in _NETWORK_PLUGINS,
        "network_plugin",
        s.network_plugin,
        "`azure` only: with `kubenet` AKS Engine creates a route table that the cluster subnet must be "
        "attached to after deploy, which would give the subnet (owned by the network component) a second owner",
    )
    rules.check(
        s.distro in _DISTROS,
        "distro",
        s.distro,
        f"one of {', '.join(_DISTROS)} (older AKS Ubuntu images are no longer supported on Azure Stack Hub)",
    )
    low, high = _MAX_PODS_RANGE
    rules.check(low <= s.max_pods <= high, "max_pods", s.max_pods, f"between {low} and {high} with Azure CNI")
    return rules.problems


def _admin_problems(s: ClusterSettings) -> list[Problem]:
    """The admin account Azure creates on every node, and its SSH key."""
    rules = _Rules()
    rules.check(
        bool(_ADMIN_USERNAME.match(s.admin_username)) and s.admin_username not in _RESERVED_ADMIN_NAMES,
        "admin_username",
        s.admin_username,
        "a Linux user name (lowercase, at most 32 characters) that Azure allows (not admin, root, ...)",
    )
    rules.check(
        s.ssh_public_key.startswith("ssh-rsa ") and len(s.ssh_public_key.split()) >= 2,
        "ssh_public_key",
        _shorten(s.ssh_public_key),
        "an OpenSSH RSA public key (`ssh-rsa AAAA...`): Azure Stack Hub VMs accept RSA keys only",
    )
    return rules.problems


def _quota_problems(s: ClusterSettings, other_nodes_in_subscription: int) -> list[Problem]:
    """The subscription's node budget, which every cluster in it shares, at the peak of an upgrade."""
    rules = _Rules()
    rules.check(
        other_nodes_in_subscription >= 0,
        "other_nodes_in_subscription",
        other_nodes_in_subscription,
        "a count, 0 or more",
    )
    peak = s.master_count + s.agent_count + UPGRADE_SURGE_VMS + max(other_nodes_in_subscription, 0)
    rules.check(
        peak <= NODES_PER_SUBSCRIPTION,
        "agent_count",
        s.agent_count,
        f"masters + workers + {UPGRADE_SURGE_VMS} VM an upgrade adds + nodes of other clusters in the "
        f"subscription ({peak}) must stay within Azure Stack Hub's {NODES_PER_SUBSCRIPTION} nodes per "
        "subscription",
    )
    return rules.problems


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def hub_domain(settings: ClusterSettings) -> str:
    """The hub's external domain taken from the portal URL (`https://portal.local.azurestack.external` ->
    `azurestack.external`); empty when the URL does not have the form AKS Engine needs."""
    prefix = f"https://portal.{settings.location}."
    if not settings.portal_url.startswith(prefix):
        return ""
    rest = settings.portal_url[len(prefix) :].rstrip("/")
    return rest if re.fullmatch(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*", rest) else ""


def _placement_problems(s: ClusterSettings) -> list[Problem]:
    """Where the cluster sits: its own resource group, and a subnet in its subscription but another group."""
    problems: list[Problem] = []
    if not _RESOURCE_GROUP.match(s.resource_group):
        problems.append(
            Problem("resource_group", s.resource_group, "1 to 90 letters, digits, `-_.()`, not ending with a period")
        )
    match = _SUBNET_ID.match(s.subnet_id)
    if match is None:
        problems.append(
            Problem(
                "subnet_id",
                s.subnet_id,
                "`/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>"
                "/subnets/<subnet>`",
            )
        )
        return problems
    if match["subscription"].lower() != s.subscription_id.lower():
        problems.append(
            Problem(
                "subnet_id",
                s.subnet_id,
                f"a subnet in subscription {s.subscription_id}: the cloud provider's azure.json names one "
                "subscription for the cluster and its VNet",
            )
        )
    if match["resource_group"].lower() == s.resource_group.lower():
        problems.append(
            Problem(
                "resource_group",
                s.resource_group,
                "a resource group other than the VNet's: deleting the cluster deletes its resource group",
            )
        )
    return problems


def _address_problems(s: ClusterSettings) -> list[Problem]:
    """The subnet's addresses: inside the VNet, room for the masters' static block and for every node's pods."""
    problems: list[Problem] = []
    vnet = _network(s.vnet_cidr)
    subnet = _network(s.subnet_cidr)
    if vnet is None:
        problems.append(Problem("vnet_cidr", s.vnet_cidr, "an IPv4 network such as `10.100.0.0/16`"))
    if subnet is None:
        problems.append(Problem("subnet_cidr", s.subnet_cidr, "an IPv4 network such as `10.100.0.0/24`"))
    if vnet is not None and subnet is not None and not subnet.subnet_of(vnet):
        problems.append(Problem("subnet_cidr", s.subnet_cidr, f"a network inside vnet_cidr {vnet}"))
    try:
        first = ipaddress.IPv4Address(s.first_consecutive_static_ip)
    except ValueError:
        problems.append(Problem("first_consecutive_static_ip", s.first_consecutive_static_ip, "an IPv4 address"))
        return problems
    if subnet is None:
        return problems
    lowest = subnet.network_address + AZURE_RESERVED_LOW
    highest = subnet.broadcast_address - AZURE_RESERVED_HIGH
    last = int(first) + MASTER_STATIC_IP_BLOCK - 1
    if not (int(lowest) <= int(first) and last <= int(highest)):
        suggestion = ipaddress.IPv4Address(int(highest) + 1 - MASTER_STATIC_IP_BLOCK)
        problems.append(
            Problem(
                "first_consecutive_static_ip",
                s.first_consecutive_static_ip,
                f"an address in {subnet} from which {MASTER_STATIC_IP_BLOCK} consecutive addresses stay inside "
                f"{lowest}-{highest} (Azure reserves the first four and the last address), e.g. {suggestion}",
            )
        )
    # One rule, one wording: the address plan (master block plus its buffer) is planning.network's.
    nodes = s.master_count + s.agent_count + UPGRADE_SURGE_VMS
    capacity = node_capacity(s.subnet_cidr, s.max_pods)
    if nodes > capacity:
        problems.append(
            Problem(
                "subnet_cidr",
                s.subnet_cidr,
                f"holds {capacity} nodes at {s.max_pods} pods each (Azure CNI: one address per pod plus the "
                f"node's), but the cluster needs {nodes} ({s.master_count} masters, {s.agent_count} workers, "
                "1 upgrade surge): use a larger subnet or fewer maxPods",
            )
        )
    return problems


def _network(cidr: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        return None


def build_apimodel(settings: ClusterSettings) -> dict[str, Any]:
    """The vlabs cluster definition `aks-engine-azurestack deploy` reads; holds no secret.

    `servicePrincipalProfile.secret` is `SERVICE_PRINCIPAL_SECRET_PLACEHOLDER`: the lifecycle fills it with
    `with_service_principal_secret` into a private temporary file just before `deploy` runs.
    """
    s = settings
    subnet = {"vnetSubnetID": s.subnet_id}
    return {
        "apiVersion": "vlabs",
        "location": s.location,
        "properties": {
            "customCloudProfile": {"portalURL": s.portal_url, "identitySystem": s.identity_system},
            "orchestratorProfile": {
                "orchestratorType": "Kubernetes",
                "orchestratorRelease": minor_of(s.kubernetes_version),
                "orchestratorVersion": s.kubernetes_version,
                "kubernetesConfig": {
                    "networkPlugin": s.network_plugin,
                    # Without a policy engine NetworkPolicies are accepted but not enforced. On a hub the only
                    # engine is Azure NPM ("azure", experimental per docs/topics/azure-stack.md), which needs
                    # networkPlugin "azure".
                    "networkPolicy": "azure",
                    "maxPods": s.max_pods,
                    # Hub rules (vlabs validate.go): containerd only from 1.24, the external cloud
                    # provider from 1.21, no instance metadata service, Basic load balancers only.
                    "containerRuntime": "containerd",
                    "useCloudControllerManager": True,
                    "useInstanceMetadata": False,
                    "loadBalancerSku": "Basic",
                    "addons": [{"name": AZURE_DISK_CSI_ADDON, "enabled": True}],
                },
            },
            "masterProfile": {
                "count": s.master_count,
                "dnsPrefix": s.dns_prefix,
                "vmSize": s.master_vm_size,
                "distro": s.distro,
                # Hubs have no VM scale sets for the control plane (validateAzureStackSupport).
                "availabilityProfile": "AvailabilitySet",
                **subnet,
                "firstConsecutiveStaticIP": s.first_consecutive_static_ip,
                "vnetCidr": s.vnet_cidr,
            },
            "agentPoolProfiles": [
                {
                    "name": s.agent_pool_name,
                    "count": s.agent_count,
                    "vmSize": s.agent_vm_size,
                    "distro": s.distro,
                    "osType": "Linux",
                    # Must be explicit: the default for pools is scale sets, which hubs refuse.
                    "availabilityProfile": "AvailabilitySet",
                    "acceleratedNetworkingEnabled": False,
                    **subnet,
                }
            ],
            "linuxProfile": {
                "adminUsername": s.admin_username,
                "ssh": {"publicKeys": [{"keyData": s.ssh_public_key}]},
                "runUnattendedUpgradesOnBootstrap": s.run_unattended_upgrades_on_bootstrap,
                "enableUnattendedUpgrades": s.enable_unattended_upgrades,
            },
            "servicePrincipalProfile": {
                "clientId": s.client_id,
                "secret": SERVICE_PRINCIPAL_SECRET_PLACEHOLDER,
            },
        },
    }


def with_service_principal_secret(apimodel: dict[str, Any], secret: str) -> dict[str, Any]:
    """A copy of `apimodel` whose `servicePrincipalProfile.secret` is `secret` (the input is left as is)."""
    if not secret:
        raise ValueError("the service principal secret is empty")
    filled = copy.deepcopy(apimodel)
    filled["properties"].setdefault("servicePrincipalProfile", {})["secret"] = secret
    return filled


def validate_apimodel(apimodel: dict[str, Any]) -> list[Problem]:
    """The hub invariants a cluster definition must keep, checked on the model itself (built or generated).

    These are not settings but fixed facts of Azure Stack Hub (vlabs `validateAzureStackSupport`,
    `ValidateOrchestratorProfile`, `validateAgentPoolProfiles`, `validateVNET`); the lifecycle checks the
    model before handing it to AKS Engine so that no edit of the builder can slip past them.
    """
    props = apimodel.get("properties", {})
    master = props.get("masterProfile", {})
    vnet_of_master = _vnet_of(master.get("vnetSubnetID", ""))
    return [
        *_cloud_profile_problems(props.get("customCloudProfile", {}), apimodel.get("location", "")),
        *_kubernetes_config_problems(props.get("orchestratorProfile", {}).get("kubernetesConfig", {})),
        *_master_profile_problems(master),
        *(
            problem
            for index, pool in enumerate(props.get("agentPoolProfiles", []))
            for problem in _agent_pool_problems(index, pool, vnet_of_master)
        ),
    ]


_PROPERTIES = "properties."
"""Where every field `validate_apimodel` names lives in the model."""


def _cloud_profile_problems(cloud: dict[str, Any], location: str) -> list[Problem]:
    """`customCloudProfile`: the portal of the hub in `location`, and its identity system."""
    rules = _Rules()
    portal = cloud.get("portalURL", "")
    rules.check(
        isinstance(portal, str) and portal.startswith(f"https://portal.{location}."),
        _PROPERTIES + "customCloudProfile.portalURL",
        portal,
        f"must start with https://portal.{location}.",
    )
    rules.check(
        cloud.get("identitySystem") in ("azure_ad", "adfs"),
        _PROPERTIES + "customCloudProfile.identitySystem",
        cloud.get("identitySystem"),
        "`azure_ad` or `adfs`",
    )
    return rules.problems


def _kubernetes_config_problems(k8s: dict[str, Any]) -> list[Problem]:
    """`orchestratorProfile.kubernetesConfig`: the network, cloud provider, runtime and load balancer a hub allows."""
    rules = _Rules()
    kc = _PROPERTIES + "orchestratorProfile.kubernetesConfig."
    rules.check(
        k8s.get("networkPlugin") in ("azure", "kubenet"),
        kc + "networkPlugin",
        k8s.get("networkPlugin"),
        "`azure` or `kubenet` on Azure Stack Hub",
    )
    rules.check(
        k8s.get("networkPolicy") is None or (k8s["networkPolicy"] == "azure" and k8s.get("networkPlugin") != "kubenet"),
        kc + "networkPolicy",
        k8s.get("networkPolicy"),
        "unset or `azure` (Azure NPM, which needs networkPlugin `azure`) on Azure Stack Hub",
    )
    rules.check(
        k8s.get("useCloudControllerManager") is True,
        kc + "useCloudControllerManager",
        k8s.get("useCloudControllerManager"),
        "true: the in-tree cloud provider is gone from Kubernetes 1.21 on Azure Stack Hub",
    )
    rules.check(
        k8s.get("useInstanceMetadata") is not True,
        kc + "useInstanceMetadata",
        k8s.get("useInstanceMetadata"),
        "false or absent: Azure Stack Hub has no instance metadata service for it",
    )
    rules.check(
        k8s.get("containerRuntime") == "containerd",
        kc + "containerRuntime",
        k8s.get("containerRuntime"),
        "`containerd`: Docker is not supported from Kubernetes 1.24",
    )
    rules.check(
        k8s.get("loadBalancerSku", "Basic") == "Basic",
        kc + "loadBalancerSku",
        k8s.get("loadBalancerSku"),
        "`Basic`: Azure Stack Hub has no Standard load balancer",
    )
    return rules.problems


def _master_profile_problems(master: dict[str, Any]) -> list[Problem]:
    """`masterProfile`: control-plane VMs in an availability set, 1, 3 or 5 of them."""
    rules = _Rules()
    rules.check(
        master.get("availabilityProfile") == "AvailabilitySet",
        _PROPERTIES + "masterProfile.availabilityProfile",
        master.get("availabilityProfile"),
        "`AvailabilitySet` on Azure Stack Hub",
    )
    rules.check(
        master.get("count") in (1, 3, 5),
        _PROPERTIES + "masterProfile.count",
        master.get("count"),
        "1, 3 or 5",
    )
    return rules.problems


def _agent_pool_problems(index: int, pool: dict[str, Any], vnet_of_master: str | None) -> list[Problem]:
    """`agentPoolProfiles[index]`: availability sets, no accelerated networking, the control plane's VNet."""
    rules = _Rules()
    path = f"{_PROPERTIES}agentPoolProfiles[{index}]."
    rules.check(
        pool.get("availabilityProfile") == "AvailabilitySet",
        path + "availabilityProfile",
        pool.get("availabilityProfile"),
        "`AvailabilitySet`, set explicitly: the default (scale sets) does not exist on Azure Stack Hub",
    )
    rules.check(
        pool.get("acceleratedNetworkingEnabled") is not True,
        path + "acceleratedNetworkingEnabled",
        pool.get("acceleratedNetworkingEnabled"),
        "false: Azure Stack Hub has no accelerated networking",
    )
    rules.check(
        _vnet_of(pool.get("vnetSubnetID", "")) == vnet_of_master,
        path + "vnetSubnetID",
        pool.get("vnetSubnetID"),
        "a subnet of the control plane's VNet: AKS Engine needs all pools in one VNet, or none custom",
    )
    return rules.problems


def _vnet_of(subnet_id: object) -> str | None:
    if not isinstance(subnet_id, str) or not subnet_id:
        return None
    return subnet_id.lower().rsplit("/subnets/", 1)[0]


# -- change planning ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleStep:
    """`aks-engine-azurestack scale` of one pool to a node count."""

    node_pool: str
    node_count: int
    needs_apiserver: bool
    """Scaling down cordons and drains nodes through the API server (`--apiserver` is required)."""


@dataclass(frozen=True)
class UpgradeStep:
    """`aks-engine-azurestack upgrade` of the whole cluster to one version."""

    kubernetes_version: str


Step = ScaleStep | UpgradeStep


@dataclass(frozen=True)
class ChangePlan:
    """What turning a deployed cluster into new settings takes: ordered steps, or why it cannot be done."""

    steps: tuple[Step, ...] = ()
    refusals: tuple[Problem, ...] = ()

    @property
    def refused(self) -> bool:
        """True when at least one change cannot be made to a running cluster."""
        return bool(self.refusals)


_FIXED_AFTER_DEPLOY: dict[str, str] = {
    "location": "a cluster cannot move to another region",
    "portal_url": "the hub's endpoints are written into every node at deploy",
    "identity_system": "the hub's identity system is written into every node at deploy",
    "subscription_id": "a cluster cannot move to another subscription",
    "resource_group": "a cluster cannot move to another resource group",
    "dns_prefix": "the DNS prefix names the VMs, the certificates and the API server FQDN",
    "subnet_id": "nodes cannot move to another subnet",
    "subnet_cidr": "the subnet's addresses are in use by the nodes",
    "vnet_cidr": "the VNet's address space is written into every node at deploy",
    "first_consecutive_static_ip": "the control-plane VMs hold these static addresses",
    "admin_username": "the admin account is set when a VM is created; AKS Engine has no command to change it",
    "ssh_public_key": "the SSH key is set when a VM is created; AKS Engine has no command to change it",
    "client_id": "the service principal is written into every node's cloud provider configuration",
    "master_count": "AKS Engine cannot add or remove control-plane VMs after deploy (`scale` works on agent "
    "pools only)",
    "master_vm_size": "AKS Engine has no command that resizes existing VMs",
    "agent_vm_size": "AKS Engine has no command that resizes existing VMs; `scale` would mix sizes in the pool",
    "agent_pool_name": "AKS Engine finds a pool's VMs by its name; a new name would orphan them",
    "distro": "only VMs created later would get the new image",
    "network_plugin": "the network plugin is fixed at deploy",
    "max_pods": "only VMs created later would get the new value",
    "run_unattended_upgrades_on_bootstrap": "only VMs created later would get the new value",
    "enable_unattended_upgrades": "only VMs created later would get the new value",
}


def plan_change(old: ClusterSettings, new: ClusterSettings) -> ChangePlan:
    """The steps that take a cluster deployed with `old` to `new`, or the reasons it cannot be done.

    Only the worker count and the Kubernetes version can change. Order: scale down first (fewer nodes to
    upgrade, less quota in use), then upgrade, then scale up (new nodes start on the new version).
    """
    refusals = [
        Problem(
            name,
            getattr(new, name),
            f"must stay {getattr(old, name)!r}: {reason}; deploy a new cluster to change it",
        )
        for name, reason in _FIXED_AFTER_DEPLOY.items()
        if getattr(old, name) != getattr(new, name)
    ]
    upgrade: list[Step] = []
    if new.kubernetes_version != old.kubernetes_version:
        reason = _upgrade_reason(old.kubernetes_version, new.kubernetes_version)
        if reason:
            refusals.append(Problem("kubernetes_version", new.kubernetes_version, reason))
        else:
            upgrade.append(UpgradeStep(new.kubernetes_version))
    if refusals:
        return ChangePlan(refusals=tuple(refusals))
    before: list[Step] = []
    after: list[Step] = []
    if new.agent_count < old.agent_count:
        before.append(ScaleStep(new.agent_pool_name, new.agent_count, needs_apiserver=True))
    elif new.agent_count > old.agent_count:
        after.append(ScaleStep(new.agent_pool_name, new.agent_count, needs_apiserver=False))
    return ChangePlan(steps=(*before, *upgrade, *after))


def _upgrade_reason(current: str, target: str) -> str | None:
    try:
        parse_kubernetes_version(current)
        parse_kubernetes_version(target)
    except ValueError as err:
        return str(err)
    return upgrade_refusal(current, target)
