"""The hidden marker that names a preview comment's stack and the commit it previewed.

The offline preview starts its markdown with `<!-- stackhub-ha-preview stack=<stack> -->`. Before posting, the
publisher rewrites that line to also carry the previewed head commit and its time:

    <!-- stackhub-ha-preview stack=hub-seattle head=1f2e3d4 time=2025-01-31T09:15:00Z -->

GitHub and Azure Repos render an HTML comment as nothing, so the line is invisible to reviewers. The time lets a
late job (a re-run of an older commit, a slow runner) see that a newer preview is already posted and leave it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "<!-- stackhub-ha-preview"
_SUFFIX = "-->"
_STACK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHA = re.compile(r"[0-9a-f]{7,64}")
_ATTRIBUTE = re.compile(r"([a-z]+)=(\S+)")


class MarkerError(ValueError):
    """A stack name, commit or time that cannot go into a marker, or a body marked for another stack."""


@dataclass(frozen=True)
class Marker:
    """What a comment's first line says: its stack, and (once published) the head commit and that commit's time."""

    stack: str
    head: str | None = None
    time: datetime | None = None

    def line(self) -> str:
        """The marker as the first line of a comment."""
        parts = [PREFIX, f"stack={self.stack}"]
        if self.head is not None:
            parts.append(f"head={self.head}")
        if self.time is not None:
            parts.append(f"time={format_time(self.time)}")
        parts.append(_SUFFIX)
        return " ".join(parts)

    def is_newer_than(self, other: Marker) -> bool:
        """True when this marker's time is strictly later than `other`'s; a marker without a time is oldest."""
        if self.time is None:
            return False
        return other.time is None or self.time > other.time


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with a timezone (`2025-01-31T10:15:00+01:00`, `...Z`), in UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MarkerError(f"time {text!r} is not an ISO 8601 date and time") from None
    if value.tzinfo is None:
        raise MarkerError(f"time {text!r} has no timezone: give it as UTC (`Z`) or with an offset")
    return value.astimezone(UTC).replace(microsecond=0)


def format_time(value: datetime) -> str:
    """UTC, to the second, with `Z`: the form stored in markers."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_stack(stack: str) -> str:
    """The stack name, if it can stand in a marker (the characters of a `Pulumi.<stack>.yaml` name)."""
    if not _STACK.fullmatch(stack):
        raise MarkerError(f"stack name {stack!r} is not a stack name (letters, digits, '.', '_', '-')")
    return stack


def check_sha(sha: str) -> str:
    """A commit id in lower-case hex (7 to 64 digits)."""
    if not _SHA.fullmatch(sha):
        raise MarkerError(f"head commit {sha!r} is not a commit id (7 to 64 lower-case hex digits)")
    return sha


def parse(body: str) -> Marker | None:
    """The marker on the body's first line, or None when the first line is not one of ours."""
    first = body.split("\n", 1)[0].strip()
    if not (first.startswith(PREFIX + " ") and first.endswith(_SUFFIX)):
        return None
    attributes = dict(_ATTRIBUTE.findall(first[len(PREFIX) : -len(_SUFFIX)]))
    stack = attributes.get("stack")
    if stack is None or not _STACK.fullmatch(stack):
        return None
    head = attributes.get("head")
    time: datetime | None = None
    if "time" in attributes:
        try:
            time = parse_time(attributes["time"])
        except MarkerError:
            time = None  # a marker with a broken time counts as the oldest, so it is replaced
    return Marker(stack=stack, head=head if head is not None and _SHA.fullmatch(head) else None, time=time)


def stamp(body: str, marker: Marker) -> str:
    """The body with `marker` as its first line: the preview's own marker replaced, or the marker added on top.

    A body whose marker names another stack is refused: it is another job's comment, posted under the wrong name.
    """
    found = parse(body)
    if found is None:
        return marker.line() + "\n" + body
    if found.stack != marker.stack:
        raise MarkerError(f"the comment is marked for stack {found.stack!r}, not {marker.stack!r}")
    rest = body.split("\n", 1)[1] if "\n" in body else ""
    return marker.line() + "\n" + rest
