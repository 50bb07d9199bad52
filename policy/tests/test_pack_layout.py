"""The pack as `pulumi policy publish` ships it: manifest, pinned requirements, an entry point that only builds the
pack, modules that import nothing of the project; and the reference table of docs/policy.md in step with it."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import yaml
from pulumi_policy import StackValidationPolicy

from policy.stackhub_policies import POLICIES, hub_facts, pack_version
from policy.stackhub_policies.pack import PACK_FOLDER

PROJECT = PACK_FOLDER.parent
ALLOWED_IMPORTS = {"pulumi", "pulumi_policy", "google"}


def test_the_manifest_names_the_python_runtime_its_virtualenv_and_a_version() -> None:
    manifest = yaml.safe_load((PACK_FOLDER / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert manifest["version"] == pack_version()
    assert manifest["description"]


def test_requirements_pin_the_policy_sdk_and_the_sdk_the_project_pins() -> None:
    pins = (PACK_FOLDER / "requirements.txt").read_text().split()
    assert pins == ["pulumi-policy==1.21.0", "pulumi==3.272.0"]
    project = (PROJECT / "requirements.txt").read_text().split()
    assert set(pins) <= set(project)


def test_the_entry_point_only_builds_the_pack() -> None:
    tree = ast.parse((PACK_FOLDER / "__main__.py").read_text())
    calls = [n for n in tree.body if isinstance(n, ast.Expr)][1:]  # after the docstring
    assert [ast.unparse(c) for c in calls] == ["build_pack()"]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_pack_imports_only_the_standard_library_and_the_pulumi_sdks() -> None:
    sources = [*sorted((PACK_FOLDER / "stackhub_policies").glob("*.py")), PACK_FOLDER / "__main__.py"]
    for source in sources:
        foreign = _imports(source) - set(sys.stdlib_module_names) - ALLOWED_IMPORTS - {"stackhub_policies"}
        assert foreign == set(), source.name


def _reference_rows() -> dict[str, list[str]]:
    text = (PROJECT / "docs" / "policy.md").read_text()
    section = text.split("## Reference", 1)[1]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells
    return rows


def test_the_reference_table_lists_every_policy_with_its_level_kind_description_and_settings() -> None:
    rows = _reference_rows()
    assert list(rows) == [p.name for p in POLICIES]
    for policy in POLICIES:
        _, level, kind, what, settings = rows[policy.name]
        assert level == (policy.enforcement_level.value if policy.enforcement_level else "advisory")
        assert kind == ("stack" if isinstance(policy, StackValidationPolicy) else "resource")
        assert what == policy.description
        properties = policy.config_schema.properties if policy.config_schema else {}
        if not properties:
            assert settings == "none"
        for key, schema in properties.items():
            default = schema["default"]
            shown = "see [Quotas](#quotas)" if isinstance(default, dict) and default else f"`{json.dumps(default)}`"
            assert f"`{key}` = {shown}" in settings, (policy.name, key)


def test_the_quota_table_gives_the_hub_defaults() -> None:
    text = (PROJECT / "docs" / "policy.md").read_text()
    for name, default in hub_facts.DEFAULT_QUOTAS.items():
        assert re.search(rf"\(`{name}`\) \| {default} \|", text), name
