"""Verification step 3 (Python image): compare the scratch restore's counts with the manifest, and say so.

Reads what the earlier steps left in the work directory: `fetch.json` and `manifest.json` (fetch step),
`restore.json` and `restored-counts.json` (the mongo image's scratch restore). Prints the result, writes a one-line
summary to the container's termination message (shown by `kubectl describe pod` and in the Job's status), and
exits 0 only when the backup restored with the counts its manifest promises. A success also adds
`verified-<UTC time>.json` to the run in storage, which `--select latest-verified` looks for.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .blob import BlobClient, StorageError
from .common import add_storage_arguments, load_proxy_files, log, read_sas, read_status
from .profiles import PROFILES
from .runs import MANIFEST, VERIFIED_PREFIX, Run, compare_counts, stamp

MARKER_PERMISSIONS = "cl"


@dataclass
class Verification:
    """The outcome of one verification."""

    ok: bool
    run: str
    summary: str
    details: list[str] = field(default_factory=list)
    backup_age_seconds: int | None = None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="report", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--work", type=Path, default=Path("/work"))
    parser.add_argument("--sas-file", type=Path, help="to record a success in storage (needs create and list)")
    parser.add_argument("--termination-log", type=Path, default=Path("/dev/termination-log"))
    add_storage_arguments(parser)
    return parser.parse_args(argv)


def evaluate(work: Path, now: datetime) -> Verification:
    """Decide from the steps' files (pure apart from reading them)."""
    fetched = read_status(work / "fetch.json")
    if not fetched.get("ok"):
        return Verification(False, "", f"verification FAILED: {fetched.get('message')}")
    run = str(fetched.get("run", ""))
    restored = read_status(work / "restore.json")
    if not restored.get("ok"):
        return Verification(False, run, f"verification of {run} FAILED: {restored.get('message')}")
    try:
        manifest = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
        counts = json.loads((work / "restored-counts.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return Verification(False, run, f"verification of {run} FAILED: unreadable results ({error})")
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        return Verification(False, run, f"verification of {run} FAILED: the restored counts are not a JSON object")
    comparison = compare_counts(manifest, counts)
    hub, _, run_stamp = run.partition("/")
    age = int((now - Run(hub, run_stamp).created).total_seconds()) if run_stamp else None
    verdict = "verified" if comparison.ok else "FAILED: counts differ from the manifest"
    summary = f"backup {run} {verdict} ({comparison.compared} collections compared"
    summary += f", backup age {_age(age)})" if age is not None else ")"
    return Verification(comparison.ok, run, summary, comparison.lines, age)


def event_body(result: Verification, *, namespace: str, cronjob: str, now: datetime) -> dict[str, Any]:
    """A core/v1 Event about the verification CronJob, for whoever holds the right to create events."""
    moment = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{cronjob}-", "namespace": namespace},
        "involvedObject": {"apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob, "namespace": namespace},
        "reason": "BackupVerified" if result.ok else "BackupVerificationFailed",
        "type": "Normal" if result.ok else "Warning",
        "message": result.summary[:1024],
        "source": {"component": "backup-verification"},
        "firstTimestamp": moment,
        "lastTimestamp": moment,
        "count": 1,
    }


def record_success(client: BlobClient, result: Verification, now: datetime) -> str:
    """Add the verified marker to the run; returns its name."""
    name = f"{result.run}/{VERIFIED_PREFIX}{stamp(now)}.json"
    body = json.dumps({"verified": stamp(now), "summary": result.summary, "details": result.details}, indent=2)
    client.put_blob(name, body.encode() + b"\n", "application/json")
    return name


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "unknown"
    hours = seconds // 3600
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h {seconds % 3600 // 60} min"


def _write_termination(path: Path, text: str) -> None:
    with contextlib.suppress(OSError):  # outside Kubernetes there is no termination log
        path.write_text(text[:4096], encoding="utf-8")


def main(argv: Sequence[str] | None = None, now: datetime | None = None) -> int:
    args = parse_args(argv)
    moment = now or datetime.now(UTC)
    result = evaluate(args.work, moment)
    for line in result.details:
        log(f"  {line}")
    if result.ok and args.sas_file is not None:
        try:
            profile = PROFILES[args.storage_profile]
            load_proxy_files()
            sas = read_sas(args.sas_file, MARKER_PERMISSIONS, profile)
            client = BlobClient(sas, profile=profile, attempts=args.attempts, pause=args.pause)
            log(f"recorded {record_success(client, result, moment)}")
        except StorageError as error:
            result.ok = False
            result.summary += f"; but recording it FAILED: {error}"
    log(result.summary)
    _write_termination(args.termination_log, result.summary)
    (args.work / "verification.json").write_text(json.dumps(_as_json(result), indent=2) + "\n", encoding="utf-8")
    return 0 if result.ok else 1


def _as_json(result: Verification) -> Mapping[str, Any]:
    return {
        "ok": result.ok,
        "run": result.run,
        "summary": result.summary,
        "details": result.details,
        "backup_age_seconds": result.backup_age_seconds,
    }


if __name__ == "__main__":
    raise SystemExit(main())
