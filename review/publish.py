"""Post or edit one stack's preview comment on a pull request, on GitHub or Azure Repos.

    python -m review.publish github --stack hub-seattle --body-file comment.md \\
        --head-sha "$HEAD_SHA" --head-time "$HEAD_TIME" --pr "$PR_NUMBER"
    python -m review.publish azure-repos --stack hub-seattle --body-file comment.md \\
        --head-sha "$HEAD_SHA" --head-time "$HEAD_TIME"

Each stack has one comment, found by the hidden marker on its first line (`review/marker.py`): the first run posts
it, later runs edit it, so the jobs of a matrix never touch each other's comment. The marker carries the previewed
commit and its time; a comment whose time is later than this run's is left as it is (a re-run of an older commit
must not replace the preview of a newer one). On GitHub only comments written by `--author` (the Actions bot by
default) count, so a comment someone pastes with a marker cannot capture or block the stack's comment.

The token is read from an environment variable (`GITHUB_TOKEN`, `SYSTEM_ACCESSTOKEN`), never from the command
line, and is never printed. Exit 0: posted, edited, or a newer comment kept; 1: nothing posted, with one line
saying what failed. When the preview itself failed (`--preview-exit-code` not 0) and wrote no comment, a short
comment saying so, with the end of its error output (`--preview-stderr`), is posted instead.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from review import marker as markers
from review.api import ApiClient, ApiError, UncertainWrite
from review.marker import Marker, MarkerError
from review.platforms import AzureRepos, Comment, GitHub, Platform

USER_AGENT = "stackhub-ha-review"
GITHUB_BOT = "github-actions[bot]"
STDERR_LINES = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PublishError(Exception):
    """Nothing was posted; the message says why."""


@dataclass(frozen=True)
class Outcome:
    """What the publisher did with the stack's comment."""

    action: Literal["created", "updated", "kept"]
    comment: Comment
    marker: Marker

    def message(self, platform: Platform, stack: str) -> str:
        where = self.comment.url or f"comment {self.comment.id}"
        if self.action == "kept":
            return (
                f"kept the comment for stack {stack} on {platform.describe()}: it shows a newer head"
                f" ({self.marker.head} at {markers.format_time(self.marker.time or _EPOCH)}); {where}"
            )
        return f"{self.action} the comment for stack {stack} on {platform.describe()}: {where}"


def publish(platform: Platform, body: str, marker: Marker, *, author: str | None = None) -> Outcome:
    """Create the stack's comment, or edit it, unless the posted one is of a newer head.

    `author`, when given, limits the search to comments by that account. A POST that failed without saying
    whether it created the comment is followed by a fresh look, so a retry edits instead of posting twice.
    """
    stamped = markers.stamp(body, marker)
    if len(stamped) > platform.limit:
        raise PublishError(
            f"{platform.name}: the comment for stack {marker.stack} has {len(stamped):,} characters,"
            f" more than the {platform.limit:,} a comment may hold; nothing was posted"
        )
    for attempt in (1, 2):
        existing = _own_comments(platform.list_comments(), marker.stack, author)
        if existing:
            posted_marker, posted = existing[-1]
            if posted_marker.is_newer_than(marker):
                return Outcome("kept", posted, posted_marker)
            return Outcome("updated", platform.update(posted, stamped), marker)
        try:
            return Outcome("created", platform.create(stamped), marker)
        except UncertainWrite:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _own_comments(comments: Sequence[Comment], stack: str, author: str | None) -> list[tuple[Marker, Comment]]:
    """The stack's comments (by `author`, if given), oldest marker time first; the last is the one to edit."""
    found: list[tuple[Marker, Comment]] = []
    for comment in comments:
        if author and comment.author != author:
            continue
        parsed = markers.parse(comment.body)
        if parsed is not None and parsed.stack == stack:
            found.append((parsed, comment))
    # Stable sort: among equal times the one listed last (the most recently posted) wins.
    return sorted(found, key=lambda pair: pair[0].time or _EPOCH)


def failure_body(stack: str, exit_code: int, stderr: str) -> str:
    """The comment posted when the preview failed without writing one: what failed and the end of its errors."""
    lines = stderr.strip().splitlines()[-STDERR_LINES:]
    text = "\n".join(lines) if lines else "(no error output)"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return (
        f"**Offline preview of stack `{stack}` failed** (exit code {exit_code}): there is no plan to review.\n\n"
        f"{fence}text\n{text}\n{fence}\n"
    )


def _read_body(args: argparse.Namespace) -> str:
    body = ""
    path: Path = args.body_file
    try:
        body = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if args.preview_exit_code == 0:
            raise PublishError(f"the comment file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PublishError(f"cannot read the comment file {path}: {error}") from None
    if body.strip() and markers.parse(body) is not None:
        return body
    if args.preview_exit_code != 0:
        stderr = ""
        if args.preview_stderr is not None:
            try:
                stderr = args.preview_stderr.read_text(encoding="utf-8", errors="replace")
            except OSError:
                stderr = f"(cannot read {args.preview_stderr})"
        return failure_body(args.stack, args.preview_exit_code, stderr)
    if not body.strip():
        raise PublishError(f"the comment file {path} is empty: the preview printed nothing")
    return body


def _token(variable: str, service: str) -> str:
    token = os.environ.get(variable, "").strip()
    if not token:
        raise PublishError(f"{service}: the token variable {variable} is empty or not set")
    return token


def _require(value: str | None, what: str, service: str) -> str:
    if not value:
        raise PublishError(f"{service}: no {what}")
    return value


def _pull_request_number(value: str | None, service: str, source: str) -> int:
    if value is None or not value.strip().isdigit() or int(value) < 1:
        raise PublishError(f"{service}: no pull request number: pass --pr N ({source})")
    return int(value)


def _github_pr_from_ref() -> str | None:
    match = re.fullmatch(r"refs/pull/(\d+)/(merge|head)", os.environ.get("GITHUB_REF", ""))
    return match.group(1) if match else None


def _platform(args: argparse.Namespace, sleep: Callable[[float], None]) -> tuple[Platform, str | None]:
    if args.platform == "github":
        service = "GitHub"
        client = ApiClient(
            _require(args.api_url, "API address: pass --api-url or set GITHUB_API_URL", service),
            _token(args.token_env, service),
            service=service,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": USER_AGENT,
            },
            max_attempts=args.max_attempts,
            sleep=sleep,
        )
        repository = _require(args.repo, "repository: pass --repo owner/name or set GITHUB_REPOSITORY", service)
        number = _pull_request_number(args.pr, service, "or run on a pull_request event")
        return GitHub(client, repository, number), args.author or None
    service = "Azure Repos"
    collection = _require(
        args.collection_uri, "collection URL: pass --collection-uri or set SYSTEM_COLLECTIONURI", service
    )
    client = ApiClient(
        collection,
        _token(args.token_env, service),
        service=service,
        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        max_attempts=args.max_attempts,
        sleep=sleep,
    )
    project = _require(args.project, "project: pass --project or set SYSTEM_TEAMPROJECT", service)
    repository = _require(args.repository, "repository: pass --repository or set BUILD_REPOSITORY_ID", service)
    number = _pull_request_number(args.pr, service, "or set SYSTEM_PULLREQUEST_PULLREQUESTID")
    return AzureRepos(client, project, repository, number, status=args.thread_status), args.author or None


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m review.publish",
        description="Post or edit one stack's preview comment on a pull request.",
    )
    platforms = parser.add_subparsers(dest="platform", required=True, metavar="{github,azure-repos}")

    def common(sub: argparse.ArgumentParser, token_env: str, author: str, pr: str | None) -> None:
        sub.add_argument("--stack", required=True, help="the stack the comment is about (its marker names it)")
        sub.add_argument("--body-file", required=True, type=Path, help="the preview's markdown ('-': stdin)")
        sub.add_argument("--head-sha", required=True, help="the pull request's head commit, kept in the marker")
        sub.add_argument(
            "--head-time",
            required=True,
            help="ISO time of the previewed commit; a posted comment with a later time is kept",
        )
        sub.add_argument("--pr", default=pr, help="pull request number (default: from the CI's variables)")
        sub.add_argument(
            "--author", default=author, help=f"only comments by this account are ours (default: {author or 'any'})"
        )
        sub.add_argument("--token-env", default=token_env, help=f"variable holding the token (default: {token_env})")
        sub.add_argument("--max-attempts", type=int, default=5, help="tries per request on 429/5xx (default: 5)")
        sub.add_argument(
            "--preview-exit-code", type=int, default=0, help="the preview's exit code; not 0 and no comment: say so"
        )
        sub.add_argument("--preview-stderr", type=Path, help="the preview's error output, quoted when it failed")

    github = platforms.add_parser("github", help="a GitHub pull request (issue comments)")
    common(github, "GITHUB_TOKEN", GITHUB_BOT, _github_pr_from_ref())
    github.add_argument("--repo", default=env("GITHUB_REPOSITORY"), help="owner/name (default: $GITHUB_REPOSITORY)")
    github.add_argument(
        "--api-url",
        default=env("GITHUB_API_URL", "https://api.github.com"),
        help="REST API root (default: $GITHUB_API_URL)",
    )

    azure = platforms.add_parser("azure-repos", help="an Azure Repos pull request (threads)")
    common(azure, "SYSTEM_ACCESSTOKEN", "", env("SYSTEM_PULLREQUEST_PULLREQUESTID"))
    azure.add_argument(
        "--collection-uri",
        default=env("SYSTEM_COLLECTIONURI"),
        help="organization URL (default: $SYSTEM_COLLECTIONURI)",
    )
    azure.add_argument("--project", default=env("SYSTEM_TEAMPROJECT"), help="project (default: $SYSTEM_TEAMPROJECT)")
    azure.add_argument(
        "--repository", default=env("BUILD_REPOSITORY_ID"), help="repository id or name (default: $BUILD_REPOSITORY_ID)"
    )
    azure.add_argument(
        "--thread-status",
        choices=sorted(AzureRepos.STATUSES),
        default="active",
        help="status of a new thread (default: active; 'closed' if branch policies require resolving comments)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, sleep: Callable[[float], None] | None = None) -> int:
    """Run the publisher; 0 when the comment is posted, edited or a newer one kept, 1 otherwise."""
    args = _parser().parse_args(argv)
    try:
        marker = Marker(
            stack=markers.check_stack(args.stack),
            head=markers.check_sha(args.head_sha.strip().lower()),
            time=markers.parse_time(args.head_time),
        )
        body = _read_body(args)
        platform, author = _platform(args, time.sleep if sleep is None else sleep)
        outcome = publish(platform, body, marker, author=author)
    except (PublishError, ApiError, MarkerError, OSError) as error:
        print(f"review.publish: error: {error}", file=sys.stderr)
        return 1
    print(f"review.publish: {outcome.message(platform, args.stack)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
