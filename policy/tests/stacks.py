"""The shipped stacks as an analyzer receives them: the offline engine's registrations marshalled the way the
engine marshals them for a policy pack (project code: the pack itself never imports the project).

The engine hands `Analyze` a resource's inputs and `AnalyzeStack` its outputs (planned in a preview, final after
an update), secrets unwrapped and unknowns as the sentinel string (pkg/resource/deploy/step_generator.go,
sdk/go/common/resource/plugin/analyzer_plugin.go); `provider` is the explicit provider's URN, type, name and inputs.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from policy.stackhub_policies import evaluate
from policy.stackhub_policies.wire import PolicyEvent
from preview.engine import Mode, Registration, StackRun, run_stack_with_references, stack_names
from preview.policy import stack_resources

HUBS = ("hub-seattle", "hub-denver")


_DEPLOYED: dict[str, dict[str, Any]] = {}
"""Outputs of the referenced stacks' offline ups, shared by every run of this process."""


@functools.cache
def _run(stack: str, mode: Mode) -> StackRun:
    return run_stack_with_references(stack, mode=mode, deployed=_DEPLOYED)


def shipped(stack: str, mode: Mode = "up") -> StackRun:
    """A shipped stack run offline (cached per process: tests mutate copies, never these)."""
    if stack not in stack_names():
        raise KeyError(f"no shipped stack {stack!r}")
    return _run(stack, mode)


CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


def stack_config(stack: str) -> dict[str, Any]:
    """The shipped `--policy-pack-config` file of a stack."""
    return dict(json.loads((CONFIG_DIR / f"{stack}.json").read_text(encoding="utf-8")))


def mutated(
    registrations: Iterable[Registration],
    name: str,
    change: Callable[[dict[str, Any]], None] | None = None,
    **fields: Any,
) -> list[Registration]:
    """The registrations with one resource changed: `change` applied to deep copies of its inputs and (when the
    engine planned any) its state, and other fields (`protect=False`) replaced."""
    found = False
    result = []
    for registration in registrations:
        if registration.name != name:
            result.append(registration)
            continue
        found = True
        inputs, state = copy.deepcopy(registration.inputs), copy.deepcopy(registration.state)
        if change is not None:
            change(inputs)
            if state:
                change(state)
        result.append(dataclasses.replace(registration, inputs=inputs, state=state, **fields))
    if not found:
        raise KeyError(f"no resource named {name!r}")
    return result


def evaluate_registrations(
    registrations: Iterable[Registration], config: Mapping[str, Any] | None = None
) -> list[PolicyEvent]:
    """The pack's events for these registrations, evaluated in-process."""
    return evaluate(stack_resources(registrations), config)


def of_policy(found: Iterable[PolicyEvent], policy: str) -> list[PolicyEvent]:
    """The events of one policy."""
    return [e for e in found if e.policy_name == policy]


def detail(event: PolicyEvent) -> str:
    """What an event says beyond the policy's description (pulumi_policy puts that first, then a newline)."""
    return event.message.split("\n", 1)[1] if "\n" in event.message else event.message
