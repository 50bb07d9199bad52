"""What the CI files name exists: the Python modules and their options, the make targets, the templates, the
policy pack, the stacks; and deployments follow the order in which the stacks read each other.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from functools import cache

import pytest

from tests.pipelines.ci_files import (
    PIPELINES,
    ROOT,
    ancestors,
    azure_job_stacks,
    azure_stage_needs,
    github_job_stacks,
    pipeline,
    pipeline_files,
    references,
    role,
    scripts,
    stacks,
    workflow,
    workflow_files,
)

POLICY_PACK = "policy"  # the pack's folder (issue 10): `pulumi up --policy-pack policy`
MODULE = re.compile(r"python[0-9.]*\s+-m\s+([A-Za-z_][\w.]*)((?:\s+[^\s|;&>]+)*)")


def commands() -> list[tuple[str, str]]:
    """(module, its arguments) of every `python -m` in the scripts, continuation lines joined."""
    found = []
    for script in scripts():
        text = script.text.replace("\\\n", " ")
        found += [(m.group(1), m.group(2)) for m in MODULE.finditer(text)]
    return found


@cache
def help_text(*argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *argv, "--help"], cwd=ROOT, check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_modules_run_by_the_ci_files_exist() -> None:
    modules = {module for module, _ in commands()}

    assert {"preview", "review.publish"} <= modules
    for module in modules:
        path = ROOT.joinpath(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), f"no module {module}"


def test_options_passed_to_the_project_modules_exist() -> None:
    checked = 0
    for module, arguments in commands():
        argv = [module]
        if module == "review.publish":
            argv.append(arguments.split()[0])  # the platform sub-command
        for option in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", arguments):
            assert re.search(rf"(?<![\w-]){option}(?![\w-])", help_text(*argv)), f"{' '.join(argv)}: no {option}"
            checked += 1
    assert checked >= 10


def test_make_targets_run_by_the_ci_files_exist() -> None:
    targets = {m.group(1) for s in scripts() for m in re.finditer(r"(?<![\w/])make\s+([^\s;&|=]+)(?=\s|$)", s.text)}

    make = shutil.which("make")
    assert targets
    assert make is not None
    for target in targets:
        result = subprocess.run([make, "-n", target], cwd=ROOT, check=False, capture_output=True, text=True)
        assert result.returncode == 0, f"make {target}: {result.stderr.strip()}"


def test_step_templates_exist() -> None:
    for path in pipeline_files():
        for match in re.finditer(r"^\s*-?\s*template:\s*(\S+)", path.read_text(encoding="utf-8"), re.M):
            assert (PIPELINES / match.group(1)).is_file(), f"{path.name}: no template {match.group(1)}"


def test_every_policy_pack_named_is_the_project_pack() -> None:
    named = [m.group(1) for s in scripts() for m in re.finditer(r"--policy-pack\s+(\S+)", s.text)]
    for path in workflow_files():
        named += re.findall(r"policyPacks:\s*(\S+)", path.read_text(encoding="utf-8"))

    assert len(named) >= 3
    assert set(named) == {POLICY_PACK}


def test_the_policy_pack_the_pipelines_run_exists() -> None:
    pack = ROOT / POLICY_PACK

    assert (pack / "PulumiPolicy.yaml").is_file(), f"`--policy-pack {POLICY_PACK}`: no {POLICY_PACK}/PulumiPolicy.yaml"
    assert (pack / "__main__.py").is_file(), f"`--policy-pack {POLICY_PACK}`: no {POLICY_PACK}/__main__.py"


# --- stacks -------------------------------------------------------------------------------------------------


def test_the_stack_files_reference_each_other_as_the_pattern_does() -> None:
    hubs = {s for s in stacks() if role(s) == "hub"}

    assert hubs
    assert all(references(hub) == {"shared"} for hub in hubs)
    assert hubs <= references("global")
    assert references("shared") == set()


def test_every_stack_is_previewed_on_both_platforms() -> None:
    github = workflow("preview.yml")["jobs"]
    azure = pipeline("preview.yml")["stages"]

    for name, job in github.items():
        assert Counter(github_job_stacks(job)) == Counter(stacks()), f"preview.yml job {name}"
    assert Counter(azure_job_stacks(azure[0]["jobs"][0])) == Counter(stacks())
    assert Counter(s for job in azure[1]["jobs"] for s in azure_job_stacks(job)) == Counter(stacks())


def github_deploy_graph() -> tuple[dict[str, str], dict[str, set[str]]]:
    """Which job deploys each stack, and what each job waits for (`needs`)."""
    jobs = workflow("deploy.yml")["jobs"]
    job_of: dict[str, str] = {}
    for name, job in jobs.items():
        for stack in github_job_stacks(job):
            assert stack not in job_of, f"{stack} deployed twice"
            job_of[stack] = name
    needs = {
        name: set([job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []))
        for name, job in jobs.items()
    }
    return job_of, needs


def azure_deploy_graph() -> tuple[dict[str, str], dict[str, set[str]]]:
    """Which stage deploys each stack, and what each stage waits for (`dependsOn`)."""
    stages = pipeline("deploy.yml")["stages"]
    stage_of: dict[str, str] = {}
    for stage in stages:
        for job in stage["jobs"]:
            for stack in azure_job_stacks(job):
                assert stack not in stage_of, f"{stack} deployed twice"
                stage_of[stack] = stage["stage"]
    return stage_of, azure_stage_needs(stages)


@pytest.mark.parametrize("graph", [github_deploy_graph, azure_deploy_graph], ids=["github", "azure"])
def test_deployment_follows_the_stack_references(graph: object) -> None:
    assert callable(graph)
    node_of, needs = graph()

    assert set(node_of) == stacks()
    for stack in stacks():
        before = ancestors(node_of[stack], needs)
        for upstream in references(stack):
            assert node_of[upstream] in before, f"{stack} is deployed without waiting for {upstream}, which it reads"
    hubs = [s for s in stacks() if role(s) == "hub"]
    for hub in hubs:
        others = {node_of[h] for h in hubs if node_of[h] != node_of[hub]}
        assert not others & ancestors(node_of[hub], needs), f"{hub} waits for another hub: they run in parallel"


def test_hub_jobs_of_a_matrix_do_not_stop_each_other() -> None:
    job = workflow("deploy.yml")["jobs"]["hubs"]

    assert job["strategy"]["fail-fast"] is False
