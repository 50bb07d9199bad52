"""How the workflows and pipelines are built: pinned actions, no expressions in scripts, least privilege, and the
jobs the review and deployment need (the offline preview and its comment, the online preview, `pulumi up` per stack
in its environment, one run per stack at a time, hubs on their own runners).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.pipelines.ci_files import (
    MATRIX_STACK,
    azure_job_stacks,
    azure_job_steps,
    github_job_stacks,
    pipeline,
    pipeline_files,
    role,
    scripts,
    stacks,
    triggers,
    uses,
    workflow,
    workflow_files,
)

PINNED = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[^@\s]+)?@[0-9a-f]{40}")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")
AZURE_MACRO = re.compile(r"\$\([A-Za-z_][A-Za-z0-9_.]*\)")


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(action + "@")]


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job.get("steps", []))


# --- every file ---------------------------------------------------------------------------------------------


def test_every_action_is_pinned_to_a_full_commit_with_its_version() -> None:
    pins: dict[str, set[str]] = {}
    for path in workflow_files():
        for number, reference, line in uses(path):
            assert PINNED.fullmatch(reference), f"{path.name}:{number}: {reference} is not pinned to a full commit"
            assert VERSION_COMMENT.search(line), f"{path.name}:{number}: {reference} has no `# vX.Y.Z` comment"
            action, _ = reference.split("@")
            pins.setdefault(action, set()).add(line.split("@", 1)[1].strip())
    assert {"actions/checkout", "actions/setup-python", "actions/upload-artifact", "pulumi/actions"} <= set(pins)
    assert {action: len(p) for action, p in pins.items()} == dict.fromkeys(pins, 1), "one pin per action everywhere"


def test_no_expression_is_expanded_inside_a_script() -> None:
    found = scripts()
    assert {s.file for s in found} == {p.name for p in workflow_files() + pipeline_files()}
    for script in found:
        where = f"{script.file} {script.where}"
        assert "${{" not in script.text, f"{where}: pass the value through env:, not ${{{{ }}}}"
        assert "$[" not in script.text, f"{where}: pass the value through env:, not $[ ]"
        assert not AZURE_MACRO.search(script.text), f"{where}: pass the value through env:, not a $(macro)"


def test_workflows_hold_only_read_rights_except_the_comment_jobs() -> None:
    for path in workflow_files():
        data = workflow(path.name)
        assert data["permissions"] == {"contents": "read"}, path.name
        for name, job in data["jobs"].items():
            rights = job.get("permissions", {})
            assert isinstance(rights, dict), f"{path.name} {name}: permissions must be listed, not {rights!r}"
            writes = {scope for scope, level in rights.items() if level == "write"}
            comments = "review.publish github" in runs(job) or any(
                s["with"].get("comment-on-pr") is True for s in steps_using(job, "pulumi/actions")
            )
            assert writes <= ({"pull-requests"} if comments else set()), f"{path.name} {name}: writes {writes}"


def test_checkouts_keep_no_credentials() -> None:
    for path in workflow_files():
        for name, job in workflow(path.name)["jobs"].items():
            for step in steps_using(job, "actions/checkout"):
                assert step["with"]["persist-credentials"] is False, f"{path.name} {name}"
    for path in pipeline_files():
        text = yaml.safe_dump(pipeline(path.name))
        assert text.count("checkout: self") == text.count("persistCredentials: 'false'"), path.name


# --- GitHub: pull requests ----------------------------------------------------------------------------------


def test_github_offline_preview_comments_each_stack_from_its_own_job() -> None:
    data = workflow("preview.yml")
    assert triggers(data) == {"pull_request": {"branches": ["main"]}}
    job = data["jobs"]["offline"]
    (checkout,) = steps_using(job, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0
    (python,) = steps_using(job, "actions/setup-python")
    assert python["with"]["python-version"] == "3.11"
    preview = next(s for s in job["steps"] if "-m preview" in s.get("run", ""))
    assert preview["env"] == {"STACK": MATRIX_STACK, "BASE_SHA": "${{ github.event.pull_request.base.sha }}"}
    assert re.search(r'-m preview "\$STACK" --diff "\$BASE_SHA" --markdown', preview["run"])
    assert '--out "artifacts/$STACK"' in preview["run"]
    publish = next(s for s in job["steps"] if "review.publish" in s.get("run", ""))
    assert publish["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert publish["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    (upload,) = steps_using(job, "actions/upload-artifact")
    assert upload["with"]["path"] == "artifacts/${{ matrix.stack }}/"
    assert job["concurrency"]["group"].endswith("${{ github.event.pull_request.number }}-${{ matrix.stack }}")
    assert job["strategy"]["fail-fast"] is False


def test_github_online_preview_runs_pulumi_with_the_policy_pack_where_configured() -> None:
    job = workflow("preview.yml")["jobs"]["online"]
    assert "vars.PULUMI_ONLINE == 'true'" in job["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    (pulumi,) = steps_using(job, "pulumi/actions")
    assert pulumi["with"] | {"pulumi-version": None} == {
        "command": "preview",
        "stack-name": MATRIX_STACK,
        "pulumi-version": None,
        "cloud-url": "${{ vars.PULUMI_BACKEND_URL }}",
        "policyPacks": "policy",
        "comment-on-pr": True,
        "edit-pr-comment": True,
        "always-include-summary": True,
        "diff": True,
    }
    for entry in job["strategy"]["matrix"]["include"]:
        if role(entry["stack"]) == "hub":
            assert entry["runs-on"] == ["self-hosted", entry["stack"]]


# --- GitHub: deployment -------------------------------------------------------------------------------------


def test_github_deploy_runs_on_main_only() -> None:
    data = workflow("deploy.yml")
    assert triggers(data) == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    assert all(job["if"] == "github.ref == 'refs/heads/main'" for job in data["jobs"].values())


@pytest.mark.parametrize("name", ["shared", "hubs", "global"])
def test_github_deploy_job_is_one_stack_one_environment_one_run_at_a_time(name: str) -> None:
    job = workflow("deploy.yml")["jobs"][name]
    stack = job["env"]["STACK"]
    assert job["environment"] == stack
    assert job["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}
    assert re.search(r'pulumi up --yes --non-interactive --stack "\$STACK" --policy-pack policy$', runs(job), re.M)
    assert job["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert job["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
    for each in github_job_stacks(job):
        if role(each) == "hub":
            assert job["runs-on"] == ["self-hosted", MATRIX_STACK if stack == MATRIX_STACK else each]
        else:
            assert job["runs-on"] == "ubuntu-24.04"


# --- Azure Pipelines ----------------------------------------------------------------------------------------


def test_azure_offline_preview_posts_threads_with_the_access_token_through_env() -> None:
    job = pipeline("preview.yml")["stages"][0]["jobs"][0]
    steps = azure_job_steps(job)
    assert steps[0] == {"checkout": "self", "fetchDepth": "0", "persistCredentials": "false"}
    preview = next(s for s in steps if "-m preview" in s.get("bash", ""))
    assert re.search(r'-m preview "\$STACK" --diff "\$base" --markdown', preview["bash"])
    publish = next(s for s in steps if "review.publish" in s.get("bash", ""))
    assert "review.publish azure-repos" in publish["bash"]
    assert publish["env"] == {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}
    assert any(s.get("publish") == "artifacts/$(STACK)" for s in steps)


def test_azure_deploy_stages_use_each_stacks_environment_and_pool() -> None:
    data = pipeline("deploy.yml")
    assert data["lockBehavior"] == "sequential"
    assert {"group": "stackhub-pulumi"} in data["variables"]
    pools = set()
    for stage in data["stages"]:
        (job,) = stage["jobs"]
        (stack,) = azure_job_stacks(job)
        assert job["environment"] == stack
        pools.add(job["pool"]["name"])
        if role(stack) == "hub":
            assert job["pool"]["name"] == f"stackhub-{stack}"
    assert len(pools) == len({s for s in stacks() if role(s) == "hub"}) + 1


def test_azure_template_runs_pulumi_with_the_policy_pack_and_secrets_through_env() -> None:
    template = pipeline("pulumi-stack.yml")
    pulumi = next(s for s in template["steps"] if "pulumi up" in s.get("bash", ""))
    assert 'pulumi up --yes --non-interactive --stack "$STACK" --policy-pack policy' in pulumi["bash"]
    assert 'pulumi preview --non-interactive --diff --stack "$STACK" --policy-pack policy' in pulumi["bash"]
    secrets = {"AZURE_STORAGE_KEY", "PULUMI_CONFIG_PASSPHRASE", "AZURE_CLIENT_SECRET", "ARM_CLIENT_SECRET"}
    assert {k: v for k, v in pulumi["env"].items() if k in secrets} == {name: f"$({name})" for name in secrets}
