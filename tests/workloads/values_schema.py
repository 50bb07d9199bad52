"""Check Helm values against a chart's own `values.schema.json` the way `helm install` does, offline.

The program never runs this: `helm install` validates the values itself. It lives with the tests so that a
values change that Helm would refuse fails here, before a hub sees it.

Helm validates the chart's default `values.yaml` deep-merged with the user's values, so a key the defaults set
and we leave alone is checked too. The schemas and defaults are copies of the charts' files (see
`chart_schemas/README.md`). The nginx-ingress schema refers to Kubernetes definitions by remote `$ref`
(raw.githubusercontent.com); they cannot be fetched offline, so each remote reference is treated as open (the
`$ref` is dropped, its siblings such as `type` stay). That part of our values is checked instead when the rendered
objects are validated against the Kubernetes schemas.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_DIR = Path(__file__).resolve().parent / "chart_schemas"

KNOWN_CHARTS = {
    "nginx-ingress": "nginx-ingress-2.6.4",
    "cert-manager": "cert-manager-v1.21.1",
}
"""Charts whose schema and defaults are kept here, by chart name: file prefix."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` merged into `base` as Helm merges values: maps merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def close_remote_refs(schema: Any) -> Any:
    """The schema with every remote `$ref` removed, so that what it pointed at is accepted as it is."""
    if isinstance(schema, dict):
        return {
            k: close_remote_refs(v)
            for k, v in schema.items()
            if not (k == "$ref" and isinstance(v, str) and not v.startswith("#"))
        }
    if isinstance(schema, list):
        return [close_remote_refs(v) for v in schema]
    return schema


@cache
def _chart_files(chart: str) -> tuple[str, str]:
    if chart not in KNOWN_CHARTS:
        raise KeyError(f"no schema kept for chart {chart!r}; known: {', '.join(sorted(KNOWN_CHARTS))}")
    prefix = SCHEMA_DIR / KNOWN_CHARTS[chart]
    schema_text = prefix.with_name(prefix.name + ".values.schema.json").read_text()
    defaults_text = prefix.with_name(prefix.name + ".values.yaml").read_text()
    return schema_text, defaults_text


def chart_schema(chart: str) -> dict[str, Any]:
    """The chart's values schema with remote references opened."""
    schema: dict[str, Any] = close_remote_refs(json.loads(_chart_files(chart)[0]))
    return schema


def chart_defaults(chart: str) -> dict[str, Any]:
    """The chart's default values (its `values.yaml`)."""
    defaults: dict[str, Any] = yaml.safe_load(_chart_files(chart)[1]) or {}
    return defaults


def effective_values(chart: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values Helm renders the chart with: defaults deep-merged with ours."""
    return deep_merge(chart_defaults(chart), values)


def values_errors(chart: str, values: Mapping[str, Any]) -> list[str]:
    """Why Helm would refuse these values for this chart: one line per error, empty when they are valid.

    The validator follows the schema's own `$schema` as Helm does (draft 7 for cert-manager, 2019-09 for
    nginx-ingress), draft 7 when none is declared.
    """
    schema = chart_schema(chart)
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(effective_values(chart, values)), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}" for error in errors]
