"""RatingsApp: the ratings application in namespace `ratingsapp` on one hub's cluster.

- MongoDB as a replica set of the official `mongo` image (`workloads.mongo`): a StatefulSet with keyfile
  authentication, one member per node, volumes on the database StorageClass, a PodDisruptionBudget keeping the
  voting majority. Passwords and the keyfile come from pulumi-random and live only in Kubernetes Secrets (and, as
  secrets, in Pulumi state).
- ratings-api and ratings-web from the shared registry (pinned tags, an image pull secret), each with a Service, an
  autoscaling/v2 HPA whose maximum fits the workers (`workloads.ratings`), a PDB and a topology spread over nodes.
- Ingress for the shared hostname (served by every hub behind Traffic Manager) and for the hub's own hostname,
  with certificates from cert-manager.
- The `restricted` Pod Security Standard enforced on the namespace, and NetworkPolicies that deny everything but
  ingress controller -> web -> api -> mongo (and mongo <-> mongo, DNS, the ACME HTTP-01 solver).
- Every pod runs as a UID at or above 10000; credentials reach containers only as files of mounted Secrets, never
  as environment variables; the checks checkov makes that an object deliberately does not meet are skipped on the
  object itself, with the reason (`workloads.scan_exceptions`: images pinned by tag).

What holds data is protected: the namespace (deleting it deletes the claims), the StatefulSet (its claim
templates cannot change in place, so a change would replace it) and the random passwords and keyfile (a new value
would not reach a database that already has users). Changing them is a deliberate act: unprotect first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.change_guard import ChangeGuard
from planning.names import hostname_problem, image_reference_problem, image_tag_problem
from workloads.backup.jobs import database_ingress_peers
from workloads.charts import INGRESS_CLASS, INGRESS_CONTROLLER_POD_LABELS, INGRESS_NAMESPACE
from workloads.mongo import (
    APP_DATABASE,
    BACKUP_USER_DIR,
    BACKUP_USER_SECRET,
    CREDENTIAL_FILES,
    CREDENTIALS_DIR,
    JOIN_SCRIPT,
    JOINED_MARKER,
    MEMBER_SCRIPT,
    MONGODB_UID,
    PORT,
    REPLICA_SET,
    VOLUME_SIZE_SETTING,
    connection_uri,
    member_hosts,
    member_liveness_command,
    mongod_args,
    pdb_min_available,
    volume_change_refusals,
)
from workloads.platform_values import spread_over_nodes
from workloads.ratings import (
    API,
    API_CPU_TARGET,
    API_DOTENV_KEY,
    API_DOTENV_PATH,
    API_PORT,
    API_RESOURCES,
    API_URL,
    APP_UID,
    INIT_RESOURCES,
    MEMBER_RESOURCES,
    MIN_REPLICAS,
    MONGOD_CACHE_GIB,
    MONGOD_RESOURCES,
    MONGODB,
    NAMESPACE,
    SERVICE_PORT,
    WEB,
    WEB_CPU_TARGET,
    WEB_PORT,
    WEB_RESOURCES,
    app_sizing,
    dotenv_file,
)
from workloads.registry import docker_config_json
from workloads.scan_exceptions import PULL_POLICY, image_exceptions, skip_annotations
from workloads.sizing import ContainerResources

APP_USER = "ratings"
ROOT_USER = "root"
PULL_SECRET = "registry-pull"  # noqa: S105 (a Secret's name)
MONGODB_CREDENTIALS = "ratings-mongodb-credentials"
MONGODB_KEYFILE = "ratings-mongodb-keyfile"
API_DATABASE_URI = "ratings-api-mongodb"
KEYFILE_DIR = "/var/run/mongodb-keyfile"
POD_TMP = "/tmp"  # noqa: S108 (inside the container: an emptyDir, the only writable path besides the data volume)
ACME_SOLVER_PORT = 8089
"""cert-manager's HTTP-01 solver pods listen here, labelled `acme.cert-manager.io/http01-solver: "true"`."""


@dataclass(frozen=True)
class RegistryCredentials:
    """The shared registry and a pull-only credential for it (from the shared stack)."""

    login_server: pulumi.Input[str]
    """Registry host, e.g. `stackhubha.azurecr.io` (not a secret; images name it)."""
    username: pulumi.Input[str]
    """Pull credential's user name."""
    password: pulumi.Input[str]
    """Pull credential's password (kept only in the pull Secret)."""


@dataclass(frozen=True)
class AppImages:
    """Image tags; never `latest`, so that what runs is what was reviewed.

    Each may also carry a digest (`v1@sha256:<64 hex>`, `mongo:8.0.17@sha256:<64 hex>`), which pins the content:
    an object whose images all have one needs no checkov exception for them (`workloads.scan_exceptions`).
    """

    api_tag: str = "v1"
    """Tag of `<registry>/ratings-api`, optionally with `@sha256:<digest>`."""
    web_tag: str = "v1"
    """Tag of `<registry>/ratings-web`, optionally with `@sha256:<digest>`."""
    mongodb: str = "mongo:8.0.17"
    """Full reference of the official MongoDB image (a mirror's on a disconnected hub), optionally with a digest."""

    def __post_init__(self) -> None:
        # The stack config checks the same rules (planning/names.py) before anything is registered.
        for name, tag in (("api_tag", self.api_tag), ("web_tag", self.web_tag)):
            if problem := image_tag_problem(tag):
                raise ValueError(f"{name} {tag!r}: {problem}")
        if problem := image_reference_problem(self.mongodb):
            raise ValueError(f"mongodb image {self.mongodb!r}: {problem}")


@dataclass(frozen=True)
class IngressControllerPeer:
    """Where the ingress controller's pods run (NetworkPolicies admit only them into the web front end)."""

    namespace: str = INGRESS_NAMESPACE
    """Their namespace."""
    pod_labels: dict[str, str] = field(default_factory=lambda: dict(INGRESS_CONTROLLER_POD_LABELS))
    """Labels selecting them."""
    ingress_class: str = INGRESS_CLASS
    """The IngressClass they serve."""


@dataclass(frozen=True)
class RatingsAppArgs:
    """Inputs of a RatingsApp."""

    provider: k8s.Provider
    """The cluster's Kubernetes provider (built from AKS Engine's kubeconfig)."""
    registry: RegistryCredentials
    """The shared registry and its pull credential."""
    shared_hostname: str
    """The hostname every hub serves behind Traffic Manager (DNS-01 certificate)."""
    hub_hostname: str
    """This hub's own hostname (resolves to this hub only)."""
    tls_issuer: pulumi.Input[str]
    """The cert-manager ClusterIssuer for both hostnames (ClusterPlatform.default_issuer)."""
    storage_class: pulumi.Input[str]
    """StorageClass for the database volumes (ClusterPlatform.storage_class_name)."""
    worker_count: int
    """Workers in the cluster."""
    worker_vm_size: str
    """The workers' VM size (sizes the HPA maxima)."""
    images: AppImages = field(default_factory=AppImages)
    """Image tags."""
    ingress_controller: IngressControllerPeer = field(default_factory=IngressControllerPeer)
    """The ingress controller's namespace, pod labels and class."""
    log_shipping: bool = True
    """Whether the cluster runs the event shipper (its pod counts against the workers)."""
    mongodb_members: int | None = None
    """Replica-set members; None for three (one on clusters with fewer than three workers)."""
    database_volume_size: str = "16Gi"
    """Size of each member's volume."""
    backup_user: bool = False
    """Whether the members create the backup user from DatabaseBackup's Secret (true where backups are on)."""
    egress_proxy: bool = False
    """Whether the nodes run the egress proxy configurator (ClusterPlatform), which the sizing counts per node."""

    def __post_init__(self) -> None:
        for name in ("shared_hostname", "hub_hostname"):
            if problem := hostname_problem(getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r}: {problem}")
        if self.shared_hostname == self.hub_hostname:
            raise ValueError("shared_hostname and hub_hostname must differ")


def _labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": NAMESPACE,
    }


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _resources(resources: ContainerResources) -> k8s.core.v1.ResourceRequirementsArgs:
    block = resources.as_dict()
    return k8s.core.v1.ResourceRequirementsArgs(requests=block["requests"], limits=block["limits"])


def _restricted() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def _skip_annotations(images: list[str]) -> dict[str, str]:
    # Images as configured: the registry host (an Output) does not decide whether a digest pins them.
    return skip_annotations(image_exceptions(images))


def _pod_security(uid: int) -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def _secret_volume(name: str, secret: str) -> k8s.core.v1.VolumeArgs:
    # Readable by the pod's group (fsGroup) only; the files hold credentials.
    return k8s.core.v1.VolumeArgs(
        name=name, secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=secret, default_mode=0o440)
    )


def _field_env(name: str, path: str) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=path)),
    )


def _port(number: int, protocol: str = "TCP") -> k8s.networking.v1.NetworkPolicyPortArgs:
    return k8s.networking.v1.NetworkPolicyPortArgs(port=number, protocol=protocol)


def _pods(labels: dict[str, str], namespace: str | None = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    namespace_selector = (
        k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace}) if namespace else None
    )
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels), namespace_selector=namespace_selector
    )


def _backup_peers() -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return [_pods(peer["podSelector"]["matchLabels"]) for peer in database_ingress_peers()]


def _keyfile_installer(image: str, keyfile_path: str) -> k8s.core.v1.ContainerArgs:
    """The init container that puts the keyfile where mongod accepts it."""
    # mongod refuses a keyfile readable by group or others; a Secret volume is mounted 0440 and owned by root, so
    # the key is copied into a memory-backed emptyDir owned by the mongodb user and made 0400.
    return k8s.core.v1.ContainerArgs(
        name="install-keyfile",
        image=image,
        image_pull_policy=PULL_POLICY,
        command=["sh", "-c", f"cp /keyfile-secret/keyfile {keyfile_path} && chmod 0400 {keyfile_path}"],
        resources=_resources(INIT_RESOURCES),
        security_context=_restricted(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="keyfile-secret", mount_path="/keyfile-secret", read_only=True),
            k8s.core.v1.VolumeMountArgs(name="keyfile", mount_path=KEYFILE_DIR),
        ],
    )


def _mongod_container(image: str, keyfile_path: str) -> k8s.core.v1.ContainerArgs:
    """mongod with keyfile authentication: ready while it answers a ping, restarted when its port stops answering."""
    mongosh_ping = ["mongosh", "--quiet", "--norc", "--eval", "db.adminCommand({ ping: 1 }).ok"]
    return k8s.core.v1.ContainerArgs(
        name="mongod",
        image=image,
        image_pull_policy=PULL_POLICY,
        # mongod itself, not the image's entrypoint (see workloads/mongo.py).
        command=["mongod"],
        args=mongod_args(keyfile_path, MONGOD_CACHE_GIB),
        ports=[k8s.core.v1.ContainerPortArgs(name="mongodb", container_port=PORT, protocol="TCP")],
        env=[k8s.core.v1.EnvVarArgs(name="HOME", value=POD_TMP)],
        resources=_resources(MONGOD_RESOURCES),
        security_context=_restricted(),
        startup_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="mongodb"),
            period_seconds=5,
            failure_threshold=60,
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=mongosh_ping),
            period_seconds=10,
            timeout_seconds=10,
            failure_threshold=3,
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="mongodb"),
            period_seconds=20,
            failure_threshold=6,
        ),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data/db"),
            # mongod's Unix socket and mongosh's home.
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path=POD_TMP),
            k8s.core.v1.VolumeMountArgs(name="keyfile", mount_path=KEYFILE_DIR, read_only=True),
        ],
    )


def _member_container(image: str, members: int, *, backup_user: bool) -> k8s.core.v1.ContainerArgs:
    """The container that joins its pod's mongod to the set (workloads/mongo.py) and creates the users."""
    env = [
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        k8s.core.v1.EnvVarArgs(name="MEMBER_SERVICE", value=MONGODB),
        k8s.core.v1.EnvVarArgs(name="STATEFULSET", value=MONGODB),
        k8s.core.v1.EnvVarArgs(name="MEMBERS", value=str(members)),
        k8s.core.v1.EnvVarArgs(name="REPLICA_SET", value=REPLICA_SET),
        k8s.core.v1.EnvVarArgs(name="MONGODB_PORT", value=str(PORT)),
        k8s.core.v1.EnvVarArgs(name="APP_DATABASE", value=APP_DATABASE),
        k8s.core.v1.EnvVarArgs(name="HOME", value=POD_TMP),
        # Directories of Secret files, not the secrets: join.js reads the files.
        k8s.core.v1.EnvVarArgs(name="CREDENTIALS_DIR", value=CREDENTIALS_DIR),
    ]
    mounts = [
        k8s.core.v1.VolumeMountArgs(name="scripts", mount_path="/scripts", read_only=True),
        k8s.core.v1.VolumeMountArgs(name="member-tmp", mount_path=POD_TMP),
        k8s.core.v1.VolumeMountArgs(name="credentials", mount_path=CREDENTIALS_DIR, read_only=True),
    ]
    if backup_user:
        # Changes the pod template, so the members restart one by one and create the user (join.js).
        env.append(k8s.core.v1.EnvVarArgs(name="BACKUP_USER_DIR", value=BACKUP_USER_DIR))
        mounts.append(k8s.core.v1.VolumeMountArgs(name="backup-user", mount_path=BACKUP_USER_DIR, read_only=True))
    return k8s.core.v1.ContainerArgs(
        name="member",
        image=image,
        image_pull_policy=PULL_POLICY,
        command=["sh", "/scripts/member.sh"],
        env=env,
        resources=_resources(MEMBER_RESOURCES),
        security_context=_restricted(),
        # The pod is ready only once its mongod is a member of the set.
        readiness_probe=k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=["test", "-f", JOINED_MARKER]),
            period_seconds=5,
        ),
        # Once joined, a mongod that lost its replica-set configuration (removed from the set) gets this container
        # restarted, which joins it again (workloads/mongo.py). mongosh starts slowly under this container's CPU
        # limit: a long period and timeout.
        liveness_probe=k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=member_liveness_command()),
            period_seconds=30,
            timeout_seconds=15,
            failure_threshold=3,
        ),
        volume_mounts=mounts,
    )


def _database_volumes(scripts: k8s.core.v1.ConfigMap, *, backup_user: bool) -> list[k8s.core.v1.VolumeArgs]:
    """A member pod's volumes: the keyfile (Secret and its 0400 copy), scratch space, scripts, credential files."""
    secret_volumes = [_secret_volume("credentials", MONGODB_CREDENTIALS)]
    if backup_user:
        secret_volumes.append(_secret_volume("backup-user", BACKUP_USER_SECRET))
    return [
        k8s.core.v1.VolumeArgs(
            name="keyfile-secret",
            secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=MONGODB_KEYFILE, default_mode=0o440),
        ),
        k8s.core.v1.VolumeArgs(
            name="keyfile", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="1Mi")
        ),
        k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")),
        k8s.core.v1.VolumeArgs(name="member-tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")),
        k8s.core.v1.VolumeArgs(
            name="scripts",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=scripts.metadata.apply(lambda m: str(m.name)), default_mode=0o444
            ),
        ),
        *secret_volumes,
    ]


class RatingsApp(pulumi.ComponentResource):
    """MongoDB replica set, ratings-api and ratings-web, with ingress, autoscaling and a restricted baseline."""

    namespace: pulumi.Output[str]
    """The application's namespace."""
    shared_hostname: pulumi.Output[str]
    """The hostname every hub serves."""
    hub_hostname: pulumi.Output[str]
    """This hub's own hostname."""
    health_url: pulumi.Output[str]
    """What Traffic Manager should probe on this hub (through the ingress to the web front end)."""
    mongodb_members: pulumi.Output[int]
    """Replica-set members."""
    api_max_replicas: pulumi.Output[int]
    """The API HPA's maximum."""
    web_max_replicas: pulumi.Output[int]
    """The web HPA's maximum."""

    def __init__(self, name: str, args: RatingsAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("stackhub-ha:index:RatingsApp", name, None, opts)
        self._name = name
        self._args = args
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        sizing = app_sizing(
            args.worker_vm_size,
            args.worker_count,
            mongodb_members=args.mongodb_members,
            log_shipping=args.log_shipping,
            egress_proxy=args.egress_proxy,
        )

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            ),
            # Deleting the namespace deletes the database's claims.
            opts=pulumi.ResourceOptions.merge(self._opts, pulumi.ResourceOptions(protect=True)),
        )
        self._in_namespace = pulumi.ResourceOptions.merge(self._opts, pulumi.ResourceOptions(depends_on=[namespace]))

        self._create_pull_secret()
        self._create_network_policies()
        self._create_database(sizing.mongodb_members)
        self._create_api(sizing.api_max_replicas)
        self._create_web(sizing.web_max_replicas)
        self._create_ingresses()

        self.namespace = namespace.metadata.apply(lambda m: str(m.name))
        self.shared_hostname = pulumi.Output.from_input(args.shared_hostname)
        self.hub_hostname = pulumi.Output.from_input(args.hub_hostname)
        self.health_url = pulumi.Output.from_input(f"https://{args.hub_hostname}/")
        self.mongodb_members = pulumi.Output.from_input(sizing.mongodb_members)
        self.api_max_replicas = pulumi.Output.from_input(sizing.api_max_replicas)
        self.web_max_replicas = pulumi.Output.from_input(sizing.web_max_replicas)
        self.register_outputs({
            "namespace": self.namespace,
            "shared_hostname": self.shared_hostname,
            "hub_hostname": self.hub_hostname,
            "health_url": self.health_url,
            "mongodb_members": self.mongodb_members,
            "api_max_replicas": self.api_max_replicas,
            "web_max_replicas": self.web_max_replicas,
        })  # fmt: skip

    # --- helpers ------------------------------------------------------------------------------------------

    def _meta(
        self, name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=NAMESPACE, labels=labels, annotations=annotations or None
        )

    def _service_account(self, name: str) -> None:
        # No workload here calls the Kubernetes API: no token is mounted anywhere.
        k8s.core.v1.ServiceAccount(
            f"{self._name}-{name}-sa",
            metadata=self._meta(name),
            automount_service_account_token=False,
            opts=self._in_namespace,
        )

    def _secret(self, role: str, name: str, string_data: dict[str, pulumi.Input[str]], type_: str = "Opaque") -> None:
        k8s.core.v1.Secret(
            f"{self._name}-{role}",
            metadata=self._meta(name),
            type=type_,
            string_data={key: pulumi.Output.secret(value) for key, value in string_data.items()},
            opts=self._in_namespace,
        )

    def _image(self, repository: str, tag: str) -> pulumi.Output[str]:
        # The registry's host name is not a secret; keeping it plain keeps the rendered manifests readable.
        server = pulumi.Output.unsecret(pulumi.Output.from_input(self._args.registry.login_server))
        return pulumi.Output.concat(server, f"/{repository}:{tag}")

    def _pdb(self, name: str, min_available: int) -> None:
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-{name}-pdb",
            metadata=self._meta(name),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                min_available=min_available,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_selector(name)),
                # A pod that never became ready may be evicted, or it would block every drain of its node.
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=self._in_namespace,
        )

    def _service(self, name: str, port: int, target: str, *, headless: bool = False) -> None:
        k8s.core.v1.Service(
            f"{self._name}-{name}-svc",
            metadata=self._meta(name, _labels(name, "service")),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                cluster_ip="None" if headless else None,
                # Members must find each other by name before they are ready (they become ready by joining).
                publish_not_ready_addresses=True if headless else None,
                selector=_selector(name),
                ports=[k8s.core.v1.ServicePortArgs(name=target, port=port, target_port=target, protocol="TCP")],
            ),
            opts=self._in_namespace,
        )

    def _hpa(self, name: str, max_replicas: int, cpu_target: int) -> None:
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{self._name}-{name}-hpa",
            metadata=self._meta(name),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=name
                ),
                min_replicas=MIN_REPLICAS,
                max_replicas=max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=cpu_target
                            ),
                        ),
                    )
                ],
            ),
            opts=self._in_namespace,
        )

    def _spread(self, name: str) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
        constraint = spread_over_nodes(_selector(name))
        return [
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=constraint["maxSkew"],
                topology_key=constraint["topologyKey"],
                when_unsatisfiable=constraint["whenUnsatisfiable"],
                node_taints_policy=constraint["nodeTaintsPolicy"],
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_selector(name)),
                # Spread each rollout's new pods too, not only the sum of old and new.
                match_label_keys=["pod-template-hash"],
            )
        ]

    # --- pieces -------------------------------------------------------------------------------------------

    def _create_pull_secret(self) -> None:
        registry = self._args.registry

        config = pulumi.Output.all(registry.login_server, registry.username, registry.password).apply(
            lambda parts: docker_config_json(*parts)
        )
        self._secret("registry-pull", PULL_SECRET, {".dockerconfigjson": config}, "kubernetes.io/dockerconfigjson")

    def _create_network_policies(self) -> None:
        peer = self._args.ingress_controller
        policies: dict[str, k8s.networking.v1.NetworkPolicySpecArgs] = {
            "default-deny": k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            "allow-dns": k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[_pods({"k8s-app": "kube-dns"}, "kube-system")],
                        ports=[_port(53, "UDP"), _port(53, "TCP")],
                    )
                ],
            ),
            WEB: self._one_hop_policy(WEB, [_pods(peer.pod_labels, peer.namespace)], WEB_PORT, API, API_PORT),
            API: self._one_hop_policy(API, [_pods(_selector(WEB))], API_PORT, MONGODB, PORT),
            # The backup and restore pods (DatabaseBackup) too; no pod carries their labels where backups are off.
            MONGODB: self._one_hop_policy(
                MONGODB, [_pods(_selector(API)), _pods(_selector(MONGODB)), *_backup_peers()], PORT, MONGODB, PORT
            ),
            # cert-manager answers HTTP-01 challenges from short-lived solver pods in this namespace.
            "acme-http01-solver": k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"acme.cert-manager.io/http01-solver": "true"}),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[_pods(peer.pod_labels, peer.namespace)], ports=[_port(ACME_SOLVER_PORT)]
                    )
                ],
            ),
        }
        for policy_name, spec in policies.items():
            k8s.networking.v1.NetworkPolicy(
                f"{self._name}-{policy_name}-netpol",
                metadata=self._meta(policy_name),
                spec=spec,
                opts=self._in_namespace,
            )

    @staticmethod
    def _one_hop_policy(
        name: str,
        sources: list[k8s.networking.v1.NetworkPolicyPeerArgs],
        port: int,
        next_hop: str,
        next_port: int,
    ) -> k8s.networking.v1.NetworkPolicySpecArgs:
        return k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_selector(name)),
            policy_types=["Ingress", "Egress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=sources, ports=[_port(port)])],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[_pods(_selector(next_hop))], ports=[_port(next_port)])
            ],
        )

    def _create_database(self, members: int) -> None:
        """The MongoDB replica set: credentials, scripts, identity, headless Service and PDB, then the StatefulSet."""
        self._create_database_credentials(members)
        scripts = k8s.core.v1.ConfigMap(
            f"{self._name}-mongodb-scripts",
            metadata=self._meta(f"{MONGODB}-scripts"),
            data={"member.sh": MEMBER_SCRIPT, "join.js": JOIN_SCRIPT},
            opts=self._in_namespace,
        )
        self._service_account(MONGODB)
        self._service(MONGODB, PORT, "mongodb", headless=True)
        self._pdb(MONGODB, pdb_min_available(members))
        self._create_database_statefulset(members, self._database_pod_spec(members, scripts))

    def _create_database_credentials(self, members: int) -> None:
        """Random root and application passwords and the replica set's keyfile, each only in a Secret.

        Protected: a new value would not reach a database that already has its users and keyfile.
        """
        protected = pulumi.ResourceOptions(parent=self, protect=True)
        root_password, app_password = (
            random.RandomPassword(f"{self._name}-mongodb-{who}-password", length=32, special=False, opts=protected)
            for who in ("root", "app")
        )
        # A keyfile holds 6-1024 base64 characters; alphanumerics are a subset.
        keyfile = random.RandomPassword(f"{self._name}-mongodb-keyfile", length=756, special=False, opts=protected)
        credentials: list[pulumi.Input[str]] = [ROOT_USER, root_password.result, APP_USER, app_password.result]
        self._secret("mongodb-credentials", MONGODB_CREDENTIALS, dict(zip(CREDENTIAL_FILES, credentials, strict=True)))
        self._secret("mongodb-keyfile", MONGODB_KEYFILE, {"keyfile": keyfile.result})
        hosts = member_hosts(members, MONGODB, MONGODB, NAMESPACE)
        dotenv = app_password.result.apply(
            lambda password: dotenv_file({"MONGODB_URI": connection_uri(APP_USER, password, hosts)})
        )
        self._secret("api-database-uri", API_DATABASE_URI, {API_DOTENV_KEY: dotenv})

    def _database_pod_spec(self, members: int, scripts: k8s.core.v1.ConfigMap) -> k8s.core.v1.PodSpecArgs:
        """A member's pod: the keyfile installer, mongod, and the container that joins it to the set."""
        image = self._args.images.mongodb
        keyfile_path = f"{KEYFILE_DIR}/keyfile"
        return k8s.core.v1.PodSpecArgs(
            service_account_name=MONGODB,
            automount_service_account_token=False,
            image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=PULL_SECRET)],
            # The image declares no USER: without these the pod would run as root or fail runAsNonRoot.
            security_context=_pod_security(MONGODB_UID),
            termination_grace_period_seconds=60,
            affinity=k8s.core.v1.AffinityArgs(
                pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
                    required_during_scheduling_ignored_during_execution=[
                        k8s.core.v1.PodAffinityTermArgs(
                            topology_key="kubernetes.io/hostname",
                            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_selector(MONGODB)),
                        )
                    ]
                )
            ),
            init_containers=[_keyfile_installer(image, keyfile_path)],
            containers=[
                _mongod_container(image, keyfile_path),
                _member_container(image, members, backup_user=self._args.backup_user),
            ],
            volumes=_database_volumes(scripts, backup_user=self._args.backup_user),
        )

    def _create_database_statefulset(self, members: int, pod_spec: k8s.core.v1.PodSpecArgs) -> None:
        """The StatefulSet with its volume claims, behind the guard that refuses a volume size change."""
        args = self._args
        # The volume size cannot change once the set exists: refused in the preview, with the way out.
        guard = ChangeGuard(
            f"{self._name}-database-guard",
            settings={VOLUME_SIZE_SETTING: args.database_volume_size},
            rule=volume_change_refusals,
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s.apps.v1.StatefulSet(
            f"{self._name}-mongodb",
            metadata=self._meta(MONGODB, _labels(MONGODB, "database"), _skip_annotations([args.images.mongodb])),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=MONGODB,
                replicas=members,
                # Members start one at a time, each ready only once joined: two never reconfigure the set at once.
                pod_management_policy="OrderedReady",
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_selector(MONGODB)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=_labels(MONGODB, "database")), spec=pod_spec
                ),
                update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
                persistent_volume_claim_retention_policy=(
                    k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                        when_deleted="Retain", when_scaled="Retain"
                    )
                ),
                volume_claim_templates=[
                    k8s.core.v1.PersistentVolumeClaimArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(name="data", labels=_labels(MONGODB, "database")),
                        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=args.storage_class,
                            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                                requests={"storage": args.database_volume_size}
                            ),
                        ),
                    )
                ],
            ),
            # Claim templates cannot change in place: a change would replace the StatefulSet. The guard refuses it
            # first; protected, the set could not be replaced anyway, and the claims (retained) keep the data.
            opts=pulumi.ResourceOptions.merge(
                self._in_namespace, pulumi.ResourceOptions(protect=True, depends_on=[guard])
            ),
        )

    def _deployment(
        self,
        name: str,
        component: str,
        container: k8s.core.v1.ContainerArgs,
        volumes: list[k8s.core.v1.VolumeArgs],
        configured_image: str,
    ) -> None:
        self._service_account(name)
        k8s.apps.v1.Deployment(
            f"{self._name}-{name}",
            metadata=self._meta(name, _labels(name, component), _skip_annotations([configured_image])),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # No `replicas`: the HPA owns the count, and a value here would reset it on every update.
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_selector(name)),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=_labels(name, component)),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=name,
                        automount_service_account_token=False,
                        image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=PULL_SECRET)],
                        security_context=_pod_security(APP_UID),
                        topology_spread_constraints=self._spread(name),
                        containers=[container],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=self._in_namespace,
        )

    def _create_api(self, max_replicas: int) -> None:
        health = k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="http")
        tag = self._args.images.api_tag
        container = k8s.core.v1.ContainerArgs(
            name=API,
            image=self._image(API, tag),
            image_pull_policy=PULL_POLICY,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=API_PORT, protocol="TCP")],
            # MONGODB_URI comes from the `.env` file mounted below (workloads/ratings.py), not from the environment.
            env=[k8s.core.v1.EnvVarArgs(name="HOME", value=POD_TMP)],
            resources=_resources(API_RESOURCES),
            security_context=_restricted(),
            startup_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=10, failure_threshold=30),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=10, timeout_seconds=5),
            # /healthz fails while MongoDB is unreachable: a generous threshold rides out a primary election
            # instead of restarting every API pod during it.
            liveness_probe=k8s.core.v1.ProbeArgs(
                http_get=health, period_seconds=20, timeout_seconds=5, failure_threshold=6
            ),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path=POD_TMP),
                k8s.core.v1.VolumeMountArgs(
                    name="database-uri", mount_path=API_DOTENV_PATH, sub_path=API_DOTENV_KEY, read_only=True
                ),
            ],
        )
        tmp = k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"))
        database_uri = _secret_volume("database-uri", API_DATABASE_URI)
        self._deployment(API, "api", container, [tmp, database_uri], f"{API}:{tag}")
        self._service(API, SERVICE_PORT, "http")
        self._hpa(API, max_replicas, API_CPU_TARGET)
        self._pdb(API, 1)

    def _create_web(self, max_replicas: int) -> None:
        root = k8s.core.v1.HTTPGetActionArgs(path="/", port="http")
        tag = self._args.images.web_tag
        container = k8s.core.v1.ContainerArgs(
            name=WEB,
            image=self._image(WEB, tag),
            image_pull_policy=PULL_POLICY,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=WEB_PORT, protocol="TCP")],
            env=[
                k8s.core.v1.EnvVarArgs(name="API", value=API_URL),
                # The image starts through `npm start` (webpack-dev-server, which builds in memory). As a non-root
                # user npm can write only its home: point it at the emptyDir, and keep it from calling the npm
                # registry to look for updates.
                k8s.core.v1.EnvVarArgs(name="HOME", value=POD_TMP),
                k8s.core.v1.EnvVarArgs(name="NPM_CONFIG_UPDATE_NOTIFIER", value="false"),
            ],
            resources=_resources(WEB_RESOURCES),
            security_context=_restricted(),
            # The first response waits for webpack's build.
            startup_probe=k8s.core.v1.ProbeArgs(http_get=root, period_seconds=10, failure_threshold=30),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=root, period_seconds=10, timeout_seconds=5),
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=root, period_seconds=20, timeout_seconds=5),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path=POD_TMP)],
        )
        tmp = k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi"))
        self._deployment(WEB, "web", container, [tmp], f"{WEB}:{tag}")
        self._service(WEB, SERVICE_PORT, "http")
        self._hpa(WEB, max_replicas, WEB_CPU_TARGET)
        self._pdb(WEB, 1)

    def _create_ingresses(self) -> None:
        args = self._args
        for role, host, extra in (
            ("shared", args.shared_hostname, {}),
            # F5 NGINX ignores a second Ingress for a host it already serves (nginxinc/kubernetes-ingress issue
            # 76), so cert-manager's own HTTP-01 solver Ingress would never be served: it edits this one instead.
            ("hub", args.hub_hostname, {"acme.cert-manager.io/http01-edit-in-place": "true"}),
        ):
            name = f"{WEB}-{role}"
            annotations: dict[str, pulumi.Input[str]] = {"cert-manager.io/cluster-issuer": args.tls_issuer, **extra}
            k8s.networking.v1.Ingress(
                f"{self._name}-{role}-ingress",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=name, namespace=NAMESPACE, labels=_labels(WEB, "ingress"), annotations=annotations
                ),
                spec=k8s.networking.v1.IngressSpecArgs(
                    ingress_class_name=args.ingress_controller.ingress_class,
                    tls=[k8s.networking.v1.IngressTLSArgs(hosts=[host], secret_name=f"{name}-tls")],
                    rules=[
                        k8s.networking.v1.IngressRuleArgs(
                            host=host,
                            http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                                paths=[
                                    k8s.networking.v1.HTTPIngressPathArgs(
                                        path="/",
                                        path_type="Prefix",
                                        backend=k8s.networking.v1.IngressBackendArgs(
                                            service=k8s.networking.v1.IngressServiceBackendArgs(
                                                name=WEB,
                                                port=k8s.networking.v1.ServiceBackendPortArgs(number=SERVICE_PORT),
                                            )
                                        ),
                                    )
                                ]
                            ),
                        )
                    ],
                ),
                opts=self._in_namespace,
            )
