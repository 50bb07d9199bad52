"""The reasons a running cluster refuses a change, as the cluster's ChangeGuard reports them in a preview.

The rule is `plan_change` (aksengine/apimodel.py); this only adapts it to the guard's plain mappings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aksengine.apimodel import plan_change, settings_from_dict


def cluster_change_refusals(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why a cluster deployed with `old` settings cannot be changed to `new` (settings_to_dict form)."""
    # The engine hands numbers over as float64 (a dynamic provider sees 3.0); the settings want integers.
    old, new = _integral(old), _integral(new)
    # Fields added to the settings after the cluster was deployed are taken as unchanged.
    before = settings_from_dict({**new, **old})
    after = settings_from_dict(dict(new))
    return [
        f"{_camel(p.field)} cannot change from {getattr(before, p.field)!r} to {p.value!r}: {p.allowed}"
        for p in plan_change(before, after).refusals
    ]


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _integral(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in settings.items()}
