"""Faults of a backup run: each ends with a clear message and no manifest, so the run never counts."""

from __future__ import annotations

import base64
import time
import urllib.parse
from pathlib import Path

from tests.backup.azurite import Azurite, Container
from tests.backup.conftest import HUB, Pod
from tests.backup.proxy import Proxy
from workloads.backup.pod.blob import BlobClient, ContainerSas
from workloads.backup.pod.runs import group_runs

WRITER = "cwl"


def runs(container: Container) -> list[tuple[str, bool]]:
    listing = BlobClient(ContainerSas.parse(container.sas_url("l"))).list(f"{HUB}/")
    return [(run.stamp, run.complete) for run in group_runs(HUB, listing)]


def no_manifest(container: Container) -> bool:
    return all(not complete for _, complete in runs(container))


def dumped(pod: Pod) -> Pod:
    result = pod.dump()
    assert result.returncode == 0, result.stderr
    return pod


def test_storage_unreachable(pod: Pod, tmp_path: Path) -> None:
    own = Azurite(tmp_path / "stopped")
    target = own.container()
    url = target.sas_url(WRITER)
    own.stop()
    result = dumped(pod).upload(url, "--attempts", "2")
    assert result.returncode == 1
    assert "backup FAILED: backup storage unreachable: could not upload block 0" in result.stderr
    assert "no manifest was written: this run does not count as a backup" in result.stderr
    assert "archive.gz" not in pod.files()
    own.start()
    assert no_manifest(target)
    own.stop()


def test_storage_lost_in_the_middle(pod: Pod, container: Container, proxy: Proxy) -> None:
    pod.proxy_url = proxy.url
    proxy.faults.hang_up = lambda _, path: "blockid=" in path and "block-000002" in _block(path)
    result = dumped(pod).upload(container.sas_url(WRITER), "--attempts", "2")
    assert result.returncode == 1
    assert "backup storage unreachable: could not upload block 2" in result.stderr
    assert no_manifest(container)
    assert runs(container) == []  # staged blocks are not blobs; nothing was committed


def test_expired_sas_is_refused_by_the_service(pod: Pod, container: Container) -> None:
    result = dumped(pod).upload(container.sas_url(WRITER, expiry="2020-01-01T00:00:00Z"))
    assert result.returncode == 1
    assert "backup storage refused the SAS when trying to upload block 0 of" in result.stderr
    assert "(403 AuthorizationFailure" in result.stderr
    assert "it expired at 2020-01-01T00:00:00Z; renew it in the shared stack" in result.stderr
    assert no_manifest(container)


def test_a_block_rejected_by_the_service(pod: Pod, container: Container, proxy: Proxy) -> None:
    pod.proxy_url = proxy.url
    proxy.faults.corrupt = lambda _, path: "block-000001" in _block(path)
    result = dumped(pod).upload(container.sas_url(WRITER), "--attempts", "3")
    assert result.returncode == 1
    assert "backup storage rejected the request to upload block 1 of" in result.stderr
    assert "400 Md5Mismatch" in result.stderr
    assert result.stderr.count("retrying") == 2
    assert no_manifest(container)


def test_a_block_damaged_once_in_transit_is_sent_again(pod: Pod, container: Container, proxy: Proxy) -> None:
    pod.proxy_url = proxy.url
    proxy.faults.corrupt = lambda _, path: "block-000001" in _block(path)
    proxy.faults.corrupt_times = 1
    result = dumped(pod).upload(container.sas_url(WRITER))
    assert result.returncode == 0, result.stderr
    assert [complete for _, complete in runs(container)] == [True]


def test_a_lost_block_fails_the_commit(pod: Pod, container: Container, proxy: Proxy) -> None:
    pod.proxy_url = proxy.url
    proxy.faults.swallow = lambda _, path: "block-000002" in _block(path)
    result = dumped(pod).upload(container.sas_url(WRITER))
    assert result.returncode == 1
    assert "rejected the request to commit the block list" in result.stderr
    assert "400 InvalidBlockList" in result.stderr
    assert no_manifest(container)


def test_the_database_down(pod: Pod, container: Container) -> None:
    result = pod.dump(FAKE_MONGO_DOWN="1")
    assert result.returncode == 1
    assert "server selection error" in result.stderr
    assert "backup FAILED: mongodump exited with status 1 (database down or unreachable" in result.stderr
    assert pod.files() == set()
    # The pod stops there (an init container failed); were the upload run anyway, it refuses.
    upload = pod.upload(container.sas_url(WRITER))
    assert upload.returncode == 1
    assert "the dump step did not finish" in upload.stderr
    assert runs(container) == []


def test_the_database_lost_during_the_dump(pod: Pod) -> None:
    result = pod.dump(FAKE_MONGODUMP_DIES="1")
    assert result.returncode == 1
    assert "mongodump exited with status 2" in result.stderr
    assert pod.files() == set()


def test_a_truncated_archive_is_never_uploaded(pod: Pod, container: Container) -> None:
    dumped(pod)
    plain = pod.work / "archive.gz"
    plain.write_bytes(plain.read_bytes()[:-40])
    result = pod.upload(container.sas_url(WRITER))
    assert result.returncode == 1
    assert "not a complete gzip stream" in result.stderr
    assert runs(container) == []
    assert "archive.gz" not in pod.files()


def test_a_sas_without_write_is_named_before_anything_is_sent(pod: Pod, container: Container) -> None:
    result = dumped(pod).upload(container.sas_url("rl"))
    assert result.returncode == 1
    assert "the storage SAS cannot be used: the SAS lacks permission cw (it has 'rl')" in result.stderr


def test_a_failed_run_is_ignored_by_the_verification(
    pod: Pod, second_pod: Pod, container: Container, proxy: Proxy
) -> None:
    assert dumped(pod).upload(container.sas_url(WRITER)).returncode == 0
    earlier = runs(container)[0][0]
    time.sleep(1.1)  # runs are named by the second they start
    pod.proxy_url = proxy.url
    proxy.faults.hang_up = lambda _, path: path.split("?")[0].endswith("/manifest.json")
    failed = dumped(pod).upload(container.sas_url(WRITER), "--attempts", "1")
    assert failed.returncode == 1
    assert "could not write" in failed.stderr
    assert [complete for _, complete in runs(container)] == [True, False]
    fetched = second_pod.fetch(container.sas_url("rl"))
    assert fetched.returncode == 0, fetched.stderr
    assert f"fetched {HUB}/{earlier}" in fetched.stderr


def _block(path: str) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    ids = query.get("blockid", [""])
    return base64.b64decode(ids[0]).decode() if ids[0] else ""
