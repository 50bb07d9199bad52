"""What the project file (`Pulumi.yaml`) says that stacks pass on to components.

Components never read the project file or stack config themselves; a stack calls these functions and passes
plain values in the components' Args.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
VIRTUALENV_KEY = "runtime.options.virtualenv"


class ProjectFileError(ValueError):
    """The project file cannot say what is asked of it: names the file, the key, the value and what is allowed."""


def lifecycle_python(project_dir: Path = PROJECT_DIR, *, platform: str = sys.platform) -> str:
    """The interpreter of the project's virtualenv, relative to the project folder, in POSIX form on POSIX.

    The cluster's lifecycle command runs this interpreter in the project folder (pulumi-command's working
    directory), the same virtualenv Pulumi runs the program with (`runtime.options.virtualenv`). It stays
    relative so that the command line stored in the protected cluster's state does not change when the checkout
    or the agent moves. `<virtualenv>/bin/python`, or `<virtualenv>\\Scripts\\python.exe` on Windows (`platform`
    as in `sys.platform`). Raises ProjectFileError when the file has no usable relative virtualenv.
    """
    path, document = _read(project_dir)
    virtualenv = _virtualenv(path, document)
    if platform.startswith("win"):
        return str(PureWindowsPath(virtualenv) / "Scripts" / "python.exe")
    return str(PurePosixPath(virtualenv) / "bin" / "python")


def _read(project_dir: Path) -> tuple[Path, Mapping[str, Any]]:
    for name in PROJECT_FILES:
        path = project_dir / name
        if not path.is_file():
            continue
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise ProjectFileError(f"{path} cannot be read as YAML ({type(error).__name__}: {error})") from None
        if not isinstance(document, Mapping):
            raise ProjectFileError(f"{path} is not a YAML mapping of project settings")
        return path, document
    raise ProjectFileError(f"no project file ({' or '.join(PROJECT_FILES)}) in {project_dir}")


def _virtualenv(path: Path, document: Mapping[str, Any]) -> str:
    runtime = document.get("runtime")
    name = runtime.get("name") if isinstance(runtime, Mapping) else runtime
    if name != "python":
        raise ProjectFileError(f"{path}: runtime = {name!r}: this program needs the python runtime")
    options = runtime.get("options") if isinstance(runtime, Mapping) else None
    value = options.get("virtualenv") if isinstance(options, Mapping) else None
    if value is None:
        raise ProjectFileError(
            f"{path}: {VIRTUALENV_KEY} is not set: set it to the project's virtualenv folder, relative to the "
            "project (for example `virtualenv: .venv`); the cluster's lifecycle command runs that virtualenv's "
            "Python"
        )
    if not isinstance(value, str) or not value.strip():
        raise ProjectFileError(f"{path}: {VIRTUALENV_KEY} = {value!r}: must be a folder name, such as .venv")
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or PureWindowsPath(value).drive:
        raise ProjectFileError(
            f"{path}: {VIRTUALENV_KEY} = {value!r}: must be relative to the project folder (for example .venv), "
            "so that the lifecycle command stored in the cluster's state stays the same wherever the project is "
            "checked out"
        )
    return value.strip()
