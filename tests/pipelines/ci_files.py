"""The CI files as data: GitHub workflows, Azure pipelines, what their scripts run and which stack each job serves.

Workflows and pipelines are read with PyYAML (`on:` of a workflow comes back as the key True, YAML 1.1's
boolean). A job's stack comes from what the files themselves say: a GitHub job's `env.STACK` (a literal or
`${{ matrix.stack }}` over the matrix's `stack` list), an Azure job's matrix variable `STACK`, or the `stack`
parameter it hands the steps template.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from preview.engine import stack_names, stack_reference_short_name

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PIPELINES = ROOT / "pipelines"
TOOLS = ROOT / ".tools" / "ci" / "bin"
PREFIX = "stackhub-ha:"
MATRIX_STACK = "${{ matrix.stack }}"


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def pipeline_files() -> list[Path]:
    return sorted(PIPELINES.glob("*.yml"))


@cache
def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def workflow(name: str) -> dict[Any, Any]:
    return load(WORKFLOWS / name)


def triggers(data: dict[Any, Any]) -> Any:
    """A workflow's `on:` (PyYAML reads the key as the boolean True)."""
    return data["on"] if "on" in data else data[True]


def pipeline(name: str) -> dict[Any, Any]:
    return load(PIPELINES / name)


def stacks() -> set[str]:
    """The stacks of the project: one per Pulumi.<stack>.yaml."""
    return set(stack_names(ROOT))


@cache
def stack_file_config(stack: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    return dict(data["config"])


def role(stack: str) -> str:
    """The stack's `role`: hub, shared or global."""
    return str(stack_file_config(stack)[PREFIX + "role"])


def references(stack: str) -> set[str]:
    """The stacks a stack reads through StackReferences: its `sharedStack` and every `hubs[].stack`."""
    config = stack_file_config(stack)
    names = [config.get(PREFIX + "sharedStack")]
    names += [hub.get("stack") for hub in config.get(PREFIX + "hubs") or []]
    return {stack_reference_short_name(name) for name in names if name}


@dataclass(frozen=True)
class Script:
    """One shell script of a CI file: where it is and what it says."""

    file: str
    where: str
    text: str


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield f"{path}[{index}]", value
            yield from _walk(value, f"{path}[{index}]")


def scripts() -> list[Script]:
    """Every `run:` of the workflows and every `script:`/`bash:` of the pipelines."""
    found: list[Script] = []
    for path, keys in [(p, ("run",)) for p in workflow_files()] + [(p, ("script", "bash")) for p in pipeline_files()]:
        for where, value in _walk(load(path), path.name):
            if where.rsplit(".", 1)[-1] in keys and isinstance(value, str):
                found.append(Script(path.name, where, value))
    return found


def uses(path: Path) -> list[tuple[int, str, str]]:
    """(line number, action reference, the whole line) of every `uses:` in a workflow, read from its text."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)", line)
        if match:
            found.append((number, match.group(1), line))
    return found


def github_job_stacks(job: dict[str, Any]) -> list[str]:
    """The stacks a GitHub job runs for: its `env.STACK`, over its matrix when that is `${{ matrix.stack }}`."""
    stack = (job.get("env") or {}).get("STACK")
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    if stack is None:
        if "stack" in matrix:
            return list(matrix["stack"])
        return [entry["stack"] for entry in matrix.get("include", [])]
    if stack == MATRIX_STACK:
        return list(matrix["stack"])
    assert "${{" not in stack, f"unexpected STACK expression {stack!r}"
    return [stack]


def azure_template_stacks(steps: list[dict[str, Any]]) -> list[str]:
    """The `stack` parameters handed to step templates."""
    return [step["parameters"]["stack"] for step in steps if "template" in step]


def azure_job_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's steps; a deployment job keeps them under its strategy."""
    if "steps" in job:
        return list(job["steps"])
    strategy = job.get("strategy", {})
    return list(strategy.get("runOnce", {}).get("deploy", {}).get("steps", []))


def azure_job_stacks(job: dict[str, Any]) -> list[str]:
    """The stacks an Azure job runs for: its matrix's STACK values, or its template's `stack` parameter."""
    matrix = (job.get("strategy") or {}).get("matrix")
    if matrix:
        return [leg["STACK"] for leg in matrix.values()]
    return azure_template_stacks(azure_job_steps(job))


def azure_stage_needs(stages: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each stage's direct dependencies; a stage without `dependsOn` depends on the stage before it."""
    needs: dict[str, set[str]] = {}
    previous: str | None = None
    for stage in stages:
        depends = stage.get("dependsOn", [previous] if previous else [])
        needs[stage["stage"]] = {depends} if isinstance(depends, str) else set(depends)
        previous = stage["stage"]
    return needs


def ancestors(node: str, needs: dict[str, set[str]]) -> set[str]:
    """Everything `node` waits for, directly or through others."""
    seen: set[str] = set()
    todo = list(needs.get(node, ()))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(needs.get(current, ()))
    return seen
