"""Where a backup run lives in the container, what its manifest says, which run a restore takes, and the counts.

Layout: `<hub>/<UTC start, YYYYMMDDTHHMMSSZ>/` holds `archive.gz.cms` (the encrypted archive), then
`manifest.json`, written last: a run without a manifest is an unfinished or failed run and never counts. A
verification that succeeds adds `verified-<UTC time>.json`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .blob import BlobItem

ARCHIVE = "archive.gz.cms"
MANIFEST = "manifest.json"
VERIFIED_PREFIX = "verified-"
MANIFEST_FORMAT = 1
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
LATEST = "latest"
LATEST_VERIFIED = "latest-verified"
SYSTEM_DATABASES = frozenset({"admin", "config", "local"})
_HUB = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_STAMP = re.compile(r"^\d{8}T\d{6}Z$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SelectionError(LookupError):
    """No backup matches the choice."""


class ManifestError(ValueError):
    """A manifest that cannot be trusted to describe its archive."""


def check_hub(hub: str) -> str:
    """A hub name usable as the first path segment (lowercase letters, digits, dashes)."""
    if not _HUB.match(hub):
        raise ValueError(f"hub name {hub!r}: lowercase letters, digits and dashes, at most 63")
    return hub


def stamp(moment: datetime) -> str:
    """The UTC timestamp that names a run."""
    return moment.astimezone(UTC).strftime(STAMP_FORMAT)


def run_prefix(hub: str, run_stamp: str) -> str:
    """`<hub>/<stamp>/`."""
    if not _STAMP.match(run_stamp):
        raise ValueError(f"run timestamp {run_stamp!r}: expected YYYYMMDDTHHMMSSZ")
    return f"{check_hub(hub)}/{run_stamp}/"


@dataclass
class Run:
    """One backup run as the listing shows it."""

    hub: str
    stamp: str
    archive_size: int | None = None
    manifest: bool = False
    verified: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """`<hub>/<stamp>`, how operators name a backup."""
        return f"{self.hub}/{self.stamp}"

    @property
    def prefix(self) -> str:
        return f"{self.name}/"

    @property
    def created(self) -> datetime:
        return datetime.strptime(self.stamp, STAMP_FORMAT).replace(tzinfo=UTC)

    @property
    def complete(self) -> bool:
        """An archive and its manifest: the only runs that count."""
        return self.manifest and self.archive_size is not None


def group_runs(hub: str, items: Iterable[BlobItem]) -> list[Run]:
    """The runs of one hub, oldest first, from a listing of `<hub>/`."""
    runs: dict[str, Run] = {}
    for item in items:
        parts = item.name.split("/")
        if len(parts) != 3 or parts[0] != hub or not _STAMP.match(parts[1]):
            continue
        run = runs.setdefault(parts[1], Run(hub, parts[1]))
        if parts[2] == ARCHIVE:
            run.archive_size = item.size
        elif parts[2] == MANIFEST:
            run.manifest = True
        elif parts[2].startswith(VERIFIED_PREFIX):
            run.verified.append(parts[2])
    return [runs[key] for key in sorted(runs)]


def select_run(runs: Sequence[Run], choice: str) -> Run:
    """`latest` complete run, `latest-verified` complete run, or a run by `<hub>/<stamp>` or `<stamp>`."""
    complete = [run for run in runs if run.complete]
    incomplete = len(runs) - len(complete)
    ignored = f" ({incomplete} run(s) without a manifest ignored)" if incomplete else ""
    if choice == LATEST:
        if not complete:
            raise SelectionError(f"no complete backup{ignored}")
        return complete[-1]
    if choice == LATEST_VERIFIED:
        verified = [run for run in complete if run.verified]
        if not verified:
            raise SelectionError(f"no verified backup among {len(complete)} complete backup(s){ignored}")
        return verified[-1]
    wanted = choice.rsplit("/", 1)[-1]
    for run in complete:
        if run.stamp == wanted and choice in (run.stamp, run.name):
            return run
    if any(run.stamp == wanted for run in runs):
        raise SelectionError(f"backup {choice} has no manifest: it did not finish and cannot be restored")
    latest = complete[-1].name if complete else "none"
    raise SelectionError(f"no backup named {choice} (latest complete: {latest})")


def build_manifest(
    *,
    hub: str,
    run_stamp: str,
    archive_size: int,
    archive_sha256: str,
    block_size: int,
    blocks: int,
    summary: Mapping[str, Any],
    tools: Mapping[str, str],
    recipients: Sequence[str],
    finished: datetime,
) -> dict[str, Any]:
    """The manifest document (see `check_manifest` for what a reader relies on)."""
    return {
        "format": MANIFEST_FORMAT,
        "hub": hub,
        "run": f"{hub}/{run_stamp}",
        "started": datetime.strptime(run_stamp, STAMP_FORMAT).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished": finished.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "archive": {
            "blob": ARCHIVE,
            "size": archive_size,
            "sha256": archive_sha256,
            "blocks": blocks,
            "block_size": block_size,
            "encryption": "CMS AuthEnvelopedData, AES-256-GCM (openssl cms)",
            "recipients_sha256": list(recipients),
            "content": "mongodump --archive --gzip --oplog",
        },
        "tools": dict(tools),
        **summary,
    }


def check_manifest(manifest: Mapping[str, Any], run: Run) -> tuple[int, str]:
    """The archive's size and SHA-256 the manifest vouches for; refuses a manifest that does not fit its run."""
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{run.name}: manifest format {manifest.get('format')!r}, expected {MANIFEST_FORMAT}")
    if manifest.get("run") != run.name:
        raise ManifestError(f"{run.name}: the manifest names run {manifest.get('run')!r}")
    archive = manifest.get("archive")
    size = archive.get("size") if isinstance(archive, dict) else None
    sha = archive.get("sha256") if isinstance(archive, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ManifestError(f"{run.name}: the manifest gives no archive size")
    if not isinstance(sha, str) or not _SHA256.match(sha):
        raise ManifestError(f"{run.name}: the manifest gives no archive SHA-256")
    if not isinstance(manifest.get("collections"), dict):
        raise ManifestError(f"{run.name}: the manifest gives no collection counts")
    return size, sha


def application_namespace(namespace: str) -> bool:
    """Collections a verification compares: not in admin, config or local, not `system.*`."""
    database, _, collection = namespace.partition(".")
    return database not in SYSTEM_DATABASES and bool(collection) and not collection.startswith("system.")


@dataclass
class Comparison:
    """Restored counts against the manifest."""

    ok: bool
    lines: list[str]
    compared: int


def compare_counts(manifest: Mapping[str, Any], restored: Mapping[str, int]) -> Comparison:
    """Whether every application collection came back with the count the manifest recorded.

    The manifest counts what was dumped; the oplog replay then applies the writes made during the dump. So a
    collection may end between `count - deletes` and `count + inserts` of its oplog entries; with no oplog
    entries for it, it must match exactly. A database where other commands ran during the dump (create, drop,
    ...) cannot be bounded: its collections are reported, and the verification fails rather than guesses.
    """
    expected: Mapping[str, int] = manifest.get("collections") or {}
    oplog: Mapping[str, Any] = manifest.get("oplog") or {}
    operations: Mapping[str, Mapping[str, int]] = oplog.get("operations") or {}
    commands: Mapping[str, int] = oplog.get("commands") or {}
    lines: list[str] = []
    ok = True
    names = sorted({ns for ns in [*expected, *restored] if application_namespace(ns)})
    for namespace in names:
        ops = operations.get(namespace, {})
        low = expected.get(namespace, 0) - int(ops.get("d", 0))
        high = expected.get(namespace, 0) + int(ops.get("i", 0))
        got = restored.get(namespace)
        if namespace not in expected and not ops:
            ok = False
            lines.append(f"{namespace}: restored {got} documents but the backup has no such collection")
        elif got is None:
            ok = False
            lines.append(f"{namespace}: missing after the restore (expected {expected.get(namespace)})")
        elif commands.get(namespace.split(".", 1)[0]):
            ok = False
            lines.append(f"{namespace}: {got} documents; not comparable, commands ran in its database during the dump")
        elif not low <= got <= high:
            ok = False
            bound = f"{low}" if low == high else f"{low}..{high}"
            lines.append(f"{namespace}: restored {got} documents, expected {bound}")
        else:
            lines.append(f"{namespace}: {got} documents, as expected")
    if not names:
        lines.append("the backup holds no application collection")
    return Comparison(ok, lines, len(names))
