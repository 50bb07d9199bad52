"""The CI files pass the official schemas (check-jsonschema's vendored copies) and zizmor's audits.

Both tools run as programs from their own venv (`make ci-tools`, `.tools/ci`), offline. Each is first shown to
reject a broken file, so a tool that silently accepts everything cannot make these tests pass.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.pipelines.ci_files import TOOLS, WORKFLOWS, pipeline_files, workflow_files

AZURE_FLAGS = [
    "--builtin-schema", "vendor.azure-pipelines",
    # What check-jsonschema's own hook for Azure Pipelines passes: expand `${{ }}` template blocks, and read the
    # schema's patterns as the non-unicode regexes they were written as.
    "--data-transform", "azure-pipelines", "--regex-variant", "nonunicode",
]  # fmt: skip
GITHUB_FLAGS = ["--builtin-schema", "vendor.github-workflows"]
ZIZMOR_FLAGS = ["--offline", "--persona", "auditor", "--format", "json", "--no-progress", "--color", "never"]


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make ci-tools` (make test does)")
    return path


def run(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool(name), *args], check=False, capture_output=True, text=True, timeout=120)


def zizmor_findings(*paths: Path) -> list[dict[str, object]]:
    result = run("zizmor", *ZIZMOR_FLAGS, *paths)
    assert result.returncode in {0, 10, 11, 12, 13, 14}, result.stderr  # 1x: findings of the highest severity x
    findings = json.loads(result.stdout or "[]")
    assert isinstance(findings, list)
    return findings


def test_github_workflows_match_the_official_schema() -> None:
    result = run("check-jsonschema", *GITHUB_FLAGS, *workflow_files())

    assert result.returncode == 0, result.stdout + result.stderr


def test_azure_pipelines_match_the_official_schema() -> None:
    result = run("check-jsonschema", *AZURE_FLAGS, *pipeline_files())

    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    findings = zizmor_findings(WORKFLOWS)

    assert findings == [], "\n".join(f"{f['ident']}: {f['desc']}" for f in findings)


def test_each_zizmor_exception_gives_its_reason() -> None:
    for path in workflow_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for match in re.finditer(r"#\s*zizmor:\s*ignore\[([^\]]+)\](.*)", line):
                assert len(match.group(2).strip()) >= 20, f"{path.name}:{number}: ignore[{match.group(1)}] says no why"


def test_the_schema_check_rejects_a_broken_workflow_and_pipeline(tmp_path: Path) -> None:
    workflow = tmp_path / "broken.yml"
    workflow.write_text("on: push\npermissions:\n  contents: maybe\njobs: {}\n")
    pipeline = tmp_path / "broken-pipeline.yml"
    pipeline.write_text("steps:\n  - bassh: echo typo in the step's kind\n")

    assert run("check-jsonschema", *GITHUB_FLAGS, workflow).returncode == 1
    assert run("check-jsonschema", *AZURE_FLAGS, pipeline).returncode == 1


def test_zizmor_reports_a_pull_request_title_in_a_script(tmp_path: Path) -> None:
    workflow = tmp_path / "injection.yml"
    workflow.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  greet:\n    runs-on: ubuntu-24.04\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )

    assert "template-injection" in {f["ident"] for f in zizmor_findings(workflow)}
