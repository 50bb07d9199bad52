"""The encryption with the real openssl (3.x here, as in the mongo image), and the integrity checks before a restore."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.backup.azurite import Container
from tests.backup.conftest import HUB, OPENSSL, Pod, openssl
from workloads.backup.pod.blob import BlobClient, ContainerSas
from workloads.backup.pod.runs import group_runs


def cms_structure(path: Path) -> str:
    return subprocess.run([OPENSSL, "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(path)],
                          check=True, capture_output=True, text=True).stdout  # fmt: skip


def decrypt(source: Path, key: Path, target: Path) -> subprocess.CompletedProcess[str]:
    command = [OPENSSL, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(source), "-inkey", str(key)]
    return subprocess.run([*command, "-out", str(target)], capture_output=True, text=True, check=False)


def test_the_archive_is_aes_256_gcm_auth_enveloped_data_for_every_recipient(pod: Pod) -> None:
    assert pod.dump().returncode == 0
    structure = cms_structure(pod.work / "archive.gz.cms")
    assert "contentType: id-smime-ct-authEnvelopedData" in structure
    assert "aes-256-gcm" in structure
    assert "rsaesOaep" in structure  # the RSA recipient: OAEP, not PKCS#1 v1.5
    assert "d.kari" in structure  # the EC recipient: ECDH key agreement
    for key in (pod.keys.recovery_key, pod.keys.verification_key):
        out = pod.root / f"{key.stem}.gz"
        assert decrypt(pod.work / "archive.gz.cms", key, out).returncode == 0
        assert out.read_bytes() == (pod.work / "archive.gz").read_bytes()


def test_a_wrong_key_restores_nothing_and_leaves_no_plaintext(pod: Pod, tmp_path: Path) -> None:
    assert pod.dump().returncode == 0
    shutil.copy(pod.work / "archive.gz.cms", tmp_path / "archive.gz.cms")
    for name in ("archive.gz", "dump.ok"):
        (pod.work / name).unlink()
    stranger = tmp_path / "stranger.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", str(stranger))
    restored = pod.restore(key=stranger)
    assert restored.returncode == 1
    assert "restore FAILED: the archive did not decrypt (wrong private key, or altered" in restored.stderr
    assert pod.calls("mongorestore") == []
    assert "archive.gz" not in pod.files()  # openssl wrote one; the script removed it

    shutil.copy(tmp_path / "archive.gz.cms", pod.work / "archive.gz.cms")
    (pod.work / "fetch.json").write_text('{"ok": true, "message": "fetched", "run": "x/y"}\n')
    verified = pod.verify_restore(key=stranger)
    assert verified.returncode == 0  # the report step says it
    assert json.loads((pod.work / "restore.json").read_text()) == {
        "ok": False,
        "message": "the archive did not decrypt (wrong verification key, or altered: the GCM tag did not verify)",
    }
    assert not {"archive.gz", "archive.gz.cms"} & pod.files()
    assert pod.calls("mongorestore") == []


def test_an_archive_altered_in_storage_is_refused_by_its_sha256(
    pod: Pod, second_pod: Pod, container: Container
) -> None:
    assert pod.dump().returncode == 0
    assert pod.upload(container.sas_url("cwl")).returncode == 0
    run = group_runs(HUB, BlobClient(ContainerSas.parse(container.sas_url("l"))).list(f"{HUB}/"))[0]
    status, original = container.admin("GET", f"{run.name}/archive.gz.cms")
    assert status == 200
    altered = original[:100] + bytes([original[100] ^ 1]) + original[101:]
    # Azurite has no retention policy: the account key can overwrite, as a locked policy would forbid in Azure.
    status, _ = container.admin(
        "PUT", f"{run.name}/archive.gz.cms", body=altered, headers={"x-ms-blob-type": "BlockBlob"}
    )
    assert status == 201
    fetched = second_pod.fetch(container.sas_url("rl"))
    assert fetched.returncode == 1
    assert "the archive does not match its manifest" in fetched.stderr
    assert "altered or damaged, refusing to restore it" in fetched.stderr
    assert "archive.gz.cms" not in second_pod.files()
    restored = second_pod.restore()
    assert restored.returncode == 1
    assert "no fetched archive" in restored.stderr
    assert second_pod.calls("mongorestore") == []


def test_an_archive_altered_after_the_check_fails_its_gcm_tag(pod: Pod, second_pod: Pod, container: Container) -> None:
    assert pod.dump().returncode == 0
    assert pod.upload(container.sas_url("cwl")).returncode == 0
    assert second_pod.fetch(container.sas_url("rl")).returncode == 0
    archive = second_pod.work / "archive.gz.cms"
    data = archive.read_bytes()
    middle = len(data) // 2
    archive.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])
    restored = second_pod.restore()
    assert restored.returncode == 1
    assert "did not decrypt" in restored.stderr
    assert second_pod.calls("mongorestore") == []
    assert "archive.gz" not in second_pod.files()
