"""The Blob client against Azurite with real SAS tokens: blocks, block list, listing, download, overwrites."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.backup.azurite import Azurite, Container, request
from tests.backup.proxy import Proxy
from workloads.backup.pod.blob import (
    MAX_BLOCK_BYTES,
    MAX_BLOCKS,
    MIB,
    BlobClient,
    ContainerSas,
    StorageError,
    block_id,
    plan_block_size,
)
from workloads.backup.pod.runs import LATEST, SelectionError, group_runs, select_run


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if "proxy" in k.lower()]:
        monkeypatch.delenv(name)


def client(url: str, **kwargs: float) -> BlobClient:
    return BlobClient(ContainerSas.parse(url), pause=0.01, **kwargs)  # type: ignore[arg-type]


def upload(blob_client: BlobClient, name: str, data: bytes, block_size: int) -> int:
    blocks = [data[i : i + block_size] for i in range(0, len(data), block_size)]
    for index, block in enumerate(blocks):
        blob_client.put_block(name, index, block)
    blob_client.put_block_list(name, len(blocks), len(data), "application/octet-stream")
    return len(blocks)


def test_blocks_list_and_download_round_trip(container: Container, tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 + 17)
    writer = client(container.sas_url("cwl"))
    assert upload(writer, "hub/20260101T000000Z/archive.gz.cms", data, 1024) == 6
    reader = client(container.sas_url("rl"))
    assert [(i.name, i.size) for i in reader.list("hub/")] == [("hub/20260101T000000Z/archive.gz.cms", len(data))]
    size, sha = reader.download("hub/20260101T000000Z/archive.gz.cms", tmp_path / "out")
    assert (size, sha) == (len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "out").read_bytes() == data


def test_a_newer_service_version_in_the_sas_works_too(container: Container) -> None:
    writer = client(container.sas_url("cwl", version="2021-08-06"))
    writer.put_blob("hub/x/manifest.json", b"{}", "application/json")
    assert [i.name for i in writer.list("hub/")] == ["hub/x/manifest.json"]


def test_listing_follows_continuation_markers(container: Container) -> None:
    writer = client(container.sas_url("cwl"))
    for n in range(7):
        writer.put_blob(f"hub/20260101T00000{n}Z/manifest.json", b"{}", "application/json")
    listed = writer.list("hub/", page_size=2)
    assert [i.name for i in listed] == [f"hub/20260101T00000{n}Z/manifest.json" for n in range(7)]


def test_overwrites_are_refused(container: Container) -> None:
    writer = client(container.sas_url("cwl"))
    writer.put_blob("hub/r/manifest.json", b'{"first": true}', "application/json")
    with pytest.raises(StorageError, match="BlobAlreadyExists") as refused:
        writer.put_blob("hub/r/manifest.json", b'{"second": true}', "application/json")
    assert refused.value.status == 409
    upload(writer, "hub/r/archive.gz.cms", b"a" * 3000, 1024)
    with pytest.raises(StorageError, match="BlobAlreadyExists"):
        upload(writer, "hub/r/archive.gz.cms", b"b" * 3000, 1024)
    # Azurite also enforces create-only for a SAS with `c` alone (no conditional header at all).
    status, _ = container.admin("GET", "hub/r/manifest.json")
    assert status == 200
    create_only = container.sas_url("c")
    base, _, token = create_only.partition("?")
    status, body = request("PUT", f"{base}/hub/r/manifest.json?{token}", b"{}", {"x-ms-blob-type": "BlockBlob"})
    assert status == 403
    assert b"AuthorizationPermissionMismatch" in body
    # Deleting is refused to the hubs' SAS (no `d`).
    base, _, token = container.sas_url("rcwl").partition("?")
    status, _ = request("DELETE", f"{base}/hub/r/manifest.json?{token}")
    assert status == 403
    assert container.admin("GET", "hub/r/manifest.json")[1] == b'{"first": true}'


def test_a_commit_whose_reply_was_lost_is_recognized(
    container: Container, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", proxy.url)
    proxy.faults.lose_reply = lambda _, path: "comp=blocklist" in path
    writer = client(container.sas_url("cwl"))
    upload(writer, "hub/r/archive.gz.cms", b"x" * 2500, 1024)
    statuses = [status for _, path, status in proxy.faults.seen if "comp=blocklist" in path]
    assert statuses == [201, 409]  # done the first time, refused as existing the second, then confirmed by size


def test_missing_permissions_and_old_versions_are_named(container: Container) -> None:
    assert ContainerSas.parse(container.sas_url("cw")).problems("cwl") == ["the SAS lacks permission l (it has 'cw')"]
    old = ContainerSas.parse(container.sas_url("cwl", version="2019-07-07"))
    assert old.problems("cwl") == ["the SAS names service version 2019-07-07; 2019-12-12 or later is needed"]
    with pytest.raises(StorageError, match="carries no SAS"):
        ContainerSas.parse(container.url)


def test_listing_finds_the_latest_complete_run_and_ignores_unfinished_ones(container: Container) -> None:
    writer = client(container.sas_url("cwl"))
    for stamp in ("20260101T021500Z", "20260102T021500Z"):
        upload(writer, f"seattle/{stamp}/archive.gz.cms", b"z" * 100, 64)
        writer.put_blob(f"seattle/{stamp}/manifest.json", b"{}", "application/json")
    upload(writer, "seattle/20260103T021500Z/archive.gz.cms", b"z" * 100, 64)  # its manifest never came
    writer.put_block("seattle/20260104T021500Z/archive.gz.cms", 0, b"staged, never committed")
    writer.put_blob("denver/20260105T021500Z/manifest.json", b"{}", "application/json")
    runs = group_runs("seattle", writer.list("seattle/"))
    assert [(r.stamp, r.complete) for r in runs] == [
        ("20260101T021500Z", True), ("20260102T021500Z", True), ("20260103T021500Z", False)
    ]  # fmt: skip
    assert select_run(runs, LATEST).name == "seattle/20260102T021500Z"
    with pytest.raises(SelectionError, match="has no manifest"):
        select_run(runs, "seattle/20260103T021500Z")
    with pytest.raises(SelectionError, match=r"no verified backup among 2 complete backup.*1 run.*ignored"):
        select_run(runs, "latest-verified")


def test_block_sizes_grow_to_fit_the_block_count() -> None:
    assert plan_block_size(10 * MIB, 8 * MIB) == 8 * MIB
    assert plan_block_size(MAX_BLOCKS * 8 * MIB + 1, 8 * MIB) == 9 * MIB
    assert plan_block_size(MAX_BLOCKS * MAX_BLOCK_BYTES, 8 * MIB) == MAX_BLOCK_BYTES
    with pytest.raises(ValueError, match="do not fit"):
        plan_block_size(MAX_BLOCKS * MAX_BLOCK_BYTES + 1, 8 * MIB)
    assert len({len(block_id(i)) for i in (0, 9, 49_999)}) == 1


def test_unreachable_storage_is_retried_then_named(azurite: Azurite, tmp_path: Path) -> None:
    own = Azurite(tmp_path / "short-lived")
    target = own.container()
    url = target.sas_url("cwl")
    own.stop()
    pauses: list[float] = []
    blob_client = BlobClient(ContainerSas.parse(url), attempts=3, pause=0.5, sleep=pauses.append)
    with pytest.raises(StorageError, match=r"backup storage unreachable: could not upload block 0 .* at 127\.0\.0\.1"):
        blob_client.put_block("hub/r/archive.gz.cms", 0, b"data")
    assert pauses == [0.5, 1.0]
