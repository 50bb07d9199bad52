"""The project file read for what stacks pass to components: the lifecycle's interpreter."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from components.aks_engine_cluster import LIFECYCLE_PYTHON, AksEngineClusterArgs, lifecycle_command
from stacks.project import PROJECT_DIR, ProjectFileError, lifecycle_python
from tests.aksengine.testkit import make_settings


def project(tmp_path: Path, runtime: str, name: str = "Pulumi.yaml") -> Path:
    (tmp_path / name).write_text(f"name: stackhub-ha\n{runtime}")
    return tmp_path


def venv(value: str) -> str:
    return f"runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: {value}\n"


def test_this_projects_interpreter_is_the_one_the_component_defaults_to() -> None:
    assert lifecycle_python() == ".venv/bin/python"
    assert lifecycle_python(PROJECT_DIR) == LIFECYCLE_PYTHON
    assert (PROJECT_DIR / lifecycle_python()).exists(), "the path is relative to the project folder"


@pytest.mark.parametrize(
    ("value", "posix", "windows"),
    [
        (".venv", ".venv/bin/python", r".venv\Scripts\python.exe"),
        ("venv", "venv/bin/python", r"venv\Scripts\python.exe"),
        ("./envs/pulumi/", "envs/pulumi/bin/python", r"envs\pulumi\Scripts\python.exe"),
    ],
)
def test_the_interpreter_follows_the_virtualenv_setting(tmp_path: Path, value: str, posix: str, windows: str) -> None:
    folder = project(tmp_path, venv(value))
    assert lifecycle_python(folder, platform="linux") == posix
    assert lifecycle_python(folder, platform="darwin") == posix
    assert lifecycle_python(folder, platform="win32") == windows


def test_a_project_file_spelled_yml_is_read_too(tmp_path: Path) -> None:
    assert lifecycle_python(project(tmp_path, venv("env"), name="Pulumi.yml"), platform="linux") == "env/bin/python"


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [
        ("runtime: python\n", "runtime.options.virtualenv is not set: set it to the project's virtualenv folder"),
        ("runtime:\n  name: python\n  options:\n    toolchain: pip\n", "runtime.options.virtualenv is not set"),
        (venv("/opt/venvs/stackhub"), "runtime.options.virtualenv = '/opt/venvs/stackhub': must be relative"),
        (venv("'C:\\venvs\\stackhub'"), "must be relative to the project folder"),
        (venv("''"), "runtime.options.virtualenv = '': must be a folder name"),
        (venv("3"), "runtime.options.virtualenv = 3: must be a folder name"),
        ("runtime: nodejs\n", "runtime = 'nodejs': this program needs the python runtime"),
    ],
    ids=["no-options", "no-virtualenv", "absolute", "windows-absolute", "empty", "not-a-string", "not-python"],
)
def test_a_project_file_without_a_usable_virtualenv_is_a_clear_error(
    tmp_path: Path, runtime: str, expected: str
) -> None:
    folder = project(tmp_path, runtime)
    with pytest.raises(ProjectFileError) as raised:
        lifecycle_python(folder)
    message = str(raised.value)
    assert message.startswith(f"{folder / 'Pulumi.yaml'}: ")
    assert expected in message


def test_a_missing_or_broken_project_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match=r"no project file \(Pulumi.yaml or Pulumi.yml\) in "):
        lifecycle_python(tmp_path)
    (tmp_path / "Pulumi.yaml").write_text("runtime: [python\n")
    with pytest.raises(ProjectFileError, match=r"Pulumi.yaml cannot be read as YAML \((ScannerError|ParserError)"):
        lifecycle_python(tmp_path)
    (tmp_path / "Pulumi.yaml").write_text("- python\n")
    with pytest.raises(ProjectFileError, match="is not a YAML mapping"):
        lifecycle_python(tmp_path)


def test_the_component_runs_the_lifecycle_with_the_interpreter_it_is_given(tmp_path: Path) -> None:
    args = AksEngineClusterArgs(
        settings=make_settings(),
        subnet_id="id",
        subnet_cidr="10.0.0.0/24",
        vnet_cidr="10.0.0.0/16",
        first_consecutive_static_ip="10.0.0.224",
        client_secret="x",
        lifecycle_python=lifecycle_python(project(tmp_path, venv("venv")), platform="linux"),
    )
    assert lifecycle_command(args) == ("venv/bin/python", "-m", "aksengine.lifecycle")
    assert lifecycle_command(dataclasses.replace(args, lifecycle_python=LIFECYCLE_PYTHON))[0] == ".venv/bin/python"
    with pytest.raises(ValueError, match="lifecycle_python must name the Python"):
        lifecycle_command(dataclasses.replace(args, lifecycle_python=""))
