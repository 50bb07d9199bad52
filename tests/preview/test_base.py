"""`--diff BASE`: the prior state from a saved state, or from the program at a git commit deployed offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from preview.base import BaseError, head_commit, prior_state
from preview.engine import PROJECT_DIR
from tests.conftest import config_of, run_with

GIT = shutil.which("git") or "git"


def git(*args: str) -> str:
    return subprocess.run([GIT, "-C", str(PROJECT_DIR), *args], capture_output=True, text=True, check=True).stdout


def test_a_saved_state_is_the_prior_as_it_is(tmp_path: Path) -> None:
    saved = tmp_path / "state.json"
    run_with("hub-seattle", config_of("hub-seattle")).state().save(saved)
    prior, base = prior_state("hub-seattle", str(saved), PROJECT_DIR)
    assert prior is not None
    assert len(prior.resources) == 76
    assert (base.ref, base.commit) == (str(saved), None)


def test_a_git_ref_deploys_that_commits_program_in_a_worktree_that_is_removed_afterwards() -> None:
    worktrees_before = git("worktree", "list")
    prior, base = prior_state("hub-denver", "HEAD", PROJECT_DIR)
    assert base.commit == git("rev-parse", "HEAD").strip()
    assert prior is not None
    assert {r.urn.rsplit("::", 1)[-1] for r in prior} >= {"hub-denver-vnet", "hub-denver-aks-engine"}
    # Deployed: every output known, the ingress address allocated.
    (ip,) = [r for r in prior if r.urn.endswith("::hub-denver-ingress-ip")]
    assert ip.outputs["server_properties"]["ipAddress"].startswith("203.0.113.")
    assert git("worktree", "list") == worktrees_before


def test_a_stack_that_did_not_exist_at_the_base_has_no_prior_state() -> None:
    added = git("log", "--diff-filter=A", "--format=%H", "--", "Pulumi.global.yaml").split()[-1]
    prior, base = prior_state("global", f"{added}^", PROJECT_DIR)
    assert prior is None
    assert base.commit == git("rev-parse", f"{added}^").strip()


def test_a_base_that_is_neither_a_file_nor_a_commit_is_named() -> None:
    with pytest.raises(BaseError, match="'no-such-branch' is neither a saved state file nor a git commit"):
        prior_state("hub-seattle", "no-such-branch", PROJECT_DIR)


def test_head_is_the_checkout_s_commit() -> None:
    head = head_commit(PROJECT_DIR)
    assert head is not None
    assert head.commit == git("rev-parse", "HEAD").strip()


def test_the_cli_previews_head_as_an_update_from_the_base() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "preview", "hub-denver", "--diff", "HEAD", "--json"],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    digest = json.loads(result.stdout)
    assert digest["stackhubHa"]["base"]["commit"] == git("rev-parse", "HEAD").strip()
    # This checkout's program at HEAD against HEAD: every resource unchanged unless the work tree changed it.
    if not head_commit(PROJECT_DIR).dirty:  # type: ignore[union-attr]
        assert digest["steps"] == []
        assert set(digest["changeSummary"]) == {"same"}
