"""ClusterPlatform: what every hub's cluster runs before the application, through the cluster's provider.

- the F5 NGINX ingress controller: the only LoadBalancer Service of the cluster (a hub's Basic load balancer
  takes five frontend addresses), bound to HubNetwork's static public IP in the network resource group;
- cert-manager with its CRDs, Let's Encrypt issuers (DNS-01 in the shared zone, HTTP-01 elsewhere) on hubs that
  may reach the internet, and a private CA on every hub;
- kured, rebooting one node at a time inside a window, draining through the eviction API with a finite timeout;
- the database StorageClass on the Azure Disk CSI driver (the cluster enables AKS Engine's `azuredisk-csi-driver`
  addon, so only the class is ours; `Retain` keeps a disk when its claim is deleted);
- optionally Fluent Bit, shipping container logs and Kubernetes events through the Logs Ingestion API;
- behind an egress proxy (`egress`), the node configurator DaemonSet (containerd, the kubelet and apt on every node
  get the proxy and the trusted CA, workloads/egress.py), and for the pods that call out (cert-manager's controller
  with ACME, Fluent Bit) the proxy variables, the CA and a NetworkPolicy allowing DNS, the API server and the proxy
  only. When the proxy's URLs carry credentials they sit in a Secret in each caller's namespace, which the
  variables reference: no Helm value and no container `env` value holds them. Every Helm release waits for the
  nodes to be configured. Without `egress` none of this exists.

Every Helm release has a fixed name (Pulumi would otherwise add a random suffix that leaks into the labels that
selectors and NetworkPolicies use) and a source that can be a private mirror (`workloads.charts`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from planning.egress import EgressProxy
from workloads.charts import (
    CERT_MANAGER_NAMESPACE,
    CERT_MANAGER_RELEASE,
    FLUENT_BIT_EVENTS_RELEASE,
    FLUENT_BIT_RELEASE,
    INGRESS_CLASS,
    INGRESS_CONTROLLER_POD_LABELS,
    INGRESS_NAMESPACE,
    INGRESS_RELEASE,
    KURED_NAMESPACE,
    KURED_RELEASE,
    LOGGING_NAMESPACE,
    ChartSource,
    PlatformCharts,
)
from workloads.egress import (
    CERT_MANAGER_CONTROLLER_LABELS,
    NodeProxySettings,
    ca_config_map,
    caller_egress_policy,
    node_manifests,
    pods_egress_rule,
    proxy_secret,
    with_cert_manager_egress,
    with_fluent_bit_egress,
)
from workloads.issuers import (
    AZURE_DNS_CREDENTIALS,
    AZURE_DNS_CREDENTIALS_KEY,
    LETSENCRYPT_PRODUCTION_URL,
    LETSENCRYPT_STAGING_URL,
    PRIVATE_CA_ISSUER,
    PRODUCTION_ISSUER,
    SELF_SIGNED_ISSUER,
    STAGING_ISSUER,
    AzureDnsZone,
    acme_issuer_spec,
    ca_issuer_spec,
    private_ca_certificate_spec,
    self_signed_issuer_spec,
)
from workloads.log_shipping import CREDENTIAL_KEYS, IngestionTarget, container_log_values, event_values
from workloads.platform_values import (
    DATABASE_STORAGE_CLASS,
    DISK_CSI_PROVISIONER,
    DiskSku,
    RebootWindow,
    cert_manager_values,
    ingress_replicas,
    kured_values,
    nginx_ingress_values,
    node_image_problem,
    storage_class_parameters,
)

LOGS_CREDENTIALS = "logs-ingestion-credentials"
HELM_TIMEOUT_SECONDS = 900
FLUENT_BIT_POD_LABELS = {"app.kubernetes.io/name": "fluent-bit"}
"""The chart's selector label shared by both Fluent Bit releases' pods (chart `_helpers.tpl`, selectorLabels)."""
HTTP01_SELF_CHECK_PORT = 80
"""cert-manager's HTTP-01 self-check asks the ingress controller's pods on plain HTTP."""


@dataclass(frozen=True)
class IngressAddress:
    """HubNetwork's static public IP for the ingress controller."""

    ip_address: pulumi.Input[str]
    """The address (HubNetwork.ingress_ip_address)."""
    resource_group: pulumi.Input[str]
    """The resource group holding it, not the cluster's (HubNetwork.resource_group_name)."""


@dataclass(frozen=True)
class AcmeSettings:
    """Let's Encrypt, for hubs whose cluster may reach the internet."""

    email: str
    """The ACME account's e-mail (expiry notices)."""
    dns_zone: pulumi.Input[AzureDnsZone]
    """The shared Azure DNS zone and the identity writing DNS-01 records (an Output when read from another stack)."""
    dns_client_secret: pulumi.Input[str]
    """That identity's client secret (kept in a Secret in cert-manager's namespace)."""


@dataclass(frozen=True)
class LogShipping:
    """The shared workspace's Logs Ingestion API target and credential (from the shared stack)."""

    target: pulumi.Input[IngestionTarget]
    """Endpoint, data collection rule and streams (an Output when read from the shared stack)."""
    tenant_id: pulumi.Input[str]
    """Entra tenant of the ingestion identity."""
    client_id: pulumi.Input[str]
    """The identity holding "Monitoring Metrics Publisher" on the rule."""
    client_secret: pulumi.Input[str]
    """Its client secret."""


@dataclass(frozen=True)
class ClusterPlatformArgs:
    """Inputs of a ClusterPlatform."""

    provider: k8s.Provider
    """The cluster's Kubernetes provider (built from AKS Engine's kubeconfig)."""
    hub_name: str
    """The hub's short name (tags log records)."""
    ingress_address: IngressAddress
    """Where the ingress controller's LoadBalancer Service binds."""
    worker_count: int
    """Workers in the cluster (ingress replicas: two or three, one per node)."""
    charts: PlatformCharts = field(default_factory=PlatformCharts)
    """Chart sources and pinned versions (upstream by default; `PlatformCharts.mirrored(...)` when disconnected)."""
    image_registry: str | None = None
    """A registry mirroring the platform images (`<registry>/nginx/nginx-ingress`, ...); None for upstream."""
    acme: AcmeSettings | None = None
    """Let's Encrypt issuers; None on hubs that cannot reach Let's Encrypt."""
    private_ca_common_name: str = "stackhub-ha private CA"
    """Common name of the private CA cert-manager bootstraps."""
    bootstrap_private_ca: bool = True
    """Self-sign the private CA; False when the operator puts an enterprise CA into the `private-ca` Secret."""
    reboot_window: RebootWindow = field(default_factory=RebootWindow)
    """When kured may reboot nodes."""
    disk_sku: DiskSku = "Premium_LRS"
    """Disk SKU of the database StorageClass."""
    log_shipping: LogShipping | None = None
    """Where logs and events go; None on hubs that must send nothing out."""
    egress: EgressProxy | None = None
    """The egress proxy the cluster reaches the outside through; None where it reaches it directly or not at all."""
    no_proxy: Sequence[str] = ()
    """Destinations reached without the proxy (planning.egress.effective_no_proxy); only with `egress`."""
    egress_node_image: str | None = None
    """The node configurator's pinned image (Python 3 and nsenter), from a registry the nodes reach without the
    proxy: the hub's mirror. Required with `egress`."""
    masters_cidr: str | None = None
    """The masters' address block (planning.network.master_block): NetworkPolicies reach the API server there.
    Required with `egress`."""

    def __post_init__(self) -> None:
        if self.egress is not None:
            self.node_proxy_settings()

    def node_proxy_settings(self) -> NodeProxySettings:
        """What the node configurator installs; ValueError naming the argument that is missing or wrong."""
        if self.egress is None:
            raise ValueError("ClusterPlatformArgs.egress is not set: there is no proxy to configure the nodes for")
        missing = [
            name
            for name, value in (
                ("no_proxy", self.no_proxy), ("masters_cidr", self.masters_cidr),
                ("egress_node_image", self.egress_node_image),
            )
            if not value
        ]  # fmt: skip
        if missing:
            raise ValueError(
                f"ClusterPlatformArgs.{', '.join(missing)} must be set with egress: no_proxy is what is reached "
                "without the proxy (planning.egress.effective_no_proxy), masters_cidr the API server's block for "
                "the NetworkPolicies (planning.network.master_block), egress_node_image the node configurator's "
                "pinned image from a registry the nodes reach directly"
            )
        image, masters = str(self.egress_node_image), str(self.masters_cidr)
        problem = node_image_problem(image, self.no_proxy)
        if problem is not None:
            raise ValueError(f"ClusterPlatformArgs.egress_node_image {image!r} {problem}")
        try:
            return NodeProxySettings(self.egress, tuple(self.no_proxy), masters, image=image)
        except ValueError as error:
            raise ValueError(f"ClusterPlatformArgs.egress_node_image: {error}") from None


class ClusterPlatform(pulumi.ComponentResource):
    """Ingress controller, cert-manager and issuers, kured, the database StorageClass and the log shipper."""

    ingress_class_name: pulumi.Output[str]
    """The IngressClass applications use."""
    ingress_namespace: pulumi.Output[str]
    """Namespace of the ingress controller (NetworkPolicies admit traffic from it)."""
    ingress_ip_address: pulumi.Output[str]
    """The public address the ingress controller serves on."""
    storage_class_name: pulumi.Output[str]
    """StorageClass for database volumes."""
    default_issuer: pulumi.Output[str]
    """The ClusterIssuer applications should use: Let's Encrypt production, or the private CA without ACME."""
    issuers: pulumi.Output[list[str]]
    """Every ClusterIssuer created."""
    log_shipping_enabled: pulumi.Output[bool]
    """Whether logs and events leave the cluster."""

    def __init__(self, name: str, args: ClusterPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("stackhub-ha:index:ClusterPlatform", name, None, opts)
        self._name = name
        self._args = args
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        # Behind a proxy, nothing is pulled or installed before every node has the proxy and the CA.
        self._nodes_ready: list[pulumi.Resource] = []
        if args.egress is not None:
            self._nodes_ready.append(self._create_node_egress())

        ingress_ns = self._namespace("ingress", INGRESS_NAMESPACE, "restricted")
        self._create_ingress_controller(ingress_ns)
        cert_manager_ns = self._namespace("cert-manager", CERT_MANAGER_NAMESPACE, "restricted")
        cert_manager = self._create_cert_manager(cert_manager_ns)
        issuers = self._create_issuers(cert_manager_ns, cert_manager)
        # hostPID and the host's reboot sentinel: kured cannot run under baseline or restricted.
        kured_ns = self._namespace("kured", KURED_NAMESPACE, "privileged")
        self._release(
            "kured",
            KURED_RELEASE,
            args.charts.kured,
            kured_ns,
            kured_values(args.reboot_window, args.image_registry),
        )
        storage_class = self._create_storage_class()
        if args.log_shipping is not None:
            self._create_log_shipping(args.log_shipping)

        default_issuer = PRODUCTION_ISSUER if args.acme is not None else PRIVATE_CA_ISSUER
        self.ingress_class_name = pulumi.Output.from_input(INGRESS_CLASS)
        self.ingress_namespace = ingress_ns.metadata.apply(lambda m: str(m.name))
        self.ingress_ip_address = pulumi.Output.from_input(args.ingress_address.ip_address)
        self.storage_class_name = storage_class.metadata.apply(lambda m: str(m.name))
        self.default_issuer = pulumi.Output.from_input(default_issuer)
        self.issuers = pulumi.Output.from_input(issuers)
        self.log_shipping_enabled = pulumi.Output.from_input(args.log_shipping is not None)
        self.register_outputs({
            "ingress_class_name": self.ingress_class_name,
            "ingress_namespace": self.ingress_namespace,
            "ingress_ip_address": self.ingress_ip_address,
            "storage_class_name": self.storage_class_name,
            "default_issuer": self.default_issuer,
            "issuers": self.issuers,
            "log_shipping_enabled": self.log_shipping_enabled,
        })  # fmt: skip

    def _namespace(self, role: str, namespace: str, pod_security: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{self._name}-{role}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={
                    "pod-security.kubernetes.io/enforce": pod_security,
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/warn": pod_security,
                    "pod-security.kubernetes.io/audit": pod_security,
                },
            ),
            opts=self._opts,
        )

    def _release(
        self,
        role: str,
        release: str,
        source: ChartSource,
        namespace: k8s.core.v1.Namespace,
        values: pulumi.Input[Mapping[str, Any]],
        *,
        wait_for_jobs: bool = False,
        depends_on: list[pulumi.Resource] | None = None,
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            f"{self._name}-{role}",
            name=release,
            chart=source.chart,
            version=source.release_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=source.repository) if source.repository else None,
            namespace=namespace.metadata.apply(lambda m: str(m.name)),
            create_namespace=False,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            timeout=HELM_TIMEOUT_SECONDS,
            wait_for_jobs=wait_for_jobs,
            opts=pulumi.ResourceOptions.merge(
                self._opts, pulumi.ResourceOptions(depends_on=[*(depends_on or []), *self._nodes_ready])
            ),
        )

    def _create_ingress_controller(self, namespace: k8s.core.v1.Namespace) -> k8s.helm.v3.Release:
        args = self._args
        # The address as an Output inside the values: until the hub has allocated it, only it is unknown.
        values = nginx_ingress_values(
            ingress_ip=args.ingress_address.ip_address,
            ip_resource_group=args.ingress_address.resource_group,
            replicas=ingress_replicas(args.worker_count),
            image_registry=args.image_registry,
        )
        return self._release("ingress", INGRESS_RELEASE, args.charts.nginx_ingress, namespace, values)

    def _create_cert_manager(self, namespace: k8s.core.v1.Namespace) -> k8s.helm.v3.Release:
        args = self._args
        values = cert_manager_values(namespace=CERT_MANAGER_NAMESPACE, image_registry=args.image_registry)
        depends_on: list[pulumi.Resource] = []
        # Only ACME (Let's Encrypt, Azure DNS, Entra ID) takes the controller outside; the private CA does not.
        if args.egress is not None and args.acme is not None:
            proxy = args.egress
            values = with_cert_manager_egress(values, proxy, args.no_proxy)
            depends_on += self._ca_config_map("cert-manager", CERT_MANAGER_NAMESPACE, namespace, proxy)
            depends_on += self._proxy_secret("cert-manager", CERT_MANAGER_NAMESPACE, namespace, proxy)
            # The HTTP-01 self-check asks this hub's own name, which the no-proxy list sends to the ingress pods.
            http01 = pods_egress_rule(INGRESS_NAMESPACE, INGRESS_CONTROLLER_POD_LABELS, [HTTP01_SELF_CHECK_PORT])
            policy = caller_egress_policy(
                "cert-manager-egress", CERT_MANAGER_NAMESPACE, CERT_MANAGER_CONTROLLER_LABELS, proxy,
                str(args.masters_cidr), extra=[http01],
            )  # fmt: skip
            self._object("cert-manager-egress-netpol", policy, [namespace])
        return self._release(
            "cert-manager",
            CERT_MANAGER_RELEASE,
            args.charts.cert_manager,
            namespace,
            values,
            # Its startupapicheck job waits until the webhook answers, so issuers are accepted right after.
            wait_for_jobs=True,
            depends_on=depends_on,
        )

    # --- the egress proxy ------------------------------------------------------------------------------------

    def _object(
        self, role: str, obj: Mapping[str, Any], depends_on: Sequence[pulumi.Resource], **options: Any
    ) -> pulumi.CustomResource:
        """Register one plain manifest (workloads.egress) as its typed resource."""
        opts = pulumi.ResourceOptions.merge(self._opts, pulumi.ResourceOptions(depends_on=list(depends_on), **options))
        build = _MANIFEST_RESOURCES.get(obj["kind"])
        if build is None:
            raise ValueError(f"no resource type for a {obj['kind']} manifest")
        return build(f"{self._name}-{role}", obj, opts)

    def _create_node_egress(self) -> pulumi.CustomResource:
        """The node configurator's objects; returns its DaemonSet, which is ready once every node is configured."""
        settings = self._args.node_proxy_settings()
        objects = node_manifests(settings)
        namespace, *rest = objects
        namespace_resource = self._object("node-egress-ns", namespace, [])
        # The DaemonSet last: its pods start once what they mount, the lock and their NetworkPolicy exist.
        daemon_sets = [obj for obj in rest if obj["kind"] == "DaemonSet"]
        if len(daemon_sets) != 1:
            raise ValueError("workloads.egress.node_manifests must render exactly one DaemonSet")
        prerequisites = [
            self._object(
                f"node-egress-{obj['kind'].lower()}",
                obj,
                [namespace_resource],
                # The nodes write the lock's holder into its spec; Pulumi owns only the object.
                ignore_changes=["spec"] if obj["kind"] == "Lease" else None,
            )
            for obj in rest
            if obj["kind"] != "DaemonSet"
        ]
        return self._object("node-egress-daemonset", daemon_sets[0], [namespace_resource, *prerequisites])

    def _ca_config_map(
        self, role: str, namespace_name: str, namespace: k8s.core.v1.Namespace, proxy: EgressProxy
    ) -> list[pulumi.Resource]:
        """The trusted CA as a ConfigMap in a namespace whose pods call out (none without `trustedCa`)."""
        obj = ca_config_map(namespace_name, proxy)
        return [] if obj is None else [self._object(f"{role}-egress-ca", obj, [namespace])]

    def _proxy_secret(
        self, role: str, namespace_name: str, namespace: k8s.core.v1.Namespace, proxy: EgressProxy
    ) -> list[pulumi.Resource]:
        """The proxy URLs as a Secret in a namespace whose pods call out, when they carry credentials (none else:
        plain URLs stay readable in the values, which previews show)."""
        obj = proxy_secret(namespace_name, proxy)
        return [] if obj is None else [self._object(f"{role}-egress-proxy", obj, [namespace])]

    def _cluster_issuer(
        self, role: str, name: str, spec: pulumi.Input[Mapping[str, Any]], depends_on: list[pulumi.Resource]
    ) -> str:
        k8s.apiextensions.CustomResource(
            f"{self._name}-{role}",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name),
            spec=spec,
            opts=pulumi.ResourceOptions.merge(self._opts, pulumi.ResourceOptions(depends_on=depends_on)),
        )
        return name

    def _create_issuers(self, namespace: k8s.core.v1.Namespace, cert_manager: k8s.helm.v3.Release) -> list[str]:
        args = self._args
        issuers: list[str] = []
        if args.acme is not None:
            acme = args.acme
            dns_secret = k8s.core.v1.Secret(
                f"{self._name}-azuredns-credentials",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=AZURE_DNS_CREDENTIALS, namespace=CERT_MANAGER_NAMESPACE),
                type="Opaque",
                string_data={AZURE_DNS_CREDENTIALS_KEY: pulumi.Output.secret(acme.dns_client_secret)},
                opts=pulumi.ResourceOptions.merge(self._opts, pulumi.ResourceOptions(depends_on=[namespace])),
            )
            for role, issuer, server in (
                ("letsencrypt-production", PRODUCTION_ISSUER, LETSENCRYPT_PRODUCTION_URL),
                ("letsencrypt-staging", STAGING_ISSUER, LETSENCRYPT_STAGING_URL),
            ):
                spec = pulumi.Output.from_input(acme.dns_zone).apply(
                    partial(_acme_spec, server=server, email=acme.email, account_key_secret=f"{issuer}-account-key")
                )
                issuers.append(self._cluster_issuer(role, issuer, spec, [cert_manager, dns_secret]))
        depends_on: list[pulumi.Resource] = [cert_manager]
        if args.bootstrap_private_ca:
            self._cluster_issuer("selfsigned-issuer", SELF_SIGNED_ISSUER, self_signed_issuer_spec(), [cert_manager])
            ca_certificate = k8s.apiextensions.CustomResource(
                f"{self._name}-private-ca-certificate",
                api_version="cert-manager.io/v1",
                kind="Certificate",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=PRIVATE_CA_ISSUER, namespace=CERT_MANAGER_NAMESPACE),
                spec=private_ca_certificate_spec(args.private_ca_common_name),
                opts=pulumi.ResourceOptions.merge(self._opts, pulumi.ResourceOptions(depends_on=[cert_manager])),
            )
            depends_on.append(ca_certificate)
            issuers.append(SELF_SIGNED_ISSUER)
        issuers.append(self._cluster_issuer("private-ca-issuer", PRIVATE_CA_ISSUER, ca_issuer_spec(), depends_on))
        return issuers

    def _create_storage_class(self) -> k8s.storage.v1.StorageClass:
        return k8s.storage.v1.StorageClass(
            f"{self._name}-database-storage",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DATABASE_STORAGE_CLASS),
            provisioner=DISK_CSI_PROVISIONER,
            parameters=storage_class_parameters(self._args.disk_sku),
            # Deleting a claim (or the namespace) must not delete the database's disk.
            reclaim_policy="Retain",
            # Provision the disk where the pod lands, after scheduling has applied anti-affinity.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            # A class's parameters cannot change in place; a replacement must be a deliberate act.
            opts=pulumi.ResourceOptions.merge(self._opts, pulumi.ResourceOptions(protect=True)),
        )

    def _create_log_shipping(self, shipping: LogShipping) -> None:
        args = self._args
        namespace = self._namespace("logging", LOGGING_NAMESPACE, "privileged")
        credentials = {
            CREDENTIAL_KEYS["LOGS_TENANT_ID"]: shipping.tenant_id,
            CREDENTIAL_KEYS["LOGS_CLIENT_ID"]: shipping.client_id,
            CREDENTIAL_KEYS["LOGS_CLIENT_SECRET"]: pulumi.Output.secret(shipping.client_secret),
        }
        secret = k8s.core.v1.Secret(
            f"{self._name}-logs-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=LOGS_CREDENTIALS, namespace=LOGGING_NAMESPACE),
            type="Opaque",
            string_data=credentials,
            opts=pulumi.ResourceOptions.merge(self._opts, pulumi.ResourceOptions(depends_on=[namespace])),
        )
        target = pulumi.Output.from_input(shipping.target)
        depends_on: list[pulumi.Resource] = [secret]
        if args.egress is not None:
            depends_on += self._ca_config_map("logging", LOGGING_NAMESPACE, namespace, args.egress)
            depends_on += self._proxy_secret("logging", LOGGING_NAMESPACE, namespace, args.egress)
            policy = caller_egress_policy(
                "fluent-bit-egress", LOGGING_NAMESPACE, FLUENT_BIT_POD_LABELS, args.egress, str(args.masters_cidr)
            )
            self._object("fluent-bit-egress-netpol", policy, [namespace])
        for role, release, build in (
            ("fluent-bit", FLUENT_BIT_RELEASE, container_log_values),
            ("fluent-bit-events", FLUENT_BIT_EVENTS_RELEASE, event_values),
        ):
            values = target.apply(
                partial(
                    _fluent_bit_values, build=build, hub_name=args.hub_name, image_registry=args.image_registry,
                    egress=args.egress, no_proxy=tuple(args.no_proxy),
                )
            )  # fmt: skip
            self._release(role, release, args.charts.fluent_bit, namespace, values, depends_on=depends_on)


def _secret(name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    # The node configurator's files and the callers' proxy Secrets hold the proxy URLs, which may carry
    # credentials: always a secret.
    string_data = pulumi.Output.secret(obj["stringData"])
    return k8s.core.v1.Secret(name, metadata=obj["metadata"], type=obj["type"], string_data=string_data, opts=opts)


_MANIFEST_RESOURCES: dict[str, Callable[[str, Mapping[str, Any], pulumi.ResourceOptions], pulumi.CustomResource]] = {
    "Namespace": lambda name, o, opts: k8s.core.v1.Namespace(name, metadata=o["metadata"], opts=opts),
    "ServiceAccount": lambda name, o, opts: k8s.core.v1.ServiceAccount(
        name, metadata=o["metadata"], automount_service_account_token=o["automountServiceAccountToken"], opts=opts
    ),
    "Lease": lambda name, o, opts: k8s.coordination.v1.Lease(name, metadata=o["metadata"], spec=o["spec"], opts=opts),
    "Role": lambda name, o, opts: k8s.rbac.v1.Role(name, metadata=o["metadata"], rules=o["rules"], opts=opts),
    "RoleBinding": lambda name, o, opts: k8s.rbac.v1.RoleBinding(
        name, metadata=o["metadata"], role_ref=o["roleRef"], subjects=o["subjects"], opts=opts
    ),
    "ConfigMap": lambda name, o, opts: k8s.core.v1.ConfigMap(name, metadata=o["metadata"], data=o["data"], opts=opts),
    "Secret": _secret,
    "DaemonSet": lambda name, o, opts: k8s.apps.v1.DaemonSet(name, metadata=o["metadata"], spec=o["spec"], opts=opts),
    "NetworkPolicy": lambda name, o, opts: k8s.networking.v1.NetworkPolicy(
        name, metadata=o["metadata"], spec=o["spec"], opts=opts
    ),
}
"""The typed resource of each kind of plain manifest the component registers (workloads.egress renders dicts)."""


def _fluent_bit_values(
    target: IngestionTarget,
    *,
    build: Callable[..., dict[str, Any]],
    hub_name: str,
    image_registry: str | None,
    egress: EgressProxy | None,
    no_proxy: Sequence[str],
) -> dict[str, Any]:
    """One Fluent Bit release's values, with the proxy and the CA behind a proxy (in an apply: the target is known
    only once the shared stack's outputs are)."""
    values = build(target, hub_name=hub_name, secret_name=LOGS_CREDENTIALS, image_registry=image_registry)
    return values if egress is None else with_fluent_bit_egress(values, egress, no_proxy)


def _acme_spec(zone: AzureDnsZone, *, server: str, email: str, account_key_secret: str) -> dict[str, Any]:
    return acme_issuer_spec(
        server=server, email=email, account_key_secret=account_key_secret, zone=zone, ingress_class=INGRESS_CLASS
    )
