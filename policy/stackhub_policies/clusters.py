"""Finding the AKS Engine clusters a stack declares, and their shape.

The project runs AKS Engine through a `command:local:Command` whose `environment.AKSENGINE_DESIRED` is a JSON
document `{"settings": {master_count, master_vm_size, agent_count, agent_vm_size, kubernetes_version,
agent_pool_name, ...}, "otherNodesInSubscription": n, ...}`. That document is unknown in a first preview (it holds
the subnet id and the SSH key, which only exist after `pulumi up`). The same settings, without those two, are the
inputs of the cluster's settings guard, a `pulumi-python:dynamic:Resource` next to the command (same parent)
whose `settings` the preview always knows: the shape is read from there when the document is unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from .azure import DYNAMIC_TYPE
from .reporting import CannotVerifyError, Subject, count, dig, has, items, mapping, unknown

COMMAND_TYPE = "command:local:Command"
DESIRED_ENV = "AKSENGINE_DESIRED"


@dataclass(frozen=True)
class Pool:
    """A worker pool."""

    name: str
    count: int
    vm_size: str


@dataclass(frozen=True)
class Cluster:
    """One AKS Engine cluster as the stack asks for it."""

    subject: Subject
    """The command that runs AKS Engine (the resource findings are about)."""
    source: str
    """Where the shape was read (`environment.AKSENGINE_DESIRED`, or the settings guard)."""
    master_count: int
    master_vm_size: str
    pools: tuple[Pool, ...]
    kubernetes_version: str
    other_nodes: int | None = None
    """Nodes of other clusters in the subscription, as the project's config states them."""
    os_disk_size_gb: int | None = None
    """The apimodel's `osDiskSizeGB`, when it sets one."""
    etcd_disk_size_gb: int | None = None
    """The apimodel's `etcdDiskSizeGB`, when it sets one."""

    @property
    def agent_count(self) -> int:
        """Workers in every pool."""
        return sum(p.count for p in self.pools)

    @property
    def node_count(self) -> int:
        """Masters and workers."""
        return self.master_count + self.agent_count


def is_cluster(subject: Subject) -> bool:
    """Whether the resource is the command that runs AKS Engine (it carries the desired document)."""
    return (
        subject.type == COMMAND_TYPE
        and has(subject.props, "environment")
        and has(mapping(subject.props["environment"]), DESIRED_ENV)
    )


def find_clusters(subjects: Sequence[Subject]) -> list[Cluster | CannotVerifyError]:
    """Every cluster of the stack, or why one cannot be read in this preview."""
    found: list[Cluster | CannotVerifyError] = []
    for subject in subjects:
        if is_cluster(subject):
            try:
                found.append(read_cluster(subject, subjects))
            except CannotVerifyError as error:
                found.append(error)
    return found


def read_cluster(command: Subject, subjects: Sequence[Subject]) -> Cluster:
    """The cluster's shape from its desired document, else from its settings guard."""
    try:
        document = json.loads(command.props["environment"][DESIRED_ENV])
    except UnknownValueError as error:
        guard = _settings_guard(command, subjects)
        if guard is None:
            raise unknown(command, "the cluster's settings", error) from error
        return _from_settings(command, f"the settings guard '{guard.name}'", guard.props["settings"], {})
    except (TypeError, ValueError) as error:
        raise CannotVerifyError(command, "the cluster's settings", f"{DESIRED_ENV} is not a JSON document") from error
    return _from_settings(command, f"environment.{DESIRED_ENV}", mapping(dig(document, "settings")), document)


def _settings_guard(command: Subject, subjects: Sequence[Subject]) -> Subject | None:
    for subject in subjects:
        if subject.type != DYNAMIC_TYPE or subject.parent != command.parent or not has(subject.props, "settings"):
            continue
        try:
            settings = mapping(subject.props["settings"])
            if has(settings, "master_count") and has(settings, "agent_vm_size"):
                return subject
        except UnknownValueError:
            continue
    return None


def _from_settings(command: Subject, source: str, settings: Mapping[str, Any], document: Any) -> Cluster:
    try:
        pools = _pools(settings)
        other = dig(document, "otherNodesInSubscription")
        return Cluster(
            subject=command,
            source=source,
            master_count=count(settings.get("master_count"), 0),
            master_vm_size=str(settings.get("master_vm_size") or ""),
            pools=pools,
            kubernetes_version=str(settings.get("kubernetes_version") or ""),
            other_nodes=count(other, 0) if other is not None else None,
            os_disk_size_gb=_optional_int(settings, "os_disk_size_gb"),
            etcd_disk_size_gb=_optional_int(settings, "etcd_disk_size_gb"),
        )
    except UnknownValueError as error:
        raise unknown(command, "the cluster's settings", error) from error


def _pools(settings: Mapping[str, Any]) -> tuple[Pool, ...]:
    # One pool today (`agent_pool_name`, `agent_count`, `agent_vm_size`); `agent_pools` lists several.
    if has(settings, "agent_pools"):
        return tuple(
            Pool(str(dig(p, "name") or f"pool{i}"), count(dig(p, "count"), 0), str(dig(p, "vm_size") or ""))
            for i, p in enumerate(items(settings["agent_pools"]))
        )
    return (
        Pool(
            str(settings.get("agent_pool_name") or "agentpool"),
            count(settings.get("agent_count"), 0),
            str(settings.get("agent_vm_size") or ""),
        ),
    )


def _optional_int(settings: Mapping[str, Any], key: str) -> int | None:
    return count(settings[key], 0) if has(settings, key) and settings[key] is not None else None
