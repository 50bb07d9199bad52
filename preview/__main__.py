"""`python -m preview <stack> [--json] [--out DIR]`: an offline `pulumi preview` of one stack.

A stack that reads other stacks (the global stack reads every hub) is previewed after those stacks are run
offline, so its preview shows the real wiring: the values it reads are the referenced stacks' preview outputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from preview.engine import PROJECT_DIR, StackReferenceError, run_stack_with_references, stack_names
from preview.manifests import write_manifests
from preview.render import as_json, as_tree
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
    args = parser.parse_args(argv)
    if args.stack not in stack_names(args.project_dir):
        parser.error(f"unknown stack {args.stack!r}; stacks: {', '.join(stack_names(args.project_dir))}")
    try:
        run = run_stack_with_references(args.stack, project_dir=args.project_dir)
    except (ConfigError, StackReferenceError) as error:
        print(error, file=sys.stderr)
        return 1
    print(as_json(run) if args.json else as_tree(run))
    if args.out is not None:
        written = write_manifests(run, args.out)
        print(f"Wrote {len(written)} manifest files to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
