"""An offline run in the shape of `pulumi preview --json`: Pulumi's preview digest.

Pulumi prints one JSON document for `pulumi preview --json` (pulumi/pulumi pkg/display/json.go, filled in
pkg/backend/display/json.go): `config`, `steps[]` (`op`, `urn`, `provider`, `oldState`, `newState`,
`diffReasons`, `replaceReasons`, `detailedDiff` {path: {`kind`, `inputDiff`}}), `diagnostics[]`, `duration`
(nanoseconds), `changeSummary` and `maybeCorrupt`. This module builds the same document from an offline run, so
tools that read Pulumi's output read ours. Where it differs from Pulumi's (docs/review.md lists it):
- a replacement is one `replace` step; Pulumi lists `create-replacement`, `replace` and `delete-replaced`;
- `oldState`/`newState` carry the resource fields the offline engine knows (`urn`, `custom`, `id`, `type`,
  `inputs`, `outputs`, `parent`, `protect`, `dependencies`, `provider`), not the engine's bookkeeping fields;
- `policyEvents[]` holds the policy results, shaped like the engine's streaming `policyEvent`
  (sdk/go/common/apitype/events.go): Pulumi's digest drops them (pulumi/pulumi issue 18851);
- `stackhubHa` adds what a reviewer needs and Pulumi's digest does not say: the base and head commits, the
  protected resources the plan would replace or delete (Pulumi refuses such a plan), the data-bearing resources,
  the unchanged resources that depend on a replaced one, and each resource's top-level component.
Secrets are `"[secret]"`; unknown values are Pulumi's unknown sentinel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

from preview.engine import REDACTED, Registration, StackRun, is_secret, stack_config
from preview.providers import changed_paths, under
from preview.state import STACK_TYPE, ResourceState, stack_urn

HIDDEN_INPUTS = frozenset({"__provider"})
CHANGED_OPS = ("create", "update", "replace", "delete")


@dataclass(frozen=True)
class Commit:
    """A git commit the preview compares (or a saved state, `commit` None)."""

    ref: str
    commit: str | None
    dirty: bool = False


@dataclass(frozen=True)
class PolicyEvent:
    """One policy result, as the engine's streaming `policyEvent` carries it."""

    resource_urn: str
    message: str
    policy_name: str
    policy_pack_name: str
    policy_pack_version: str
    enforcement_level: str
    severity: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "resourceUrn": self.resource_urn,
            "message": self.message,
            "policyName": self.policy_name,
            "policyPackName": self.policy_pack_name,
            "policyPackVersion": self.policy_pack_version,
            "enforcementLevel": self.enforcement_level,
            "severity": self.severity,
        }


def shown(value: Any) -> Any:
    """A value as the digest carries it: secrets `"[secret]"`, unknowns Pulumi's sentinel."""
    if is_secret(value):
        return REDACTED
    if isinstance(value, Unknown):
        return rpc.UNKNOWN
    if isinstance(value, Mapping):
        return {k: shown(v) for k, v in value.items() if k not in HIDDEN_INPUTS}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return value


def build_digest(
    run: StackRun,
    *,
    base: Commit | None = None,
    head: Commit | None = None,
    duration_ns: int = 0,
    policy_events: Sequence[PolicyEvent] = (),
) -> dict[str, Any]:
    """The preview digest of an offline run (see the module docstring)."""
    steps = [_step(r) for r in run.resources if r.op in CHANGED_OPS]
    steps += [_delete_step(d) for d in run.deleted]
    root = _stack_step(run)
    if root is not None:
        steps.insert(0, root)
    summary: dict[str, int] = {}
    for r in run.resources:
        summary[r.op] = summary.get(r.op, 0) + 1
    if run.deleted:
        summary["delete"] = len(run.deleted)
    return {
        "config": _config(run),
        "steps": steps,
        "diagnostics": [_diagnostic(message, run) for message in run.errors],
        "duration": duration_ns,
        "changeSummary": summary,
        "maybeCorrupt": False,
        "policyEvents": [event.to_json() for event in policy_events],
        "stackhubHa": {
            "project": run.project,
            "stack": run.stack,
            "base": None if base is None else {"ref": base.ref, "commit": base.commit},
            "head": None if head is None else {"commit": head.commit, "dirty": head.dirty},
            "refused": list(run.refused),
            "dataBearing": data_bearing(run),
            "dependentsOfReplaced": dependents_of_replaced(run),
            "components": components(run),
        },
    }


def data_bearing(run: StackRun) -> list[str]:
    """Resources that hold data: in this project, exactly the protected ones (stateful things are protected)."""
    return sorted({r.urn for r in run.resources if r.protect} | {d.urn for d in run.deleted if d.protect})


def dependents_of_replaced(run: StackRun) -> dict[str, list[str]]:
    """For each replaced resource, the unchanged resources that depend on it: while it is replaced they keep
    running against the old one, and a delete-before-replace takes it away under them."""
    replaced = {r.urn for r in run.resources if r.op == "replace"}
    found: dict[str, list[str]] = {}
    for r in run.resources:
        if r.op != "same" or not r.custom:
            continue
        for dependency in r.dependencies:
            if dependency in replaced:
                found.setdefault(dependency, []).append(r.urn)
    return found


def components(run: StackRun) -> dict[str, str]:
    """Each resource's top-level component ('' for a resource at the stack's top level)."""
    parents = {r.urn: r.parent for r in run.resources}
    stack_level = {urn for urn, parent in parents.items() if parent not in parents}
    found: dict[str, str] = {}
    for r in run.resources:
        urn = r.urn
        while urn not in stack_level:
            urn = parents[urn]
        found[r.urn] = "" if urn == r.urn else urn
    for d in run.deleted:
        found.setdefault(d.urn, d.parent if d.parent in stack_level else "")
    return found


def _config(run: StackRun) -> dict[str, Any]:
    try:
        values, secrets = stack_config(run.stack)
    except FileNotFoundError:
        return {}
    return {k: REDACTED if k in secrets else v for k, v in sorted(values.items())}


def _resource_state(r: ResourceState) -> dict[str, Any]:
    return {
        "urn": r.urn,
        "custom": r.custom,
        "id": r.id,
        "type": r.type,
        "inputs": shown(r.inputs),
        "outputs": shown(r.outputs),
        "parent": r.parent,
        "protect": r.protect,
        "dependencies": list(r.dependencies),
        "provider": r.provider,
    }


def _step(r: Registration) -> dict[str, Any]:
    new = ResourceState(
        urn=r.urn, type=r.type, custom=r.custom, id=r.id, inputs=r.inputs, outputs=r.state, parent=r.parent,
        protect=r.protect, provider=r.provider, dependencies=tuple(r.dependencies),
    )  # fmt: skip
    paths = [p for p in r.diff.changed if not under(p, tuple(HIDDEN_INPUTS))]
    old_inputs = r.old.inputs if r.old is not None else {}
    return {
        "op": r.op,
        "urn": r.urn,
        "provider": r.provider,
        "oldState": _resource_state(r.old) if r.old is not None else None,
        "newState": _resource_state(new),
        "diffReasons": _top_level(paths),
        "replaceReasons": _top_level(r.diff.replaces),
        "detailedDiff": {
            path: {"kind": _kind(path, old_inputs, r.inputs, r.diff.replaces), "inputDiff": True} for path in paths
        },
    }


def _stack_step(run: StackRun) -> dict[str, Any] | None:
    """The stack's root resource: created by a first deployment, updated when its outputs change (where Pulumi's
    digest carries the stack outputs)."""
    paths = changed_paths(run.prior_outputs, run.outputs)
    if run.prior_given and not paths:
        return None
    urn = stack_urn(run.project, run.stack)

    def state(outputs: Mapping[str, Any]) -> dict[str, Any]:
        return _resource_state(
            ResourceState(urn=urn, type=STACK_TYPE, custom=False, id="", inputs={}, outputs=dict(outputs))
        )

    return {
        "op": "update" if run.prior_given else "create",
        "urn": urn,
        "provider": "",
        "oldState": state(run.prior_outputs) if run.prior_given else None,
        "newState": state(run.outputs),
        "diffReasons": [],
        "replaceReasons": [],
        "detailedDiff": {f"outputs.{p}" if p else "outputs": {"kind": "update", "inputDiff": False} for p in paths}
        if run.prior_given
        else {},
    }


def stack_outputs(digest: Mapping[str, Any]) -> dict[str, Any]:
    """The stack outputs a digest shows (its root step's), or {} when they did not change."""
    for entry in digest["steps"]:
        if entry["newState"] is not None and entry["newState"]["type"] == STACK_TYPE:
            return dict(entry["newState"]["outputs"])
    return {}


def _delete_step(d: ResourceState) -> dict[str, Any]:
    return {
        "op": "delete",
        "urn": d.urn,
        "provider": d.provider,
        "oldState": _resource_state(d),
        "newState": None,
        "diffReasons": [],
        "replaceReasons": [],
        "detailedDiff": {},
    }


_SEGMENT = re.compile(r"[^.\[\]]+|\[\d+\]")


def value_at(document: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a property path such as `a.b[1].c` (secret envelopes are looked through)."""
    node = document
    for segment in _SEGMENT.findall(path):
        if is_secret(node):
            node = node["value"]
        if segment.startswith("["):
            index = int(segment[1:-1])
            if not isinstance(node, list) or index >= len(node):
                return False, None
            node = node[index]
        else:
            if not isinstance(node, Mapping) or segment not in node:
                return False, None
            node = node[segment]
    return True, node


def _kind(path: str, old: Mapping[str, Any], new: Mapping[str, Any], replaces: Sequence[str]) -> str:
    had, _ = value_at(old, path)
    has, _ = value_at(new, path)
    kind = "update" if had and has else ("add" if has else "delete")
    return f"{kind}-replace" if under(path, tuple(replaces)) else kind


def _top_level(paths: Sequence[str]) -> list[str]:
    keys: list[str] = []
    for path in paths:
        key = _SEGMENT.findall(path)[0] if path else path
        if key not in keys:
            keys.append(key)
    return keys


def _diagnostic(message: str, run: StackRun) -> dict[str, str]:
    urn = next((r.urn for r in run.resources if r.urn in message), "")
    urn = urn or next((r.urn for r in run.resources if f"'{r.name}'" in message), "")
    urn = urn or next((d.urn for d in run.deleted if d.urn in message), "")
    return {"urn": urn, "prefix": "error: ", "message": message, "severity": "error"}
