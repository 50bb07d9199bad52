"""The prior state a pull request is compared with: the program as it was at the base commit, deployed offline.

`--diff BASE` takes a saved state file, or a git ref. For a ref, the base commit is checked out in a temporary
git worktree and its program, with its stack files, is deployed offline there (an `up`) by this checkout's
offline engine, in a subprocess of this same virtualenv: the engine's `preview/` package is copied over the
worktree's, so both sides of the comparison are judged by the same provider and engine rules. The resulting
state is then the prior state of an update preview of HEAD. A stack that did not exist at the base has no
prior state: everything in it is created.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from preview.digest import Commit
from preview.state import StackState

ENGINE_PACKAGE = Path(__file__).resolve().parent


class BaseError(Exception):
    """The base could not be read or deployed offline; the message says why."""


def head_commit(project_dir: Path) -> Commit | None:
    """HEAD of the checkout holding `project_dir`, and whether the work tree has changes; None outside git."""
    try:
        commit = _git(project_dir, "rev-parse", "HEAD")
    except BaseError:
        return None
    dirty = bool(_git(project_dir, "status", "--porcelain", "--untracked-files=no", "--", "."))
    return Commit("HEAD", commit, dirty)


def prior_state(stack: str, base: str, project_dir: Path) -> tuple[StackState | None, Commit]:
    """The state the base gives `stack` (None: the stack did not exist there), and what the base was."""
    saved = Path(base)
    if saved.is_file():
        return StackState.load(saved), Commit(str(saved), None)
    commit = _git(project_dir, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    top = Path(_git(project_dir, "rev-parse", "--show-toplevel"))
    relative = project_dir.resolve().relative_to(top.resolve())
    with tempfile.TemporaryDirectory(prefix="stackhub-ha-base-") as scratch:
        worktree = Path(scratch) / "base"
        _git(top, "worktree", "add", "--detach", "--quiet", str(worktree), commit)
        try:
            base_project = worktree / relative
            if not (base_project / f"Pulumi.{stack}.yaml").is_file():
                return None, Commit(base, commit)
            state_file = Path(scratch) / "state.json"
            _deploy_offline(stack, base_project, state_file, base)
            return StackState.load(state_file), Commit(base, commit)
        finally:
            _git(top, "worktree", "remove", "--force", str(worktree))


def _deploy_offline(stack: str, base_project: Path, state_file: Path, base: str) -> None:
    engine = base_project / "preview"
    shutil.rmtree(engine, ignore_errors=True)
    shutil.copytree(ENGINE_PACKAGE, engine, ignore=shutil.ignore_patterns("__pycache__"))
    # Only the state is wanted; the base may predate the policy pack.
    command = [sys.executable, "-m", "preview", stack, "--up", "--no-policy", "--save-state", str(state_file)]
    environment = {**os.environ, "PYTHONPATH": str(base_project)}
    done = subprocess.run(
        [*command, "--project-dir", str(base_project)],
        cwd=base_project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-20:] or ["(no output)"]
        raise BaseError(f"the program at {base} could not be deployed offline:\n" + "\n".join(reason))


def _git(directory: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise BaseError("--diff with a git ref needs git on PATH")
    try:
        done = subprocess.run(
            [git, "-C", str(directory), *args], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BaseError(f"git {args[0]} failed: {error}") from None
    if done.returncode != 0:
        if args[:2] == ("rev-parse", "--verify"):
            raise BaseError(f"{args[-1].removesuffix('^{commit}')!r} is neither a saved state file nor a git commit")
        raise BaseError(f"git {' '.join(args[:2])} failed: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()
