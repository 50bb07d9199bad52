"""Backup step 2 of 2 (Python image): summarize the dump, upload the encrypted archive in blocks, manifest last.

Runs after the `dump` step (mongo image) has written `archive.gz` (plaintext, never leaves the pod),
`archive.gz.cms` (encrypted for the recipients' certificates) and `dump.ok` (its tool versions and start time).
The plaintext is deleted as soon as it is summarized. Any failure exits non-zero before the manifest is written,
so a partial run never counts as a backup.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from .archive import ArchiveError, summarize_file
from .blob import BlobClient, StorageError, plan_block_size, read_blocks
from .common import add_storage_arguments, certificate_fingerprints, key_values, load_proxy_files, log, read_sas
from .profiles import MIB, PROFILES
from .runs import ARCHIVE, MANIFEST, build_manifest, check_hub, run_prefix

PLAINTEXT = "archive.gz"
ENCRYPTED = "archive.gz.cms"
DUMP_DONE = "dump.ok"
WRITER_PERMISSIONS = "cwl"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="upload", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hub", required=True)
    parser.add_argument("--work", type=Path, default=Path("/work"))
    parser.add_argument("--sas-file", type=Path, required=True, help="container URL with its SAS (a Secret)")
    parser.add_argument("--recipients", type=Path, required=True, help="directory of the recipients' certificates")
    parser.add_argument("--block-kib", type=int, default=8192, help="block size (grown to fit 50,000 blocks)")
    add_storage_arguments(parser)
    return parser.parse_args(argv)


def sha256_file(path: Path) -> tuple[int, str]:
    """Size and SHA-256 (hex) of a file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(MIB):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def run(args: argparse.Namespace) -> str:
    """Upload one run; returns its name. Raises on any failure (no manifest written then)."""
    hub = check_hub(args.hub)
    work: Path = args.work
    done = work / DUMP_DONE
    if not done.is_file() or not (work / ENCRYPTED).is_file():
        raise FileNotFoundError(f"the dump step did not finish ({DUMP_DONE} or {ENCRYPTED} missing in {work})")
    dump = key_values(done)
    prefix = run_prefix(hub, dump.get("started", ""))
    try:
        summary = summarize_file(work / PLAINTEXT)
    finally:
        (work / PLAINTEXT).unlink(missing_ok=True)  # the plaintext never outlives this step
    profile = PROFILES[args.storage_profile]
    load_proxy_files()
    sas = read_sas(args.sas_file, WRITER_PERMISSIONS, profile)
    client = BlobClient(sas, profile=profile, attempts=args.attempts, pause=args.pause)
    log(
        f"dump holds {len(summary.collections)} collections, {sum(summary.collections.values())} documents and "
        f"{summary.oplog.entries} oplog entries"
    )
    size, sha = sha256_file(work / ENCRYPTED)
    block_size = plan_block_size(size, args.block_kib * 1024, profile)
    blocks = 0
    started = time.monotonic()
    with (work / ENCRYPTED).open("rb") as stream:
        for index, block in enumerate(read_blocks(stream, block_size)):
            client.put_block(prefix + ARCHIVE, index, block)
            blocks += 1
    client.put_block_list(prefix + ARCHIVE, blocks, size, "application/pkcs7-mime")
    manifest = build_manifest(
        hub=hub,
        run_stamp=dump["started"],
        archive_size=size,
        archive_sha256=sha,
        block_size=block_size,
        blocks=blocks,
        summary={
            "collections": dict(sorted(summary.collections.items())),
            "views": sorted(summary.views),
            "oplog": summary.oplog.as_json(),
            "uncompressed_bytes": summary.uncompressed_bytes,
        },
        tools={
            "mongodump": summary.tool_version or dump.get("mongodump", ""),
            "server": summary.server_version,
            "archive_format": summary.format_version,
            "mongodump_banner": dump.get("mongodump", ""),
            "openssl": dump.get("openssl", ""),
        },
        recipients=certificate_fingerprints(args.recipients),
        finished=datetime.now(UTC),
    )
    client.put_blob(prefix + MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n", "application/json")
    (work / ENCRYPTED).unlink(missing_ok=True)
    elapsed = time.monotonic() - started
    log(
        f"backup {prefix.rstrip('/')}: {size} bytes in {blocks} block(s) of {block_size}, sha256 {sha}, {elapsed:.1f} s"
    )
    return prefix.rstrip("/")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (StorageError, ArchiveError, OSError, ValueError) as error:
        log(f"backup FAILED: {error}")
        log("no manifest was written: this run does not count as a backup")
        return 1
    finally:
        (args.work / PLAINTEXT).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
