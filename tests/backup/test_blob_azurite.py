"""The Blob client against Azurite with real SAS tokens: blocks, block list, listing, download, overwrites; and the
same against Azurite standing in for an Azure Stack Hub's storage (the `azurestack` profile, behind a proxy that
refuses newer service versions as a hub does)."""

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
    BlobClient,
    ContainerSas,
    StorageError,
    block_id,
    plan_block_size,
)
from workloads.backup.pod.profiles import AZURE_STACK_HUB, MIB, StorageProfile
from workloads.backup.pod.runs import LATEST, SelectionError, group_runs, select_run

HUB_VERSION = AZURE_STACK_HUB.service_version


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if "proxy" in k.lower()]:
        monkeypatch.delenv(name)


def client(url: str, profile: StorageProfile | None = None, attempts: int = 4) -> BlobClient:
    sas = ContainerSas.parse(url)
    if profile is None:
        return BlobClient(sas, pause=0.01, attempts=attempts)
    return BlobClient(sas, profile=profile, pause=0.01, attempts=attempts)


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
    assert old.problems("cwl") == [
        "the SAS's service version sv=2019-07-07 is older than 2019-12-12, the oldest used with Azure storage"
    ]
    assert old.problems("cwl", AZURE_STACK_HUB) == []
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


# --- a hub's own storage (`azurestack`) ---------------------------------------------------------------------------


@pytest.fixture
def hub_front(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> Proxy:
    """Azurite behind a proxy that refuses, as a hub does, any service version newer than the hub's."""
    proxy.faults.newest_version = HUB_VERSION
    monkeypatch.setenv("http_proxy", proxy.url)
    return proxy


def test_a_hub_target_round_trips_at_the_hubs_version(container: Container, hub_front: Proxy, tmp_path: Path) -> None:
    data = os.urandom(7 * 1024 + 3)
    writer = client(container.sas_url("cwl", version=HUB_VERSION), AZURE_STACK_HUB)
    size = plan_block_size(len(data), 2 * 1024, AZURE_STACK_HUB)
    assert upload(writer, "hub/20260101T000000Z/archive.gz.cms", data, size) == 4
    writer.put_blob("hub/20260101T000000Z/manifest.json", b"{}", "application/json")
    reader = client(container.sas_url("rl", version=HUB_VERSION), AZURE_STACK_HUB)
    listed = [(i.name, i.size) for i in reader.list("hub/")]
    assert listed == [("hub/20260101T000000Z/archive.gz.cms", len(data)), ("hub/20260101T000000Z/manifest.json", 2)]
    got = reader.download("hub/20260101T000000Z/archive.gz.cms", tmp_path / "out")
    assert got == (len(data), hashlib.sha256(data).hexdigest())
    assert set(hub_front.faults.versions) == {HUB_VERSION}
    assert all(status in (200, 201) for _, _, status in hub_front.faults.seen)


def test_the_azure_profile_against_a_hub_says_which_profile_to_set(container: Container, hub_front: Proxy) -> None:
    writer = client(container.sas_url("cwl"), attempts=3)
    with pytest.raises(StorageError) as refused:
        writer.put_block("hub/r/archive.gz.cms", 0, b"data")
    assert str(refused.value) == (
        "backup storage rejected the request to upload block 0 of hub/r/archive.gz.cms (400 InvalidHeaderValue: "
        "The value for one of the HTTP headers is not in the correct format.): it does not accept service version "
        "2019-12-12 (storage profile 'azure'); an Azure Stack Hub takes versions up to 2019-07-07: set the storage "
        "profile to 'azurestack'"
    )
    assert refused.value.attempts == 1  # not retried: it cannot succeed
    assert hub_front.faults.seen == [("PUT", hub_front.faults.seen[0][1], 400)]


def test_a_hub_target_is_never_overwritten_by_the_uploader(container: Container, hub_front: Proxy) -> None:
    writer = client(container.sas_url("rcwl", version=HUB_VERSION), AZURE_STACK_HUB)
    upload(writer, "hub/r/archive.gz.cms", b"a" * 3000, 1024)
    writer.put_blob("hub/r/manifest.json", b'{"first": true}', "application/json")
    with pytest.raises(StorageError, match="a blob of that name exists, and backups never replace one") as refused:
        upload(writer, "hub/r/archive.gz.cms", b"b" * 3000, 1024)
    assert (refused.value.status, refused.value.code) == (409, "BlobAlreadyExists")
    with pytest.raises(StorageError, match=r"refused to write hub/r/manifest\.json"):
        writer.put_blob("hub/r/manifest.json", b'{"second": true}', "application/json")
    commits = [(path.split("?")[0].rsplit("/", 1)[-1], status) for method, path, status in hub_front.faults.seen
               if method == "PUT" and ("comp=blocklist" in path or "comp=" not in path)]  # fmt: skip
    assert commits == [("archive.gz.cms", 201), ("manifest.json", 201), ("archive.gz.cms", 409), ("manifest.json", 409)]
    assert container.admin("GET", "hub/r/archive.gz.cms")[1] == b"a" * 3000
    assert container.admin("GET", "hub/r/manifest.json")[1] == b'{"first": true}'


def test_without_immutability_the_sas_itself_can_overwrite(container: Container, tmp_path: Path) -> None:
    """What the hub's container lacks: a plain Put Blob under the same SAS replaces a backup (docs/operations.md).

    The uploader never sends one; the manifest's SHA-256 is what then tells a replaced archive from the real one.
    """
    sas = container.sas_url("rcwl", version=HUB_VERSION)
    writer = client(sas, AZURE_STACK_HUB)
    upload(writer, "hub/r/archive.gz.cms", b"a" * 3000, 1024)
    base, _, token = sas.partition("?")
    status, _ = request("PUT", f"{base}/hub/r/archive.gz.cms?{token}", b"forged", {"x-ms-blob-type": "BlockBlob",
                        "x-ms-version": HUB_VERSION})  # fmt: skip
    assert status == 201
    size, sha = writer.download("hub/r/archive.gz.cms", tmp_path / "out")
    assert (size, sha) == (6, hashlib.sha256(b"forged").hexdigest()) != (3000, hashlib.sha256(b"a" * 3000).hexdigest())
