"""`python -m preview <stack>`: an offline `pulumi preview` (or, with `--up`, an offline `pulumi up`) of one stack.

Without a prior state the preview is of a first deployment: every resource is created, and what providers only
know after creating it is shown as "(known after pulumi up)". With `--state FILE` (what `--up --save-state FILE`
wrote, or `pulumi stack export --show-secrets` of a real stack) or `--diff BASE` (a git ref: the program at that
commit, deployed offline; or a state file) it previews the update from that state: each resource is unchanged,
updated, replaced or deleted as its provider and the engine would decide, and a plan the engine would refuse (a
protected resource replaced or deleted, a change a ChangeGuard refuses) fails with the reasons, exit code 1.
A stack that reads other stacks (the global stack reads every hub) is previewed after an offline `up` of those
stacks, so its preview shows the real wiring. `--all` previews every stack in one process.

Output: a resource tree (default), `--json` (Pulumi's preview digest, preview/digest.py), `--markdown` (the
pull-request comment), `--mermaid` (the component graph). `--out DIR` also writes the rendered Kubernetes
manifests, Helm values, the AKS Engine apimodel and each hub ARM request (secrets redacted).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policy.stackhub_policies.wire import PolicyEvent
from preview.base import BaseError, head_commit, prior_state
from preview.digest import Commit, build_digest
from preview.digest import PolicyEvent as DigestPolicyEvent
from preview.engine import (
    PROJECT_DIR,
    EngineError,
    Mode,
    StackReferenceError,
    StackRun,
    run_stack_with_references,
    stack_config,
    stack_names,
    stack_reference_short_name,
)
from preview.manifests import write_artifacts
from preview.markdown import AZURE_REPOS_LIMIT, GITHUB_LIMIT
from preview.render import as_tree, policies_section
from preview.stack_file import StackFileError
from preview.state import StackState, StateFileError
from stacks.config import ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_POLICY = 2
FORMATS = ("json", "markdown", "mermaid")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m preview", description=__doc__)
    parser.add_argument("stack", nargs="?", help="stack name (a Pulumi.<stack>.yaml file)")
    parser.add_argument("--all", action="store_true", help="every stack, in one process")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="Pulumi's preview digest (`pulumi preview --json`)")
    output.add_argument("--markdown", action="store_true", help="the pull-request comment")
    output.add_argument("--mermaid", action="store_true", help="the component graph (what changed, with a prior)")
    parser.add_argument(
        "--comment-limit", type=int, default=GITHUB_LIMIT, help=f"comment size (Azure Repos: {AZURE_REPOS_LIMIT})"
    )
    parser.add_argument("--out", type=Path, help="also write manifests, Helm values, apimodel and ARM requests here")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="project folder (default: this one)")
    prior = parser.add_mutually_exclusive_group()
    prior.add_argument("--state", type=Path, help="preview (or apply) the update from this saved state")
    prior.add_argument("--diff", metavar="BASE", help="preview the update from a git ref's program, or a state file")
    parser.add_argument("--up", action="store_true", help="apply offline, as `pulumi up` would, instead of previewing")
    parser.add_argument("--save-state", type=Path, help="with --up: write the resulting state here")
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="the policy pack's config, as `--policy-pack-config` (default: policy/config/<stack>.json)",
    )
    parser.add_argument("--no-policy", action="store_true", help="do not run the policy pack")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the preview(s); 0 on success, 1 on bad config or a plan the engine refuses."""
    parser = _parser()
    args = parser.parse_args(argv)
    known = stack_names(args.project_dir)
    if args.all == bool(args.stack):
        parser.error("name one stack, or --all")
    if args.stack and args.stack not in known:
        parser.error(f"unknown stack {args.stack!r}; stacks: {', '.join(known)}")
    if args.save_state is not None and (not args.up or args.all):
        parser.error("--save-state needs --up and one stack: only an (offline) update of a stack leaves a state")
    deployed: dict[str, dict[str, Any]] = {}
    worst = EXIT_OK
    for stack in known if args.all else [args.stack]:
        worst = max(worst, _one(stack, args, deployed))
    return worst


def _one(stack: str, args: argparse.Namespace, deployed: dict[str, dict[str, Any]]) -> int:
    started = time.perf_counter_ns()
    base: Commit | None = None
    try:
        prior = StackState.load(args.state) if args.state is not None else None
        if args.diff is not None:
            prior, base = prior_state(stack, args.diff, args.project_dir)
        mode: Mode = "up" if args.up else "preview"
        run = run_stack_with_references(stack, project_dir=args.project_dir, mode=mode, prior=prior, deployed=deployed)
    except Exception as error:
        if not isinstance(error, _input_errors()):
            raise
        print(f"error: {error}" if isinstance(error, EngineError | BaseError) else error, file=sys.stderr)
        return EXIT_FAILED
    try:
        events, policy_note = ([], "") if args.no_policy else _policies(run, args)
    except (OSError, ValueError) as error:  # the pack's PolicyConfigError is a ValueError
        print(f"error: policy config: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.all:
        print(f"== {'pulumi up' if args.up else 'pulumi preview'} (offline) {stack}")
    print(_render(run, args, base, time.perf_counter_ns() - started, events))
    if not (args.json or args.markdown or args.mermaid):
        print(policies_section(events, policy_note))
    if args.out is not None:
        directory = args.out / stack if args.all else args.out
        written = write_artifacts(run, directory)
        print(f"Wrote {len(written)} files to {directory}", file=sys.stderr)
    if args.save_state is not None:
        run.state().save(args.save_state)
        print(f"Saved the state to {args.save_state}", file=sys.stderr)
    if run.errors:
        return EXIT_FAILED
    return EXIT_POLICY if any(e.enforcement_level == "mandatory" for e in events) else EXIT_OK


def _input_errors() -> tuple[type[Exception], ...]:
    """What a run reports in one message, without a traceback: bad config, stack or project files, references,
    states, a plan the engine refuses."""
    known: list[type[Exception]] = [ConfigError, StackFileError, StackReferenceError, StateFileError, BaseError]
    known.append(EngineError)
    try:
        from stacks.project import ProjectFileError  # noqa: PLC0415 (a --diff base may predate it)
    except ImportError:
        return tuple(known)
    return (*known, ProjectFileError)


def _policies(run: StackRun, args: argparse.Namespace) -> tuple[list[PolicyEvent], str]:
    """The pack's events, and a note on how it ran. A first deployment runs it as docs/policy.md has a hub's
    first deploy run: every level advisory, because the engine plans no outputs for Kubernetes objects whose
    provider has no cluster yet, so the policies that add them up can only say "cannot verify"."""
    # Imported here: the base of a --diff runs this engine with the base's program, which may have no policy/.
    from preview.policy import policy_config, policy_events  # noqa: PLC0415

    config = policy_config(run.stack, args.policy_config)
    if run.prior_given or args.up:
        return policy_events(run, config), ""
    note = 'first deployment: policies run as advisory (docs/policy.md, "The first deploy of a hub")'
    return policy_events(run, {**config, "all": "advisory"}), note


def as_digest_event(event: PolicyEvent) -> DigestPolicyEvent:
    """A pack event in the digest's `policyEvents` shape (the engine's streaming `policyEvent`)."""
    return DigestPolicyEvent(
        resource_urn=event.urn,
        message=event.message,
        policy_name=event.policy_name,
        policy_pack_name=event.policy_pack_name,
        policy_pack_version=event.policy_pack_version,
        enforcement_level=event.enforcement_level,
        severity=event.severity,
    )


def _render(
    run: StackRun, args: argparse.Namespace, base: Commit | None, duration_ns: int, events: list[PolicyEvent]
) -> str:
    if not (args.json or args.markdown or args.mermaid):
        return as_tree(run)
    digest = build_digest(
        run,
        base=base,
        head=head_commit(args.project_dir),
        duration_ns=duration_ns,
        policy_events=[as_digest_event(e) for e in events],
    )
    if args.json:
        import json  # noqa: PLC0415

        return json.dumps(digest, indent=2, default=str)
    if args.markdown:
        from preview.markdown import render_comment  # noqa: PLC0415

        return str(render_comment(digest, limit=args.comment_limit))
    from preview.mermaid import fenced, render_graph, render_stack_graph  # noqa: PLC0415

    graphs = [fenced(render_graph(digest, changed_only=run.prior_given))]
    references = stack_references(args.project_dir)
    if any(run.stack in readers for readers in references.values()) or references.get(run.stack):
        # The stack's place among the stacks: for the global stack, its fan-in over every hub.
        graphs.append(fenced(render_stack_graph(references)))
    return "\n\n".join(graphs)


def stack_references(project_dir: Path) -> dict[str, list[str]]:
    """Each stack file's stack -> the stacks it reads (a hub's `sharedStack`, the global stack's `hubs[].stack`
    and `sharedStack`), by their short names."""
    found: dict[str, list[str]] = {}
    for stack in stack_names(project_dir):
        values, _ = stack_config(stack, project_dir)
        config = {k.removeprefix("stackhub-ha:"): v for k, v in values.items()}
        named = [config.get("sharedStack"), *(h.get("stack") for h in config.get("hubs") or [] if isinstance(h, dict))]
        found[stack] = [stack_reference_short_name(str(n)) for n in named if n]
    return found


if __name__ == "__main__":
    sys.exit(main())
