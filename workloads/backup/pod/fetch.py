"""Restore and verification step 1 (Python image): choose a backup, download it, check it against its manifest.

Writes `archive.gz.cms` and `manifest.json` to the work directory and `fetch.json` ({"ok", "message", "run"}).
A download whose size or SHA-256 differs from the manifest is deleted and refused: nothing altered or damaged
reaches the decryption step. With `--record-failure` (verification) a failure is recorded in `fetch.json` and the
step exits 0, so that the report step runs and says why; without it (restore) the step fails.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from .blob import BlobClient, StorageError
from .common import add_storage_arguments, load_proxy_files, log, read_sas, write_status
from .profiles import PROFILES
from .runs import (
    ARCHIVE,
    LATEST,
    MANIFEST,
    ManifestError,
    Run,
    SelectionError,
    check_hub,
    check_manifest,
    group_runs,
    select_run,
)

READER_PERMISSIONS = "rl"
STATUS = "fetch.json"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fetch", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hub", required=True, help="whose backups (a rebuilt hub restores its own)")
    parser.add_argument("--select", default=LATEST, help="latest, latest-verified, or <hub>/<stamp>")
    parser.add_argument("--work", type=Path, default=Path("/work"))
    parser.add_argument("--sas-file", type=Path, required=True)
    add_storage_arguments(parser)
    parser.add_argument("--record-failure", action="store_true", help="record a failure in fetch.json, exit 0")
    return parser.parse_args(argv)


def fetch(client: BlobClient, hub: str, choice: str, work: Path) -> Run:
    """Download the chosen run's archive and manifest into `work`, checked; returns the run."""
    runs = group_runs(hub, client.list(f"{check_hub(hub)}/"))
    chosen = select_run(runs, choice)
    try:
        manifest = json.loads(client.read(chosen.prefix + MANIFEST))
    except ValueError as error:
        raise ManifestError(f"{chosen.name}: the manifest is not JSON ({error})") from error
    if not isinstance(manifest, dict):
        raise ManifestError(f"{chosen.name}: the manifest is not a JSON object")
    size, sha = check_manifest(manifest, chosen)
    log(f"fetching {chosen.name}: {size} bytes")
    archive = work / ARCHIVE
    got_size, got_sha = client.download(chosen.prefix + ARCHIVE, archive)
    if (got_size, got_sha) != (size, sha):
        archive.unlink(missing_ok=True)
        raise ManifestError(
            f"{chosen.name}: the archive does not match its manifest (size {got_size}, sha256 {got_sha}; manifest: "
            f"size {size}, sha256 {sha}): it was altered or damaged, refusing to restore it"
        )
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    status = args.work / STATUS
    status.unlink(missing_ok=True)
    try:
        profile = PROFILES[args.storage_profile]
        load_proxy_files()
        sas = read_sas(args.sas_file, READER_PERMISSIONS, profile)
        client = BlobClient(sas, profile=profile, attempts=args.attempts, pause=args.pause)
        chosen = fetch(client, args.hub, args.select, args.work)
    except (StorageError, SelectionError, ManifestError, OSError, ValueError) as error:
        log(f"fetch FAILED: {error}")
        write_status(status, False, f"fetch: {error}")
        return 0 if args.record_failure else 1
    log(f"fetched {chosen.name}; its SHA-256 matches the manifest")
    write_status(status, True, f"fetched {chosen.name}", run=chosen.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
