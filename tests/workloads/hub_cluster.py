"""One hub's cluster built offline: ClusterPlatform and RatingsApp on a provider from a dummy kubeconfig.

The hub stack wires the same components from its stack files (tests/stacks/test_hub_app.py checks that); this
program lets the component tests vary what the stack files fix (worker count and size, ACME, log shipping, chart
sources, an egress proxy) under the same offline engine. Secret inputs carry sentinel values so that tests can
prove none leaks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from aksengine.versions import DEFAULT_KUBERNETES_VERSION
from components.cluster_platform import (
    AcmeSettings,
    ClusterPlatform,
    ClusterPlatformArgs,
    IngressAddress,
    LogShipping,
)
from components.ratings_app import AppImages, RatingsApp, RatingsAppArgs, RegistryCredentials
from planning.egress import EgressProxy
from preview.engine import StackRun, run_stack
from workloads.charts import PlatformCharts
from workloads.issuers import AzureDnsZone
from workloads.log_shipping import IngestionTarget

KUBERNETES_VERSION = DEFAULT_KUBERNETES_VERSION
INGRESS_IP = "203.0.113.20"
NETWORK_RESOURCE_GROUP = "hub-seattle-network"
SHARED_HOSTNAME = "ratings.contoso-apps.com"
HUB_HOSTNAME = "hub-seattle-ingress.seattle.cloudapp.azurestack.contoso.com"
REGISTRY = "stackhubha.azurecr.io"
SENTINELS = {
    "registry password": "sentinel-registry-pull-password-5f1e",
    "dns client secret": "sentinel-azuredns-client-secret-9c2b",
    "logs client secret": "sentinel-logs-client-secret-7a4d",
    "kubeconfig token": "sentinel-kubeconfig-token-3e8f",
}
KUBECONFIG = json.dumps({
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "hub", "cluster": {"server": "https://hub-seattle.seattle.cloudapp.example:443"}}],
    "users": [{"name": "admin", "user": {"token": SENTINELS["kubeconfig token"]}}],
    "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "admin"}}],
    "current-context": "hub",
})  # fmt: skip
DNS_ZONE = AzureDnsZone(
    subscription_id="0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    resource_group="shared-dns",
    zone_name="ratings.contoso-apps.com",
    tenant_id="6f1c2a4e-8b7d-4e53-9a0f-2d3c4b5a6e7f",
    client_id="1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
)
INGESTION = IngestionTarget(
    endpoint="https://shared-dce-a1b2.westeurope-1.ingest.monitor.azure.com",
    dcr_immutable_id="dcr-0123456789abcdef0123456789abcdef",
    container_log_stream="Custom-StackHubContainerLogs_CL",
    event_stream="Custom-StackHubEvents_CL",
)


@dataclass(frozen=True)
class Cluster:
    """How the offline cluster differs between tests."""

    workers: int = 3
    vm_size: str = "Standard_DS2_v2"
    acme: bool = True
    log_shipping: bool = True
    charts: PlatformCharts = field(default_factory=PlatformCharts)
    image_registry: str | None = None
    images: AppImages = field(default_factory=AppImages)
    egress: EgressProxy | None = None
    no_proxy: tuple[str, ...] = ()
    egress_node_image: str | None = None
    masters_cidr: str | None = None


def program(cluster: Cluster) -> Callable[[], None]:
    """A Pulumi program building the platform and the app as the hub stack would."""

    def build() -> None:
        provider = k8s.Provider("hub-seattle-cluster", kubeconfig=pulumi.Output.secret(KUBECONFIG))
        acme = (
            AcmeSettings(
                email="platform-team@contoso.com",
                dns_zone=pulumi.Output.from_input(DNS_ZONE),
                dns_client_secret=pulumi.Output.secret(SENTINELS["dns client secret"]),
            )
            if cluster.acme
            else None
        )
        shipping = (
            LogShipping(
                target=pulumi.Output.from_input(INGESTION),
                tenant_id=DNS_ZONE.tenant_id,
                client_id="5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
                client_secret=pulumi.Output.secret(SENTINELS["logs client secret"]),
            )
            if cluster.log_shipping
            else None
        )
        platform = ClusterPlatform(
            "hub-seattle",
            ClusterPlatformArgs(
                provider=provider,
                hub_name="hub-seattle",
                ingress_address=IngressAddress(
                    ip_address=pulumi.Output.from_input(INGRESS_IP), resource_group=NETWORK_RESOURCE_GROUP
                ),
                worker_count=cluster.workers,
                charts=cluster.charts,
                image_registry=cluster.image_registry,
                acme=acme,
                log_shipping=shipping,
                egress=cluster.egress,
                no_proxy=cluster.no_proxy,
                egress_node_image=cluster.egress_node_image,
                masters_cidr=cluster.masters_cidr,
            ),
        )
        app = RatingsApp(
            "hub-seattle",
            RatingsAppArgs(
                provider=provider,
                registry=RegistryCredentials(
                    login_server=REGISTRY,
                    username="stackhubha-pull",
                    password=pulumi.Output.secret(SENTINELS["registry password"]),
                ),
                shared_hostname=SHARED_HOSTNAME,
                hub_hostname=HUB_HOSTNAME,
                tls_issuer=platform.default_issuer,
                storage_class=platform.storage_class_name,
                worker_count=cluster.workers,
                worker_vm_size=cluster.vm_size,
                images=cluster.images,
                log_shipping=cluster.log_shipping,
            ),
            opts=pulumi.ResourceOptions(depends_on=[platform]),
        )
        pulumi.export("ingressIp", platform.ingress_ip_address)
        pulumi.export("sharedHostname", app.shared_hostname)
        pulumi.export("hubHostname", app.hub_hostname)
        pulumi.export("healthUrl", app.health_url)

    return build


def run_cluster(cluster: Cluster | None = None) -> StackRun:
    """Run the program offline."""
    return run_stack("hub-seattle", config={}, program=program(cluster or Cluster()))
