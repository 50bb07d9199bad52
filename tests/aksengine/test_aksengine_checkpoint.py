"""The checkpoint file on its own: where it lives, its name, its permissions and its encryption."""

import dataclasses
from pathlib import Path

import pytest

from aksengine.checkpoint import (
    MAGIC,
    Checkpoint,
    CheckpointError,
    CheckpointFile,
    UndecryptableCheckpointError,
    checkpoint_dir,
    state_digest,
)
from tests.aksengine.testkit import CLIENT_SECRET, SUBSCRIPTION, make_settings

KEY_LINE = "MIIJKAIBAAKCAgEAvQ9t1nDl2yWz0rYgq8g7s0Jz5Hq1xS4nKc0rYk1nQ3"
CA_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_LINE}\n-----END RSA PRIVATE KEY-----\n"


def checkpoint() -> Checkpoint:
    apimodel = {
        "properties": {
            "certificateProfile": {"caPrivateKey": CA_KEY},
            "servicePrincipalProfile": {"secret": CLIENT_SECRET},
        }
    }
    settings = make_settings(agent_count=2)
    return Checkpoint(
        state_digest("{}"), settings, ("scale pool linuxpool to 2 nodes",), "2026-01-01T00:00:00", apimodel
    )


def file_in(directory: Path, group: str = "ratings-k8s-rg") -> CheckpointFile:
    return CheckpointFile.for_cluster(directory, SUBSCRIPTION, group)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"AKSENGINE_CHECKPOINT_DIR": "/srv/ckpt", "XDG_STATE_HOME": "/x", "HOME": "/h"}, "/srv/ckpt"),
        ({"XDG_STATE_HOME": "/x", "HOME": "/h"}, "/x/stackhub-ha/aksengine"),
        ({"XDG_STATE_HOME": "relative/ignored", "HOME": "/h"}, "/h/.local/state/stackhub-ha/aksengine"),
        ({"HOME": "/h"}, "/h/.local/state/stackhub-ha/aksengine"),
    ],
)
def test_the_directory_follows_the_variable_then_xdg_then_home(environ: dict[str, str], expected: str) -> None:
    assert checkpoint_dir(environ) == Path(expected)


def test_the_name_holds_the_cluster_only_and_distinguishes_groups_that_sanitise_alike(tmp_path: Path) -> None:
    plain = file_in(tmp_path, "rg-1")
    odd = file_in(tmp_path, "RG(1)")
    assert plain.path.parent == tmp_path
    assert plain.path.name.startswith(f"{SUBSCRIPTION}_rg-1_")
    assert odd.path.name.startswith(f"{SUBSCRIPTION}_rg-1_")
    assert plain.path != odd.path
    # ARM names are case-insensitive: one cluster, one file.
    assert file_in(tmp_path, "Ratings-K8S-RG") == file_in(tmp_path, "ratings-k8s-rg")
    assert "/" not in plain.path.name
    assert CLIENT_SECRET not in plain.path.name


def test_a_saved_checkpoint_is_private_encrypted_and_reads_back(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "ckpt"
    file = file_in(directory)
    file.save(checkpoint(), CLIENT_SECRET)

    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    assert oct(file.path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in directory.iterdir()] == [file.path.name], "no scratch file left"
    raw = file.path.read_bytes()
    assert raw.startswith(MAGIC)
    for plain in (CLIENT_SECRET, KEY_LINE, "linuxpool", "base"):
        assert plain.encode() not in raw
    assert file.load(CLIENT_SECRET) == checkpoint()
    assert CA_KEY not in repr(checkpoint())

    again = checkpoint()
    file.save(again, CLIENT_SECRET)
    assert file.path.read_bytes() != raw, "a fresh salt and nonce on every save"


def test_a_directory_others_can_read_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    file_in(directory).save(checkpoint(), CLIENT_SECRET)
    assert oct(directory.stat().st_mode & 0o777) == "0o700"


def test_no_checkpoint_is_none_and_removing_it_twice_is_fine(tmp_path: Path) -> None:
    file = file_in(tmp_path)
    assert file.load(CLIENT_SECRET) is None
    file.save(checkpoint(), CLIENT_SECRET)
    assert file.remove() is True
    assert file.remove() is False
    assert file.load(CLIENT_SECRET) is None


def test_another_secret_or_another_cluster_cannot_decrypt_it(tmp_path: Path) -> None:
    file = file_in(tmp_path)
    file.save(checkpoint(), CLIENT_SECRET)
    with pytest.raises(UndecryptableCheckpointError, match="was the secret rotated"):
        file.load("a-rotated-secret-value")
    # The key and the associated data name the cluster: a copy under another cluster's name is useless.
    other = file_in(tmp_path, "other-rg")
    other.path.write_bytes(file.path.read_bytes())
    with pytest.raises(UndecryptableCheckpointError):
        other.load(CLIENT_SECRET)


def test_a_tampered_or_foreign_file_is_unreadable_without_quoting_it(tmp_path: Path) -> None:
    file = file_in(tmp_path)
    file.save(checkpoint(), CLIENT_SECRET)
    raw = bytearray(file.path.read_bytes())
    raw[-20] ^= 0x01
    file.path.write_bytes(bytes(raw))
    with pytest.raises(UndecryptableCheckpointError):
        file.load(CLIENT_SECRET)
    for foreign in (b"", b'{"apimodel": "plain"}', MAGIC):
        file.path.write_bytes(foreign)
        with pytest.raises(CheckpointError, match="not a checkpoint file of this program") as raised:
            file.load(CLIENT_SECRET)
        assert "apimodel" not in str(raised.value)


def test_content_that_is_not_a_checkpoint_is_named_without_its_value() -> None:
    good = checkpoint()
    broken = dataclasses.replace(good, apimodel={"no": CLIENT_SECRET})
    for plaintext in (
        b"[]",
        b"{}",
        broken.to_bytes(),
        good.to_bytes().replace(b'"schemaVersion":1', b'"schemaVersion":9'),
    ):
        with pytest.raises(CheckpointError, match="its content is not a checkpoint") as raised:
            Checkpoint.from_bytes(plaintext)
        assert CLIENT_SECRET not in str(raised.value)
    assert Checkpoint.from_bytes(good.to_bytes()) == good


def test_an_existing_directory_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = file_in(tmp_path / "ckpt")
    (tmp_path / "ckpt").mkdir(mode=0o700)
    monkeypatch.setattr("aksengine.checkpoint.os.getuid", lambda: 4242)
    with pytest.raises(CheckpointError, match="belongs to another user"):
        file.prepare_directory()
