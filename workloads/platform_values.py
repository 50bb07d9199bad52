"""Helm values of the platform charts (NGINX ingress, cert-manager, kured) and the database StorageClass.

Chart keys are those of the pinned chart versions: nginx-ingress 2.6.4 and cert-manager v1.21.1 are checked
against their own schemas by the tests (`tests/workloads/values_schema.py`); kured 6.1.0 publishes no schema, its
keys follow the chart's `values.yaml` and `templates/daemonset.yaml`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from planning.egress import bypassing_entry
from planning.reboot import reboot_window_problems
from workloads.charts import INGRESS_CLASS, INGRESS_CONTROLLER_POD_LABELS
from workloads.sizing import ContainerResources, FixedPods, Resources

MASTER_TOLERATIONS: list[dict[str, str]] = [
    # AKS Engine taints masters `node-role.kubernetes.io/control-plane=true:NoSchedule` (older releases used the
    # `master` key). `Exists` matches whatever value the taint carries; the kured chart's default toleration has
    # no operator, so it means `Equal` to an empty value and misses the `true` taint.
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
]

INGRESS_RESOURCES = ContainerResources(Resources(100, 128), Resources(1000, 512))
INGRESS_INIT_RESOURCES = ContainerResources(Resources(50, 64), Resources(200, 128))
CERT_MANAGER_RESOURCES = ContainerResources(Resources(50, 128), Resources(500, 512))
CERT_MANAGER_SMALL_RESOURCES = ContainerResources(Resources(20, 64), Resources(200, 256))
KURED_RESOURCES = ContainerResources(Resources(10, 32), Resources(100, 128))
LOG_SHIPPER_RESOURCES = ContainerResources(Resources(50, 64), Resources(500, 256))
CLUSTER_ADDONS = Resources(300, 300)
"""Requests of AKS Engine's add-on Deployments that land on workers (CoreDNS, metrics-server, ...), estimated."""

AZURE_LB_RESOURCE_GROUP = "service.beta.kubernetes.io/azure-load-balancer-resource-group"
AZURE_LB_IPV4 = "service.beta.kubernetes.io/azure-load-balancer-ipv4"


def spread_over_nodes(pod_labels: Mapping[str, str], max_skew: int = 1) -> dict[str, Any]:
    """A topology spread constraint keeping replicas on different nodes.

    `nodeTaintsPolicy: Honor` leaves tainted nodes (the masters, a cordoned node under drain) out of the skew
    count. With the default (`Ignore`) the three tainted masters count as empty domains and the third replica of
    a workload on two workers can never be scheduled.
    """
    return {
        "maxSkew": max_skew,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "nodeTaintsPolicy": "Honor",
        "labelSelector": {"matchLabels": dict(pod_labels)},
    }


def ingress_replicas(workers: int) -> int:
    """Ingress controller replicas: at least two (one per node), at most three."""
    return max(2, min(3, workers))


def nginx_ingress_values(
    *, ingress_ip: Any, ip_resource_group: Any, replicas: int, image_registry: str | None = None
) -> dict[str, Any]:
    """Values of the F5 NGINX ingress controller: one LoadBalancer Service on the hub's static public IP.

    `ingress_ip` and `ip_resource_group` are strings, or values a program only knows later (Pulumi Outputs): they
    are placed as they are, so that in a preview only they are unknown and the rest of the values stays readable
    (to a reviewer and to the policy pack).
    """
    if replicas < 2:
        raise ValueError("the ingress controller needs at least two replicas")
    controller: dict[str, Any] = {
        "replicaCount": replicas,
        "ingressClass": {"name": INGRESS_CLASS, "create": True, "setAsDefaultIngress": False},
        "readOnlyRootFilesystem": True,
        "service": {
            "create": True,
            "type": "LoadBalancer",
            # Keeps the client address and sends the load balancer's probes only to nodes running a replica.
            "externalTrafficPolicy": "Local",
            # The address lives in the network resource group (HubNetwork), not in the cluster's: the cloud
            # provider must be told where to find it. `spec.loadBalancerIP` is deprecated since Kubernetes 1.24 in
            # favour of the annotation; cloud-provider-azure reads the annotation first, and setting both keeps
            # older cloud-controller-manager builds working.
            "loadBalancerIP": ingress_ip,
            "annotations": {AZURE_LB_RESOURCE_GROUP: ip_resource_group, AZURE_LB_IPV4: ingress_ip},
        },
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        "topologySpreadConstraints": [spread_over_nodes(INGRESS_CONTROLLER_POD_LABELS)],
        "resources": INGRESS_RESOURCES.as_dict(),
        "initContainerResources": INGRESS_INIT_RESOURCES.as_dict(),
        # F5's usage telemetry calls out to the internet; a disconnected hub must send nothing out.
        "telemetryReporting": {"enable": False},
    }
    if image_registry:
        controller["image"] = {"repository": f"{image_registry}/nginx/nginx-ingress"}
    return {"controller": controller}


def cert_manager_values(*, namespace: str, image_registry: str | None = None) -> dict[str, Any]:
    """Values of cert-manager: its CRDs (kept on uninstall), two controller and webhook replicas with PDBs."""
    small = CERT_MANAGER_SMALL_RESOURCES.as_dict()
    values: dict[str, Any] = {
        # `installCRDs` is deprecated and conflicts with `crds.*`; `keep` stops an uninstall deleting every
        # Certificate and Issuer with the CRDs.
        "crds": {"enabled": True, "keep": True},
        # Leader election leases in cert-manager's own namespace instead of kube-system.
        "global": {"leaderElection": {"namespace": namespace}},
        "replicaCount": 2,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        "resources": CERT_MANAGER_RESOURCES.as_dict(),
        "webhook": {
            "replicaCount": 2,
            "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
            "resources": small,
        },
        "cainjector": {"replicaCount": 1, "resources": small},
        "startupapicheck": {"resources": small},
    }
    if image_registry:
        values["imageRegistry"] = image_registry
    return values


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def duration_seconds(value: str) -> int:
    """A Go-style duration such as `90s`, `30m` or `1h30m` in seconds."""
    match = _DURATION.match(value)
    if not value or match is None:
        raise ValueError(f"{value!r} is not a duration such as 30m or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class RebootWindow:
    """When kured may reboot nodes, and how long it may wait for one node."""

    start_time: str = "02:00"
    """Earliest time of day for a reboot (HH:MM)."""
    end_time: str = "05:00"
    """Latest time of day for a reboot (HH:MM)."""
    time_zone: str = "UTC"
    """The window's time zone (a Go/IANA name)."""
    days: Sequence[str] = field(default=("mo", "tu", "we", "th", "fr", "sa", "su"))
    """Days on which reboots may happen (`su`..`sa`)."""
    period: str = "1h"
    """How often each node checks whether it needs a reboot."""
    drain_timeout: str = "30m"
    """How long a drain may wait on PodDisruptionBudgets before kured gives up on that node for this round."""
    lock_ttl: str = "2h"
    """How long the cluster-wide reboot lock lives if its holder never releases it (a node that died)."""

    def __post_init__(self) -> None:
        # The stack config checks the same window rules (planning/reboot.py) before anything is registered.
        period = duration_seconds(self.period)
        problems = reboot_window_problems(self.start_time, self.end_time, self.time_zone, self.days, period // 60)
        if problems:
            raise ValueError("reboot window: " + "; ".join(f"{field} {why}" for field, why in problems))
        drain, ttl = duration_seconds(self.drain_timeout), duration_seconds(self.lock_ttl)
        # A finite drain timeout is what stops one unsatisfiable PodDisruptionBudget blocking every reboot: kured's
        # default 0 waits forever while holding the only lock.
        if drain <= 0:
            raise ValueError("drain_timeout must be finite and positive")
        if ttl <= drain:
            raise ValueError("lock_ttl must be longer than drain_timeout, or the lock expires mid-drain")


def kured_values(window: RebootWindow, image_registry: str | None = None) -> dict[str, Any]:
    """Values of kured: the reboot window, one node at a time, a finite drain and lock lifetime."""
    values: dict[str, Any] = {
        "configuration": {
            "period": window.period,
            "startTime": window.start_time,
            "endTime": window.end_time,
            "timeZone": window.time_zone,
            "rebootDays": list(window.days),
            "drainTimeout": window.drain_timeout,
            "lockTtl": window.lock_ttl,
            "concurrency": 1,
            # Drain through the eviction API only (PodDisruptionBudgets honoured); never reboot a node whose drain
            # failed or timed out: it is uncordoned and retried in a later period.
            "forceReboot": False,
        },
        "tolerations": MASTER_TOLERATIONS,
        "resources": KURED_RESOURCES.as_dict(),
    }
    if image_registry:
        values["image"] = {"repository": f"{image_registry}/kubereboot/kured"}
    return values


def image_registry_host(image: str) -> str:
    """The registry host an image reference pulls from, without its port, as containerd resolves it.

    The first path component is a registry when it holds a `.` or a `:` or is `localhost`; otherwise the image
    comes from Docker Hub (`docker.io`).
    """
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first.rsplit(":", 1)[0].lower()
    return "docker.io"


def node_image_problem(image: str, no_proxy: Sequence[str]) -> str | None:
    """Why the node configurator cannot use `image` behind the proxy, or None.

    Its image is pulled before its node knows the proxy: on a node a later `scale` adds, containerd pulls it
    directly. So its registry must be one the nodes reach without the proxy, which the no-proxy list declares.
    """
    host = image_registry_host(image)
    if bypassing_entry(host, no_proxy) is None:
        return (
            f"is pulled from {host}, which the no-proxy list does not reach directly: a node added later pulls this "
            "image before it has the proxy, so use an image from a registry the nodes reach directly (the site's "
            "mirror) and list that registry in egressProxy.noProxy"
        )
    return None


DiskSku = Literal["Premium_LRS", "Standard_LRS"]
DISK_CSI_PROVISIONER = "disk.csi.azure.com"
DATABASE_STORAGE_CLASS = "database-retain"
"""Not `default`, `managed-standard` or `managed-premium`: AKS Engine owns and keeps reconciling those."""


def storage_class_parameters(sku: DiskSku) -> dict[str, str]:
    """Azure Disk CSI parameters for database volumes (a hub offers Standard_LRS and Premium_LRS only)."""
    if sku not in ("Premium_LRS", "Standard_LRS"):
        raise ValueError(f"skuName {sku!r}: Azure Stack Hub offers Premium_LRS and Standard_LRS only")
    return {"skuName": sku, "fsType": "ext4", "cachingMode": "ReadOnly"}


def load_balancer_services(chart: str, values: Mapping[str, Any]) -> int:
    """How many Services of type LoadBalancer a platform chart renders with these values (defaults applied)."""
    if chart == "nginx-ingress":
        service = (values.get("controller") or {}).get("service") or {}
        # Chart defaults: `create: true`, `type: LoadBalancer`.
        return int(service.get("create", True) and service.get("type", "LoadBalancer") == "LoadBalancer")
    if chart == "fluent-bit":
        return int((values.get("service") or {}).get("type", "ClusterIP") == "LoadBalancer")
    if chart == "kured":
        service = values.get("service") or {}
        return int(bool(service.get("create", False)) and service.get("type", "ClusterIP") == "LoadBalancer")
    if chart == "cert-manager":
        return 0
    raise KeyError(f"unknown chart {chart!r}")


def platform_pods(workers: int, *, log_shipping: bool) -> list[FixedPods]:
    """The platform's pods that compete with the application for workers (DaemonSets are counted per node)."""
    pods = [
        FixedPods("cluster add-ons", CLUSTER_ADDONS, 1),
        FixedPods("ingress controller", INGRESS_RESOURCES.requests, ingress_replicas(workers), one_per_node=True),
        FixedPods("cert-manager controller", CERT_MANAGER_RESOURCES.requests, 2),
        FixedPods("cert-manager webhook", CERT_MANAGER_SMALL_RESOURCES.requests, 2),
        FixedPods("cert-manager cainjector", CERT_MANAGER_SMALL_RESOURCES.requests, 1),
    ]
    if log_shipping:
        pods.append(FixedPods("event shipper", LOG_SHIPPER_RESOURCES.requests, 1))
    return pods
