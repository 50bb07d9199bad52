"""The policy pack (policy/) over an offline run: the resources as the engine hands them to an analyzer.

The engine hands `Analyze` a resource's inputs and `AnalyzeStack` its outputs (planned in a preview, final after
an update), secrets unwrapped and unknowns as the sentinel string (pkg/resource/deploy/step_generator.go,
sdk/go/common/resource/plugin/analyzer_plugin.go); `provider` is the explicit provider's URN, type, name and inputs.
The pack runs in-process through pulumi_policy's own analyzer servicer (policy/stackhub_policies/offline.py), so
levels, unknowns and messages are those of `pulumi preview --policy-pack`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pulumi.output import Unknown

from policy.stackhub_policies import evaluate
from policy.stackhub_policies.wire import UNKNOWN, PolicyEvent, ProviderReference, StackResource
from preview.engine import PROJECT_DIR, Registration, StackRun, unwrap
from preview.state import provider_urn

POLICY_CONFIG_DIR = PROJECT_DIR / "policy" / "config"


def wire_value(value: Any) -> Any:
    """A deserialized SDK value as it travels to an analyzer: secrets unwrapped, unknowns as the sentinel."""
    value = unwrap(value)
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, Mapping):
        return {str(k): wire_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire_value(v) for v in value]
    return value


def stack_resources(registrations: Iterable[Registration]) -> list[StackResource]:
    """Registrations as StackResources (inputs for Analyze, the engine's state for AnalyzeStack)."""
    registered = list(registrations)
    by_urn = {r.urn: r for r in registered}
    resources = []
    for r in registered:
        provider = None
        if r.provider:
            source = by_urn.get(provider_urn(r.provider))
            if source is not None:
                provider = ProviderReference(source.urn, source.type, source.name, wire_value(source.inputs))
        resources.append(
            StackResource(
                urn=r.urn,
                type=r.type,
                name=r.name,
                inputs=wire_value(r.inputs),
                outputs=wire_value(r.state) if r.custom else {},
                parent=r.parent,
                protect=r.protect,
                provider=provider,
                dependencies=tuple(r.dependencies),
            )
        )
    return resources


def policy_config(stack: str, path: Path | None = None) -> dict[str, Any]:
    """The `--policy-pack-config` document: `path`, else the stack's shipped `policy/config/<stack>.json`, else {}."""
    source = path if path is not None else POLICY_CONFIG_DIR / f"{stack}.json"
    if path is None and not source.is_file():
        return {}
    return dict(json.loads(source.read_text(encoding="utf-8")))


def policy_events(run: StackRun, config: Mapping[str, Any]) -> list[PolicyEvent]:
    """What the pack reports for this run (PolicyConfigError on a bad config)."""
    return evaluate(stack_resources(run.resources), config)
