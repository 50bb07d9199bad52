"""How an offline run is shown to a person (a resource tree) or to a tool (JSON). Secrets are redacted."""

from __future__ import annotations

import json
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
                "inputs": shown_inputs(r),
                "dependencies": r.dependencies,
            }
            for r in run.resources
        ],
        "outputs": shown(run.outputs),
    }
    return json.dumps(document, indent=2, sort_keys=False, default=str)


def _label(resource: Registration) -> str:
    plain = unwrap(resource.inputs)
    if "resource_id" in plain and "api_version" in plain:
        arm_type = "/".join(_arm_type_parts(str(plain["resource_id"])))
        label = f"arm:{arm_type}@{plain['api_version']}  {resource.name}"
    else:
        label = f"{resource.type}  {resource.name}"
    return label + ("  [protected]" if resource.protect else "")


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
    lines = [
        f"Previewing stack '{run.stack}' of project '{run.project}' offline (nothing is sent to any cloud)",
        "",
    ]

    def walk(resource: Registration, depth: int) -> None:
        lines.append("    " * depth + "+ " + _label(resource))
        for child in children.get(resource.urn, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    lines += ["", "Outputs:"]
    for key, value in sorted(shown(run.outputs).items()):
        lines.append(f"    {key}: {json.dumps(value, default=str)}")
    lines += ["", f"Resources: {len(run.resources)} to create"]
    return "\n".join(lines)
