"""The `restricted` Pod Security Standard, checked on a pod spec given as a Kubernetes-shaped dict.

Mirrors the controls of the upstream standard (kubernetes.io "Pod Security Standards", restricted profile, as of
v1.33): baseline host and privilege controls, then non-root, no privilege escalation, every capability dropped
(only NET_BIND_SERVICE may be added back), a RuntimeDefault or Localhost seccomp profile, and the restricted list
of volume types. The admission controller decides on a real cluster; this lets the tests decide before one exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

ALLOWED_VOLUME_TYPES = frozenset({
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
})  # fmt: skip
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


def all_containers(pod_spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every container of the pod (init, regular and ephemeral) with the field it sits in."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod_spec.get(field) or []:
            yield field, container


def restricted_violations(pod_spec: Mapping[str, Any]) -> list[str]:
    """Why this pod would be refused in a namespace enforcing `restricted`; empty when it is admitted."""
    pod_context: Mapping[str, Any] = pod_spec.get("securityContext") or {}
    problems = _pod_problems(pod_spec, pod_context)
    for field, container in all_containers(pod_spec):
        problems += _container_problems(f"{field}/{container.get('name')}", container, pod_context)
    return problems


def _pod_problems(pod_spec: Mapping[str, Any], pod_context: Mapping[str, Any]) -> list[str]:
    problems = [
        f"pod: {field} must not be true" for field in ("hostNetwork", "hostPID", "hostIPC") if pod_spec.get(field)
    ]
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            problems.append(f"volume {volume.get('name')}: type {sorted(kinds - ALLOWED_VOLUME_TYPES)} not allowed")
    problems += [
        f"pod: sysctl {sysctl.get('name')} not allowed"
        for sysctl in pod_context.get("sysctls") or []
        if sysctl.get("name") not in SAFE_SYSCTLS
    ]
    problems += _seccomp_problems("pod", pod_context.get("seccompProfile"))
    if pod_context.get("runAsUser") == 0:
        problems.append("pod: runAsUser must not be 0")
    return problems


def _container_problems(name: str, container: Mapping[str, Any], pod_context: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    context: Mapping[str, Any] = container.get("securityContext") or {}
    if context.get("privileged"):
        problems.append(f"{name}: privileged")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: allowPrivilegeEscalation must be false")
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
        problems.append(f"{name}: runAsNonRoot must be true (container or pod)")
    if context.get("runAsUser") == 0:
        problems.append(f"{name}: runAsUser must not be 0")
    capabilities: Mapping[str, Any] = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append(f"{name}: capabilities must drop ALL")
    added = set(capabilities.get("add") or []) - ALLOWED_ADDED_CAPABILITIES
    if added:
        problems.append(f"{name}: capabilities {sorted(added)} must not be added")
    if context.get("procMount") not in (None, "Default"):
        problems.append(f"{name}: procMount must be Default")
    problems += [
        f"{name}: hostPort {port['hostPort']} not allowed"
        for port in container.get("ports") or []
        if port.get("hostPort")
    ]
    if context.get("seccompProfile") is not None:
        problems += _seccomp_problems(name, context["seccompProfile"])
    elif not pod_context.get("seccompProfile"):
        problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost (container or pod)")
    return problems


def _seccomp_problems(where: str, profile: Mapping[str, Any] | None) -> list[str]:
    if profile is None or profile.get("type") in ("RuntimeDefault", "Localhost"):
        return []
    return [f"{where}: seccompProfile type {profile.get('type')!r} not allowed"]
