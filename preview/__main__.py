"""`python -m preview <stack>`: an offline `pulumi preview` (or, with `--up`, an offline `pulumi up`) of one stack.

Without `--state`, the preview is of a first deployment: every resource is created, and what providers only
know after creating it is shown as "(known after pulumi up)". With `--state FILE` (what `--up --save-state FILE`
wrote, or `pulumi stack export --show-secrets` of a real stack) it previews the update from that state: each
resource is unchanged, updated, replaced or deleted as its provider and the engine would decide, and a plan the
engine would refuse (a protected resource replaced or deleted, a change a ChangeGuard refuses) fails with the
reasons, exit code 1. A stack that reads other stacks (the global stack reads every hub) is previewed after an
offline `up` of those stacks, so its preview shows the real wiring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from preview.engine import (
    PROJECT_DIR,
    EngineError,
    Mode,
    StackReferenceError,
    run_stack_with_references,
    stack_names,
)
from preview.manifests import write_manifests
from preview.render import as_json, as_tree
from preview.state import StackState, StateFileError
from stacks.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    """Run the preview; 0 on success, 1 with the config message on bad config."""
    parser = argparse.ArgumentParser(prog="python -m preview", description=__doc__)
    parser.add_argument("stack", help="stack name (a Pulumi.<stack>.yaml file)")
    parser.add_argument("--json", action="store_true", help="print the recorded resources and outputs as JSON")
    parser.add_argument(
        "--out", type=Path, help="also write every rendered Kubernetes object and Helm values (secrets redacted) here"
    )
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="project folder (default: this one)")
    parser.add_argument("--state", type=Path, help="preview (or apply) the update from this saved state")
    parser.add_argument("--up", action="store_true", help="apply offline, as `pulumi up` would, instead of previewing")
    parser.add_argument("--save-state", type=Path, help="with --up: write the resulting state here")
    args = parser.parse_args(argv)
    if args.stack not in stack_names(args.project_dir):
        parser.error(f"unknown stack {args.stack!r}; stacks: {', '.join(stack_names(args.project_dir))}")
    if args.save_state is not None and not args.up:
        parser.error("--save-state needs --up: only an (offline) update leaves a state")
    try:
        prior = StackState.load(args.state) if args.state is not None else None
        mode: Mode = "up" if args.up else "preview"
        run = run_stack_with_references(args.stack, project_dir=args.project_dir, mode=mode, prior=prior)
    except (ConfigError, StackReferenceError, StateFileError, EngineError) as error:
        print(f"error: {error}" if isinstance(error, EngineError) else error, file=sys.stderr)
        return 1
    print(as_json(run) if args.json else as_tree(run))
    if args.out is not None:
        written = write_manifests(run, args.out)
        print(f"Wrote {len(written)} manifest files to {args.out}", file=sys.stderr)
    if args.save_state is not None:
        run.state().save(args.save_state)
        print(f"Saved the state to {args.save_state}", file=sys.stderr)
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
