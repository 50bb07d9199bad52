"""AksEngineCluster: a Kubernetes cluster on one hub, created, scaled and upgraded by AKS Engine.

AKS Engine is an imperative CLI (`deploy`, `scale`, `upgrade`). This component makes it declarative: one
`pulumi_command.local.Command` runs `python -m aksengine.lifecycle create|update|delete`, which compares the
desired settings with the previous state and runs the right AKS Engine commands. The previous state is the
command's stdout from the last successful run: it holds the *generated* apimodel (CA keys, certificates, the
service principal secret) that `scale` and `upgrade` need, so it is a secret output and never logged.

How this behaves under Pulumi's engine when a change is previewed:
- pulumi-command leaves `stdout` unknown in the preview of any update of the command (pulumi-go-provider infer
  marks every output that depends on a changed input unknown), so the kubeconfig is unknown then. The Kubernetes
  provider gets a `clusterIdentifier` that only a new cluster changes: pulumi-kubernetes' DiffConfig then treats
  the unknown kubeconfig as an update, not as a new cluster; without it the provider, and with it every
  Kubernetes resource (protected ones included), would be planned for replacement and the engine would refuse.
- Changes AKS Engine cannot make are refused by a ChangeGuard in the preview itself: nothing derived from the
  command's stdout can be checked while it is unknown.

Behind an egress proxy (`proxy_environment`), the lifecycle and the aks-engine-azurestack it runs get the proxy
variables. pulumi-command marks its whole `environment` secret as soon as one value is, which would hide the desired
settings from every preview; so a proxy URL with credentials travels on stdin instead (a second line after the
client secret, read by `aksengine.lifecycle`), and only the no-proxy list stays in the environment.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from aksengine.apimodel import ClusterSettings, settings_to_dict
from aksengine.lifecycle import PROXY_VARIABLES, ClusterState
from aksengine.refusals import cluster_change_refusals
from components.change_guard import ChangeGuard
from planning.egress import parse_proxy_url

# The interpreter is relative to the project folder, where the command provider runs: the stored
# create/update/delete lines must not change (and show the protected cluster as changed) when the checkout or
# agent moves. Stacks pass the project's own (`stacks.project.lifecycle_python`); this default is the same path
# for the project's Pulumi.yaml as it is today.
LIFECYCLE_PYTHON = ".venv/bin/python"
LIFECYCLE_MODULE = ("-m", "aksengine.lifecycle")
# AKS Engine upgrades about 12-15 minutes per VM, one VM at a time (REFERENCE, section 2).
MINUTES_PER_VM = 20


@dataclass(frozen=True)
class AksEngineClusterArgs:
    """Inputs of an AksEngineCluster."""

    settings: ClusterSettings
    """Validated cluster settings; the network fields and the SSH key are replaced by the inputs below."""
    subnet_id: pulumi.Input[str]
    """ARM id of the cluster subnet (from HubNetwork)."""
    subnet_cidr: pulumi.Input[str]
    """Address range of the cluster subnet (from HubNetwork)."""
    vnet_cidr: pulumi.Input[str]
    """Address space of the VNet (from HubNetwork)."""
    first_consecutive_static_ip: pulumi.Input[str]
    """First master address (from HubNetwork's plan)."""
    client_secret: pulumi.Input[str]
    """The service principal's secret, used by AKS Engine and inside the cluster."""
    tenant_id: str | None = None
    """Identity tenant, needed to delete the cluster's resource group on Azure AD hubs."""
    other_nodes_in_subscription: int = 0
    """VMs of other clusters in the subscription, counted against the 50-node limit."""
    lifecycle_python: str = LIFECYCLE_PYTHON
    """The Python that runs the lifecycle module: the project's virtualenv interpreter, relative to the project
    folder (`stacks.project.lifecycle_python()` reads it from Pulumi.yaml)."""
    working_dir: str | None = None
    """Directory the lifecycle runs in (it must be able to import `aksengine`)."""
    proxy_environment: Mapping[str, str] = field(default_factory=dict)
    """The egress proxy for the lifecycle and aks-engine-azurestack (`planning.egress.proxy_environment`): only the
    variables HTTP_PROXY, HTTPS_PROXY, NO_PROXY in either case; empty without a proxy."""
    ssh_public_key: str | None = None
    """The admin user's OpenSSH public key, brought by the operator: then no private key is generated or kept in
    Pulumi. None: a 4096-bit RSA key is generated (tls.PrivateKey, protected) and its private half exported as a
    secret for break-glass access. Chosen at the first deploy: AKS Engine cannot change the key of a cluster."""


class AksEngineCluster(pulumi.ComponentResource):
    """An AKS Engine cluster and a Kubernetes provider for it."""

    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig (secret)."""
    api_server_fqdn: pulumi.Output[str]
    """DNS name of the Kubernetes API."""
    resource_group: pulumi.Output[str]
    """The cluster's own resource group (AKS Engine creates and owns it)."""
    master_count: pulumi.Output[int]
    """Number of masters."""
    agent_count: pulumi.Output[int]
    """Number of worker nodes."""
    kubernetes_version: pulumi.Output[str]
    """Kubernetes version running."""
    ssh_private_key: pulumi.Output[str] | None
    """Private key for SSH to the nodes as the admin user (secret, for break-glass access); None when the operator
    brought the public key (`ssh_public_key`)."""
    provider: k8s.Provider
    """Kubernetes provider for this cluster, for the components that deploy onto it."""

    def __init__(self, name: str, args: AksEngineClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("stackhub-ha:index:AksEngineCluster", name, None, opts)
        public_key: pulumi.Input[str]
        if args.ssh_public_key is not None:
            public_key, self.ssh_private_key = args.ssh_public_key, None
        else:
            ssh_key = tls.PrivateKey(
                f"{name}-ssh",
                algorithm="RSA",
                rsa_bits=4096,
                # Replacing the key would make AKS Engine refuse the changed linuxProfile on the next update.
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            public_key = ssh_key.public_key_openssh
            self.ssh_private_key = pulumi.Output.secret(ssh_key.private_key_openssh)
        desired = pulumi.Output.all(
            args.subnet_id, args.subnet_cidr, args.vnet_cidr, args.first_consecutive_static_ip, public_key,
        ).apply(lambda v: desired_state(args, subnet_id=v[0], subnet_cidr=v[1], vnet_cidr=v[2],
                                        first_consecutive_static_ip=v[3], ssh_public_key=v[4]))  # fmt: skip
        # Settings AKS Engine cannot change are refused here, in the preview, with the reasons.
        guard = ChangeGuard(
            f"{name}-settings-guard",
            settings=settings_to_dict(args.settings),
            rule=cluster_change_refusals,
            opts=pulumi.ResourceOptions(parent=self),
        )
        run = " ".join(shlex.quote(part) for part in lifecycle_command(args))
        shown, hidden = split_proxy_environment(args.proxy_environment)
        lifecycle = command.local.Command(
            f"{name}-aks-engine",
            create=f"{run} create",
            update=f"{run} update",
            delete=f"{run} delete",
            dir=args.working_dir,
            # The desired settings stay readable in previews; the secret travels on stdin (a secret of its own),
            # followed by the proxy variables that carry credentials, when there are any.
            environment={"AKSENGINE_DESIRED": desired, **shown},
            stdin=lifecycle_stdin(args.client_secret, hidden),
            # stdout is the state (generated apimodel, kubeconfig): keep it out of the console and logs.
            logging=command.local.Logging.STDERR,
            add_previous_output_in_env=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[guard],
                additional_secret_outputs=["stdout"],
                # The cluster holds the application's data volumes: deleting it takes a deliberate unprotect.
                protect=True,
                custom_timeouts=pulumi.CustomTimeouts(
                    create="90m", update=f"{60 + MINUTES_PER_VM * _vms(args.settings)}m", delete="60m"
                ),
            ),
        )
        state = lifecycle.stdout.apply(ClusterState.from_json)
        self.kubeconfig = pulumi.Output.secret(state.apply(lambda s: s.kubeconfig))
        self.api_server_fqdn = pulumi.Output.unsecret(state.apply(lambda s: s.api_server_fqdn))
        self.resource_group = pulumi.Output.from_input(args.settings.resource_group)
        self.master_count = pulumi.Output.unsecret(state.apply(lambda s: s.master_count))
        self.agent_count = pulumi.Output.unsecret(state.apply(lambda s: s.agent_count))
        self.kubernetes_version = pulumi.Output.unsecret(state.apply(lambda s: s.kubernetes_version))
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Known in every preview and changed only by a new cluster, so an unknown kubeconfig (any update of
            # the lifecycle command) updates the provider instead of replacing it and everything on it.
            cluster_identifier=cluster_identity(args.settings),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[lifecycle]),
        )
        self.register_outputs({
            "kubeconfig": self.kubeconfig,
            "api_server_fqdn": self.api_server_fqdn,
            "resource_group": self.resource_group,
            "master_count": self.master_count,
            "agent_count": self.agent_count,
            "kubernetes_version": self.kubernetes_version,
            "ssh_private_key": self.ssh_private_key,
            "provider": self.provider,
        })  # fmt: skip


def lifecycle_command(args: AksEngineClusterArgs) -> tuple[str, ...]:
    """The argv that runs the lifecycle module (the Command appends create, update or delete)."""
    if not args.lifecycle_python:
        raise ValueError("AksEngineClusterArgs.lifecycle_python must name the Python that runs the lifecycle")
    return (args.lifecycle_python, *LIFECYCLE_MODULE)


def split_proxy_environment(environment: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(variables shown in the Command's environment, variables that must travel on stdin).

    ValueError for a variable that is not a proxy variable (the lifecycle's own inputs must not be overridden) or a
    URL that is not a proxy URL. A proxy URL with credentials goes to stdin, with every other URL variable so that
    one spelling is never shown while the other is hidden; the no-proxy list always stays visible.
    """
    unknown = sorted(set(environment) - set(PROXY_VARIABLES))
    if unknown:
        raise ValueError(
            f"proxy_environment may only set {', '.join(PROXY_VARIABLES)}; not {', '.join(unknown)}: the lifecycle's "
            "own AKSENGINE_* and PULUMI_COMMAND_* inputs cannot be overridden there"
        )
    urls = {name: value for name, value in environment.items() if name.lower() != "no_proxy"}
    credentials = False
    for name, value in urls.items():
        try:
            credentials |= parse_proxy_url(value).has_credentials
        except ValueError as error:
            raise ValueError(f"proxy_environment[{name!r}] {error}") from None
    shown = {name: value for name, value in environment.items() if not credentials or name not in urls}
    hidden = urls if credentials else {}
    return shown, hidden


def lifecycle_stdin(client_secret: pulumi.Input[str], hidden: Mapping[str, str]) -> pulumi.Output[str]:
    """The lifecycle's stdin: the client secret, then (only when there are any) the hidden variables as JSON."""
    secret = pulumi.Output.secret(client_secret)
    if not hidden:
        return secret
    line = json.dumps(dict(hidden), sort_keys=True)
    return pulumi.Output.secret(secret.apply(lambda value: f"{value}\n{line}\n"))


def cluster_identity(settings: ClusterSettings) -> str:
    """What names one cluster for the Kubernetes provider: a change of any part is a different cluster."""
    return f"aks-engine:{settings.subscription_id}/{settings.resource_group}/{settings.dns_prefix}"


def _vms(settings: ClusterSettings) -> int:
    # Masters, workers and the extra VM an upgrade adds.
    return settings.master_count + settings.agent_count + 1


def desired_state(
    args: AksEngineClusterArgs,
    *,
    subnet_id: str,
    subnet_cidr: str,
    vnet_cidr: str,
    first_consecutive_static_ip: str,
    ssh_public_key: str,
) -> str:
    """The lifecycle's `AKSENGINE_DESIRED` document: settings with the network's and the key's real values."""
    settings = dataclasses.replace(
        args.settings,
        subnet_id=subnet_id,
        subnet_cidr=subnet_cidr,
        vnet_cidr=vnet_cidr,
        first_consecutive_static_ip=first_consecutive_static_ip,
        ssh_public_key=ssh_public_key.strip(),
    )
    document: dict[str, Any] = {
        "settings": settings_to_dict(settings),
        "tenantId": args.tenant_id,
        "otherNodesInSubscription": args.other_nodes_in_subscription,
    }
    return json.dumps(document, sort_keys=True)
