"""How an offline run is shown to a person (a resource tree) or to a tool (JSON). Secrets are redacted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pulumi.output import Unknown

from preview.engine import Registration, StackRun, redact, unwrap

UNKNOWN = "(known after pulumi up)"


def shown(value: Any) -> Any:
    """A value as it may be shown: secrets redacted, values only a real run can know marked as such."""
    value = redact(value)
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return value


# Internal inputs that are not the user's business: the serialized dynamic provider is a large pickle.
HIDDEN_INPUTS = frozenset({"__provider"})


def shown_inputs(resource: Registration) -> dict[str, Any]:
    """A resource's inputs as they may be shown: secrets redacted, internal keys left out."""
    return {k: shown(v) for k, v in resource.inputs.items() if k not in HIDDEN_INPUTS}


def as_json(run: StackRun) -> str:
    """`{"project","stack","resources":[{"urn","type","name","parent","inputs","dependencies"}],"outputs"}`."""
    document = {
        "project": run.project,
        "stack": run.stack,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "op": r.op,
                "inputs": shown_inputs(r),
                "dependencies": r.dependencies,
            }
            for r in run.resources
        ],
        "deletes": [d.urn for d in run.deleted],
        "outputs": shown(run.outputs),
        "errors": run.errors,
    }
    return json.dumps(document, indent=2, sort_keys=False, default=str)


def _label(resource: Registration) -> str:
    plain = unwrap(resource.inputs)
    if "resource_id" in plain and "api_version" in plain:
        arm_type = "/".join(_arm_type_parts(str(plain["resource_id"])))
        label = f"arm:{arm_type}@{plain['api_version']}  {resource.name}"
    else:
        label = f"{resource.type}  {resource.name}"
    label += "  [protected]" if resource.protect else ""
    if resource.op == "update":
        label += f"  (changed: {', '.join(resource.diff.changed)})"
    elif resource.op == "replace":
        label += f"  (replaced by: {', '.join(resource.diff.replaces)})"
    return label


# The marks `pulumi preview` puts before each step.
OP_MARKS = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- ", "same": "  ", "read": "> "}


def _arm_type_parts(resource_id: str) -> list[str]:
    parts = resource_id.strip("/").split("/")
    if "providers" not in parts:
        return ["Microsoft.Resources", "resourceGroups"]
    rest = parts[parts.index("providers") + 1 :]
    return [rest[0], *rest[1::2]]


def as_tree(run: StackRun) -> str:
    """An indented resource tree followed by the stack outputs."""
    children: dict[str, list[Registration]] = {}
    for r in run.resources:
        children.setdefault(r.parent, []).append(r)
    roots = [r for r in run.resources if r.parent not in {x.urn for x in run.resources}]
    what = "Updating (offline)" if run.mode == "up" else "Previewing update (offline)"
    lines = [f"{what} of stack '{run.stack}' of project '{run.project}': nothing is sent to any cloud", ""]

    def walk(resource: Registration, depth: int) -> None:
        lines.append("    " * depth + OP_MARKS[resource.op] + _label(resource))
        for child in children.get(resource.urn, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    for gone in run.deleted:
        lines.append(OP_MARKS["delete"] + f"{gone.type}  {gone.urn.rsplit('::', 1)[-1]}")
    lines += ["", "Outputs:"]
    for key, value in sorted(shown(run.outputs).items()):
        lines.append(f"    {key}: {json.dumps(value, default=str)}")
    lines += ["", "Resources: " + summary(run)]
    lines += [f"error: {e}" for e in run.errors]
    return "\n".join(lines)


def summary(run: StackRun) -> str:
    """`N to create, N to update, ...` in the order `pulumi preview` prints its counts."""
    steps = {op: len(urns) for op, urns in run.steps().items()}
    verbs = (("create", "to create"), ("update", "to update"), ("replace", "to replace"), ("delete", "to delete"))
    parts = [f"{steps[op]} {verb}" for op, verb in verbs if steps.get(op)]
    if steps.get("same"):
        parts.append(f"{steps['same']} unchanged")
    return ", ".join(parts) or "no change"


def policies_section(events: Sequence[Any], note: str = "") -> str:
    """The policy results the way `pulumi preview --policy-pack` prints them: per pack, each violation with its
    level, the resource and the message (the policy's description, then what is wrong)."""
    if not events:
        return "\nPolicies:\n    (no policy violations)" + (f"\n    {note}" if note else "")
    lines = ["", "Policies:"]
    if note:
        lines.append(f"    {note}")
    pack = f"{events[0].policy_pack_name}@v{events[0].policy_pack_version}"
    lines.append(f"    {pack}")
    ordered = sorted(events, key=lambda e: (e.enforcement_level != "mandatory", e.policy_name, e.urn))
    for event in ordered:
        where = f" ({event.urn.rsplit('::', 1)[-1]})" if event.urn else ""
        message = event.message.replace("\n", "\n          ")
        lines.append(f"        - [{event.enforcement_level}]  {event.policy_name}{where}")
        lines.append(f"          {message}")
    return "\n".join(lines)
