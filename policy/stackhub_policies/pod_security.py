"""The `restricted` Pod Security Standard, checked on a pod spec (a Kubernetes-shaped map).

The controls of kubernetes.io "Pod Security Standards" (restricted profile, v1.33): the baseline host and
privilege controls, then non-root, no privilege escalation, every capability dropped (only NET_BIND_SERVICE may
come back), a RuntimeDefault or Localhost seccomp profile, and the restricted list of volume types. The admission
controller decides on a real cluster; this decides in a preview, before one exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .reporting import has, items, mapping

ALLOWED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})  # fmt: skip
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")


def _get(value: Mapping[str, Any], key: str) -> Any:
    return value[key] if has(value, key) else None


def all_containers(pod_spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every container of the pod (init, regular and ephemeral) with the field it sits in."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in items(_get(pod_spec, field)):
            yield field, mapping(container)


def restricted_violations(pod_spec: Mapping[str, Any]) -> list[str]:
    """Why a namespace enforcing `restricted` would refuse this pod; empty when it is admitted."""
    pod_context = mapping(_get(pod_spec, "securityContext"))
    problems = _pod_problems(pod_spec, pod_context)
    for field, container in all_containers(pod_spec):
        problems += _container_problems(f"{field}/{_get(container, 'name')}", container, pod_context)
    return problems


def _pod_problems(pod_spec: Mapping[str, Any], context: Mapping[str, Any]) -> list[str]:
    problems = [f"pod: {field} must not be true" for field in ("hostNetwork", "hostPID", "hostIPC")
                if _get(pod_spec, field)]  # fmt: skip
    for volume in items(_get(pod_spec, "volumes")):
        kinds = set(mapping(volume)) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            name = _get(mapping(volume), "name")
            problems.append(f"volume {name}: type {sorted(kinds - ALLOWED_VOLUME_TYPES)} is not allowed")
    for sysctl in items(_get(context, "sysctls")):
        if _get(mapping(sysctl), "name") not in SAFE_SYSCTLS:
            problems.append(f"pod: sysctl {_get(mapping(sysctl), 'name')} is not allowed")
    problems += _seccomp_problems("pod", _get(context, "seccompProfile"))
    if _get(context, "runAsUser") == 0:
        problems.append("pod: runAsUser must not be 0")
    return problems


def _container_problems(name: str, container: Mapping[str, Any], pod_context: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    context = mapping(_get(container, "securityContext"))
    if _get(context, "privileged"):
        problems.append(f"{name}: privileged")
    if _get(context, "allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: allowPrivilegeEscalation must be false")
    non_root = _get(context, "runAsNonRoot") if has(context, "runAsNonRoot") else _get(pod_context, "runAsNonRoot")
    if non_root is not True:
        problems.append(f"{name}: runAsNonRoot must be true (container or pod)")
    if _get(context, "runAsUser") == 0:
        problems.append(f"{name}: runAsUser must not be 0")
    capabilities = mapping(_get(context, "capabilities"))
    if "ALL" not in list(items(_get(capabilities, "drop"))):
        problems.append(f"{name}: capabilities must drop ALL")
    added = set(items(_get(capabilities, "add"))) - ALLOWED_ADDED_CAPABILITIES
    if added:
        problems.append(f"{name}: capabilities {sorted(added)} must not be added")
    if _get(context, "procMount") not in (None, "Default"):
        problems.append(f"{name}: procMount must be Default")
    problems += [f"{name}: hostPort {_get(mapping(port), 'hostPort')} is not allowed"
                 for port in items(_get(container, "ports")) if _get(mapping(port), "hostPort")]  # fmt: skip
    if _get(context, "seccompProfile") is not None:
        problems += _seccomp_problems(name, _get(context, "seccompProfile"))
    elif not _get(pod_context, "seccompProfile"):
        problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost (container or pod)")
    return problems


def _seccomp_problems(where: str, profile: Any) -> list[str]:
    if profile is None or _get(mapping(profile), "type") in SECCOMP_TYPES:
        return []
    return [f"{where}: seccompProfile type {_get(mapping(profile), 'type')!r} is not allowed"]
