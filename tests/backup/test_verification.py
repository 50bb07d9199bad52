"""The weekly verification: what it compares, what it reports, and how it fails."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.backup.azurite import Container
from tests.backup.conftest import Pod
from workloads.backup.pod.report import Verification, evaluate, event_body
from workloads.backup.pod.runs import ManifestError, Run, check_manifest, compare_counts

MANIFEST = {
    "collections": {"app.a": 10, "app.b": 5, "app.c": 0, "admin.system.users": 3},
    "oplog": {"operations": {"app.a": {"i": 2, "u": 4}, "app.b": {"d": 1}}, "commands": {}},
}


@pytest.mark.parametrize(
    ("restored", "ok", "line"),
    [
        ({"app.a": 10, "app.b": 5, "app.c": 0}, True, "app.a: 10 documents, as expected"),
        ({"app.a": 12, "app.b": 4, "app.c": 0}, True, "app.b: 4 documents, as expected"),
        ({"app.a": 13, "app.b": 5, "app.c": 0}, False, "app.a: restored 13 documents, expected 10..12"),
        ({"app.a": 10, "app.b": 5, "app.c": 1}, False, "app.c: restored 1 documents, expected 0"),
        ({"app.a": 10, "app.b": 5}, False, "app.c: missing after the restore (expected 0)"),
        ({"app.a": 10, "app.b": 5, "app.c": 0, "app.d": 1}, False, "app.d: restored 1 documents but the backup has"),
    ],
)
def test_counts_are_compared_within_the_oplog_bounds(restored: dict[str, int], ok: bool, line: str) -> None:
    comparison = compare_counts(MANIFEST, restored)
    assert comparison.ok is ok
    assert any(text.startswith(line) for text in comparison.lines), comparison.lines
    assert comparison.compared == len({"app.a", "app.b", "app.c", *restored})


def test_a_manifest_must_describe_its_run() -> None:
    run = Run("seattle", "20260101T021500Z", archive_size=10, manifest=True)
    good: dict[str, Any] = {
        "format": 1,
        "run": run.name,
        "archive": {"size": 10, "sha256": "a" * 64},
        "collections": {},
    }
    assert check_manifest(good, run) == (10, "a" * 64)
    changes: list[tuple[dict[str, Any], str]] = [
        ({"run": "denver/20260101T021500Z"}, "names run 'denver/20260101T021500Z'"),
        ({"format": 2}, "manifest format 2"),
        ({"archive": {"size": 10, "sha256": "A" * 64}}, "no archive SHA-256"),
        ({"archive": {"size": True, "sha256": "a" * 64}}, "no archive size"),
        ({"collections": None}, "no collection counts"),
    ]
    for change, message in changes:
        with pytest.raises(ManifestError, match=re.escape(message)):
            check_manifest({**good, **change}, run)


def test_commands_during_the_dump_make_a_database_incomparable() -> None:
    manifest = {**MANIFEST, "oplog": {"operations": {}, "commands": {"app": 1}}}
    comparison = compare_counts(manifest, {"app.a": 10, "app.b": 5, "app.c": 0})
    assert not comparison.ok
    assert "not comparable, commands ran in its database during the dump" in comparison.lines[0]


def test_a_restore_that_lost_a_collection_fails_the_verification(
    pod: Pod, second_pod: Pod, container: Container
) -> None:
    assert pod.dump().returncode == 0
    assert pod.upload(container.sas_url("cwl")).returncode == 0
    assert second_pod.fetch(container.sas_url("rl"), "--record-failure").returncode == 0
    assert second_pod.verify_restore(FAKE_RESTORE_LOSES="ratingsdb.items").returncode == 0
    reported = second_pod.report(container.sas_url("cl"))
    assert reported.returncode == 1
    assert "ratingsdb.items: missing after the restore (expected 170)" in reported.stderr
    assert "FAILED: counts differ from the manifest" in (second_pod.root / "termination-log").read_text()
    listing = container.admin("GET", query="restype=container&comp=list")[1]
    assert b"verified-" not in listing  # a failed verification leaves no marker


def test_no_backup_yet_is_reported(second_pod: Pod, container: Container) -> None:
    fetched = second_pod.fetch(container.sas_url("rl"), "--record-failure")
    assert fetched.returncode == 0
    restored = second_pod.verify_restore()
    assert json.loads((second_pod.work / "restore.json").read_text())["message"].startswith("skipped")
    assert restored.returncode == 0
    reported = second_pod.report(None)
    assert reported.returncode == 1
    assert "verification FAILED: fetch: no complete backup" in reported.stderr


def test_a_scratch_mongod_that_does_not_start_is_reported(pod: Pod, second_pod: Pod, container: Container) -> None:
    assert pod.dump().returncode == 0
    assert pod.upload(container.sas_url("cwl")).returncode == 0
    assert second_pod.fetch(container.sas_url("rl"), "--record-failure").returncode == 0
    assert second_pod.verify_restore(FAKE_MONGOD_FAIL="1").returncode == 0
    reported = second_pod.report(None)
    assert reported.returncode == 1
    assert "the scratch mongod did not start" in reported.stderr
    assert not {"archive.gz", "archive.gz.cms"} & second_pod.files()


def test_the_event_body(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
    failed = Verification(False, "seattle/20260301T021500Z", "backup seattle/20260301T021500Z FAILED: ...")
    body = event_body(failed, namespace="ratingsapp", cronjob="ratings-backup-verification", now=now)
    assert body["type"] == "Warning"
    assert body["reason"] == "BackupVerificationFailed"
    assert body["involvedObject"] == {"apiVersion": "batch/v1", "kind": "CronJob",
                                      "name": "ratings-backup-verification", "namespace": "ratingsapp"}  # fmt: skip
    assert body["lastTimestamp"] == "2026-03-01T05:00:00Z"
    (tmp_path / "fetch.json").write_text('{"ok": true, "run": "seattle/20260227T021500Z"}')
    (tmp_path / "restore.json").write_text('{"ok": true}')
    (tmp_path / "manifest.json").write_text(json.dumps({"collections": {"app.a": 1}, "oplog": {}}))
    (tmp_path / "restored-counts.json").write_text('{"app.a": 1}')
    result = evaluate(tmp_path, now)
    assert result.ok
    assert result.backup_age_seconds == 2 * 86400 + 2 * 3600 + 45 * 60
    assert result.summary.endswith("backup age 2 d 2 h)")
    assert event_body(result, namespace="n", cronjob="c", now=now)["reason"] == "BackupVerified"
