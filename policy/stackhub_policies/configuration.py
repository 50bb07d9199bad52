"""Policy settings: each policy's JSON schema, checked and completed with its defaults before the policy runs.

The Pulumi CLI checks `--policy-pack-config` against each policy's `config_schema` before it configures the pack,
but `pulumi_policy` itself checks nothing (its `Configure` stores whatever arrives), and the offline preview and
`pulumi policy analyze` reach the pack by other routes. So every policy reads its settings through
`read_settings`, which refuses a bad setting with one line per problem and fills in the documented defaults.
The checker knows the part of JSON Schema the pack's schemas use: type, enum, minimum, maximum, minLength,
pattern, items, properties, required and additionalProperties.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

Schema = Mapping[str, Any]


class PolicyConfigError(ValueError):
    """A policy's settings do not match its schema (the message lists every problem)."""


def setting(kind: str, description: str, default: Any, **rules: Any) -> dict[str, Any]:
    """One property of a policy's config schema: its JSON type, what it means, its default, further rules."""
    return {"type": kind, "description": description, "default": default, **rules}


def read_settings(policy: str, properties: Mapping[str, Schema], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The policy's settings: `given` checked against the schema's properties, defaults filled in.

    Raises PolicyConfigError naming the policy, each bad key, what it holds and what is allowed.
    """
    values = _plain(given or {})
    problems: list[str] = []
    for key in values:
        if key == "enforcementLevel":
            continue
        if key not in properties:
            problems.append(f"{key}: not a setting of this policy{_closest(key, properties)}")
    for key, schema in properties.items():
        if key in values:
            problems += _check(values[key], schema, key)
    if problems:
        raise PolicyConfigError(f"policy '{policy}' config: " + "; ".join(problems))
    settings = {key: copy.deepcopy(schema.get("default")) for key, schema in properties.items()}
    settings.update({k: _normalised(v, properties[k]) for k, v in values.items() if k in properties})
    return settings


def _closest(key: str, known: Mapping[str, Any]) -> str:
    match = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {match[0]!r}?)" if match else f" (settings: {', '.join(sorted(known))})"


def _plain(value: Any) -> Any:
    """A copy of a config value as plain dicts and lists (protobuf structs and proxies arrive as Mappings)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


_TYPES: dict[str, str] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}


def _is(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        # Config reaches a Python pack through a protobuf Struct: every number is a float there.
        return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"schema type {kind!r} is not supported by the pack's checker")


def _check(value: Any, schema: Schema, path: str) -> list[str]:
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        return [f"{path}: expected {_TYPES[kind]}, got {_shown(value)}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {_shown(value)} is not one of {', '.join(map(repr, schema['enum']))}")
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        problems.append(f"{path}: {_shown(value)} is below the minimum {schema['minimum']}")
    if "maximum" in schema and isinstance(value, int | float) and value > schema["maximum"]:
        problems.append(f"{path}: {_shown(value)} is above the maximum {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{path}: must have at least {schema['minLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{path}: {_shown(value)} does not match {schema['pattern']}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += _check(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, dict):
        problems += _check_object(value, schema, path)
    return problems


def _check_object(value: dict[str, Any], schema: Schema, path: str) -> list[str]:
    problems: list[str] = []
    properties: Mapping[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    problems += [f"{path}.{key}: required" for key in schema.get("required", []) if key not in value]
    for key, item in value.items():
        if key in properties:
            problems += _check(item, properties[key], f"{path}.{key}")
        elif extra is False:
            problems.append(f"{path}.{key}: not allowed here{_closest(key, properties)}")
        elif isinstance(extra, Mapping):
            problems += _check(item, extra, f"{path}.{key}")
    return problems


def _normalised(value: Any, schema: Schema) -> Any:
    """Integers as int (they arrive as floats), recursively."""
    kind = schema.get("type")
    if kind == "integer" and isinstance(value, float):
        return int(value)
    if kind == "array" and isinstance(value, list) and "items" in schema:
        return [_normalised(v, schema["items"]) for v in value]
    if kind == "object" and isinstance(value, dict):
        properties: Mapping[str, Schema] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: _normalised(v, properties[k] if k in properties else extra if isinstance(extra, Mapping) else {})
            for k, v in value.items()
        }
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
