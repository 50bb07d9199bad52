"""A backup, its verification and a restore, end to end: the pod steps as the pods run them, against Azurite with
real SAS tokens and the real openssl, the mongo tools faked (no MongoDB server can run here)."""

from __future__ import annotations

import base64
import json
import re

from tests.backup.azurite import Container
from tests.backup.conftest import DATASET, HUB, Pod
from tests.backup.proxy import Proxy

WRITER = "cwl"  # the backup's SAS: create, write, list; no read, no delete
READER = "rl"


def blocks_of(container: Container, blob: str) -> list[str]:
    status, body = container.admin("GET", blob, "comp=blocklist&blocklisttype=committed")
    assert status == 200, body
    return [base64.b64decode(name).decode() for name in re.findall(rb"<Name>([^<]+)</Name>", body)]


def test_backup_then_verification_then_restore(pod: Pod, second_pod: Pod, container: Container, proxy: Proxy) -> None:
    dumped = pod.dump()
    assert dumped.returncode == 0, dumped.stderr
    assert pod.files() == {"archive.gz", "archive.gz.cms", "dump.ok"}
    assert pod.calls("mongodump")[0][:2] == ["--oplog", "--readPreference=secondary"]

    pod.proxy_url = proxy.url
    uploaded = pod.upload(container.sas_url(WRITER, protocol=""))
    assert uploaded.returncode == 0, uploaded.stderr
    assert "archive.gz" not in pod.files(), "the plaintext must not outlive the upload step"

    # Blocks, then the block list, then the manifest: nothing else, in that order.
    requests = [(method, path.split("?")[0].split("/", 3)[-1], query) for method, path, _ in proxy.faults.seen
                for query in [path.split("?", 1)[1] if "?" in path else ""]]  # fmt: skip
    kinds = [("block" if "comp=block&" in q else "blocklist" if "comp=blocklist" in q else name.rsplit("/", 1)[-1])
             for _, name, q in requests]  # fmt: skip
    blocks = kinds.count("block")
    assert blocks >= 3
    assert kinds == ["block"] * blocks + ["blocklist", "manifest.json"]

    run_name = requests[-1][1].rsplit("/", 1)[0]
    assert re.fullmatch(rf"{HUB}/\d{{8}}T\d{{6}}Z", run_name)
    assert blocks_of(container, f"{run_name}/archive.gz.cms") == [f"block-{i:06d}" for i in range(blocks)]

    status, body = container.admin("GET", f"{run_name}/manifest.json")
    manifest = json.loads(body)
    assert status == 200
    assert manifest["collections"] == {
        "admin.system.users": 3, "admin.system.version": 2, "ratingsdb.empty": 0, "ratingsdb.items": 170,
        "ratingsdb.ratings": 260,
    }  # fmt: skip
    assert manifest["views"] == ["ratingsdb.top"]
    assert manifest["oplog"]["entries"] == 4
    assert manifest["oplog"]["start"] == {"t": 1_767_000_000, "i": 1}
    assert manifest["oplog"]["end"] == {"t": 1_767_000_002, "i": 1}
    assert manifest["oplog"]["operations"]["ratingsdb.items"] == {"d": 1, "u": 1}
    assert manifest["tools"]["mongodump"] == "100.13.0"
    assert manifest["tools"]["openssl"].startswith("OpenSSL 3")
    assert len(manifest["archive"]["recipients_sha256"]) == 2
    assert manifest["archive"]["blocks"] == blocks

    # The weekly verification, in another pod: fetch with a read/list SAS, scratch restore, report.
    verifier = second_pod
    fetched = verifier.fetch(container.sas_url(READER), "--record-failure")
    assert fetched.returncode == 0, fetched.stderr
    assert {"archive.gz.cms", "manifest.json", "fetch.json"} <= verifier.files()
    restored = verifier.verify_restore()
    assert restored.returncode == 0, restored.stderr
    assert json.loads((verifier.work / "restore.json").read_text())["ok"] is True, restored.stderr
    assert "archive.gz" not in verifier.files(), "the decrypted archive must not outlive the restore step"
    reported = verifier.report(container.sas_url("cl"))
    assert reported.returncode == 0, reported.stderr
    assert f"backup {run_name} verified" in (verifier.root / "termination-log").read_text()
    assert "ratingsdb.ratings: 261 documents, as expected" in reported.stderr  # 11 dumped + 1 replayed insert

    # The restore picks the latest verified backup and restores it into the replica set with the recovery key.
    for name in ("archive.gz.cms", "manifest.json", "fetch.json", "restore.json", "restored-counts.json"):
        (verifier.work / name).unlink(missing_ok=True)
    fetched = verifier.fetch(container.sas_url(READER), "--select", "latest-verified")
    assert fetched.returncode == 0, fetched.stderr
    assert f"fetched {run_name}" in fetched.stderr
    restored = verifier.restore()
    assert restored.returncode == 0, restored.stderr
    cluster = json.loads((verifier.state / "cluster.json").read_text())
    assert cluster["ratingsdb.ratings"] == DATASET["collections"]["ratingsdb.ratings"]["documents"] + 1
    assert verifier.calls("mongorestore")[-1][:2] == ["--oplogReplay", "--drop"]
    assert not {"archive.gz", "archive.gz.cms"} & verifier.files()


def test_a_hub_target_end_to_end_at_the_hubs_version(
    pod: Pod, second_pod: Pod, container: Container, proxy: Proxy
) -> None:
    """The same pods told `--storage-profile azurestack`, against Azurite behind a stand-in for a hub's storage
    (service versions newer than 2019-07-07 refused) with SAS tokens the hub's tools would sign (sv=2019-07-07)."""
    hub = "2019-07-07"
    proxy.faults.newest_version = hub
    pod.proxy_url = second_pod.proxy_url = proxy.url
    profile = ("--storage-profile", "azurestack")
    assert pod.dump().returncode == 0
    uploaded = pod.upload(container.sas_url(WRITER, version=hub), *profile)
    assert uploaded.returncode == 0, uploaded.stderr
    fetched = second_pod.fetch(container.sas_url(READER, version=hub), "--record-failure", *profile)
    assert fetched.returncode == 0, fetched.stderr
    assert second_pod.verify_restore().returncode == 0
    reported = second_pod.python("report", "--work", str(second_pod.work), "--sas-file",
                                 second_pod.sas_file(container.sas_url("cl", version=hub)), "--termination-log",
                                 str(second_pod.root / "termination-log"), *profile)  # fmt: skip
    assert reported.returncode == 0, reported.stderr
    assert " verified (" in (second_pod.root / "termination-log").read_text()
    assert set(proxy.faults.versions) == {hub}
    assert [status for _, _, status in proxy.faults.seen if status >= 300] == []

    # Without the profile: the hub's SAS is refused before anything is sent, and a SAS Azure would take gets the
    # hub's refusal of the first request, with what to set.
    assert pod.dump().returncode == 0
    refused = pod.upload(container.sas_url(WRITER, version=hub))
    assert refused.returncode == 1
    assert "the SAS's service version sv=2019-07-07 is older than 2019-12-12" in refused.stderr
    sent = len(proxy.faults.seen)
    assert pod.dump().returncode == 0
    refused = pod.upload(container.sas_url(WRITER))
    assert refused.returncode == 1
    assert "does not accept service version 2019-12-12 (storage profile 'azure')" in refused.stderr
    assert "set the storage profile to 'azurestack'" in refused.stderr
    assert "no manifest was written" in refused.stderr
    assert [status for _, _, status in proxy.faults.seen[sent:]] == [400]


def test_a_proxy_with_credentials_is_read_from_its_files(
    pod: Pod, second_pod: Pod, container: Container, proxy: Proxy
) -> None:
    """The Secret's files as the pods mount them (`BACKUP_PROXY_DIR`), no proxy variable in the environment: every
    storage request goes through the proxy, authenticated with the credentials of the files."""
    files = pod.root / "proxy"
    files.mkdir()
    credentialed = proxy.url.replace("http://", "http://svc-backup:Pr0xy%25pw@")
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        (files / name).write_text(credentialed + "\n")
    for name in ("NO_PROXY", "no_proxy"):
        (files / name).write_text("localhost,.svc,.cluster.local\n")
    assert pod.dump().returncode == 0
    uploaded = pod.upload(container.sas_url(WRITER), BACKUP_PROXY_DIR=str(files))
    assert uploaded.returncode == 0, uploaded.stderr
    reader = second_pod.sas_file(container.sas_url(READER))
    fetch = ("fetch", "--hub", HUB, "--work", str(second_pod.work), "--sas-file", reader)
    fetched = second_pod.python(*fetch, BACKUP_PROXY_DIR=str(files))
    assert fetched.returncode == 0, fetched.stderr
    expected = "Basic " + base64.b64encode(b"svc-backup:Pr0xy%pw").decode()
    assert len(proxy.faults.authorizations) >= 5
    assert set(proxy.faults.authorizations) == {expected}
    # A mounted directory without the HTTPS proxy is a broken Secret, said before anything is sent.
    (files / "HTTPS_PROXY").unlink()
    (files / "https_proxy").unlink()
    sent = len(proxy.faults.seen)
    broken = second_pod.python(*fetch, BACKUP_PROXY_DIR=str(files))
    assert broken.returncode == 1
    assert f"BACKUP_PROXY_DIR={files} holds no HTTPS_PROXY: the proxy Secret is incomplete" in broken.stderr
    assert len(proxy.faults.seen) == sent
