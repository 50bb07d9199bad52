"""Fixtures of the backup tests: Azurite, throwaway keys made with the real openssl, the fake mongo tools, and
the pod steps run the way the pods run them (bash scripts; `python -S -m backupjob.<step>` from a copy of the
ConfigMap's files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.backup.azurite import Azurite, Container
from tests.backup.fakes import tools
from tests.backup.proxy import Proxy
from workloads.backup.jobs import POD_PACKAGE, python_files
from workloads.backup.scripts import COUNTS_JS, Recipient, dump_script, restore_script, verify_restore_script

HUB = "seattle"
DATASET: dict[str, Any] = {
    "server_version": "8.0.17",
    "tool_version": "100.13.0",
    "collections": {
        "ratingsdb.items": {"documents": 170},
        "ratingsdb.ratings": {"documents": 260},
        "ratingsdb.empty": {"documents": 0},
        "ratingsdb.top": {"type": "view"},
        "admin.system.users": {"documents": 3},
        "admin.system.version": {"documents": 2},
    },
    "oplog": [
        {"op": "n", "ns": "", "ts": [1_767_000_000, 1]},
        {"op": "i", "ns": "ratingsdb.ratings", "ts": [1_767_000_001, 1]},
        {"op": "u", "ns": "ratingsdb.items", "ts": [1_767_000_001, 2]},
        {"op": "d", "ns": "ratingsdb.items", "ts": [1_767_000_002, 1]},
    ],
}


@dataclass(frozen=True)
class Keys:
    """Throwaway recipients: an RSA recovery key and an EC verification key, with self-signed certificates."""

    directory: Path
    recipients_dir: Path

    @property
    def recovery_key(self) -> Path:
        return self.directory / "recovery-key.pem"

    @property
    def verification_key(self) -> Path:
        return self.directory / "verification-key.pem"

    @property
    def recipients(self) -> list[Recipient]:
        return [Recipient("recovery.pem", rsa=True), Recipient("verification.pem", rsa=False)]


BASH = shutil.which("bash") or "/bin/bash"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def openssl(*args: str) -> None:
    subprocess.run([OPENSSL, *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("keys")
    recipients = directory / "recipients"
    recipients.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:3072", "-nodes", "-keyout", str(directory / "recovery-key.pem"),
            "-out", str(recipients / "recovery.pem"), "-subj", "/CN=backup recovery", "-days", "30")  # fmt: skip
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(directory / "verification-key.pem"))
    openssl("req", "-x509", "-new", "-key", str(directory / "verification-key.pem"), "-out",
            str(recipients / "verification.pem"), "-subj", "/CN=backup verification", "-days", "30")  # fmt: skip
    return Keys(directory, recipients)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


@pytest.fixture
def container(azurite: Azurite) -> Container:
    return azurite.container()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    server = Proxy()
    yield server
    server.close()


@dataclass
class Pod:
    """One pod's work directory and the steps run in it as the pods run them."""

    root: Path
    keys: Keys
    bin_dir: Path
    package_root: Path
    dataset: Path
    proxy_url: str = ""
    members: int = 3

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def state(self) -> Path:
        return self.root / "mongo-state"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("FAKE_")}
        env.update({
            "PATH": f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "BACKUP_WORK": str(self.work),
            "BACKUP_RECIPIENTS": str(self.keys.recipients_dir),
            "BACKUP_SCRIPTS": str(self.root / "scripts"),
            "FAKE_MONGO_STATE": str(self.state),
            "FAKE_MONGO_DATASET": str(self.dataset),
            "PYTHONPATH": str(self.package_root),
            "PYTHONDONTWRITEBYTECODE": "1",
        })  # fmt: skip
        if self.proxy_url:
            env["http_proxy"] = env["https_proxy"] = self.proxy_url
        env.update(extra)
        return env

    def bash(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        path = self.root / "scripts" / "step.sh"
        path.write_text(script)
        return subprocess.run(
            [BASH, str(path)], env=self.env(**env), capture_output=True, text=True, timeout=120, check=False
        )

    def dump(self, **env: str) -> subprocess.CompletedProcess[str]:
        config = self.root / "mongodump.yaml"
        return self.bash(dump_script(self.keys.recipients, "secondary"), MONGODUMP_CONFIG=str(config), **env)

    def python(self, module: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-S", "-m", f"{POD_PACKAGE}.{module}", *args]
        return subprocess.run(command, env=self.env(**env), capture_output=True, text=True, timeout=300,
                              cwd=self.root, check=False)  # fmt: skip

    def sas_file(self, url: str) -> str:
        path = self.root / f"sas-{abs(hash(url))}.url"
        path.write_text(url + "\n")
        return str(path)

    def upload(self, sas_url: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self.python("upload", "--hub", HUB, "--work", str(self.work), "--sas-file", self.sas_file(sas_url),
                           "--recipients", str(self.keys.recipients_dir), "--block-kib", "1", "--pause", "0.05",
                           *extra, **env)  # fmt: skip

    def fetch(self, sas_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.python("fetch", "--hub", HUB, "--work", str(self.work), "--sas-file", self.sas_file(sas_url),
                           "--pause", "0.05", *extra)  # fmt: skip

    def verify_restore(self, key: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        key = key or self.keys.verification_key
        return self.bash(verify_restore_script(), RESTORE_KEY=str(key), SCRATCH_PORT="27999", **env)

    def restore(self, key: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        key = key or self.keys.recovery_key
        config = self.root / "mongorestore.yaml"
        return self.bash(restore_script(), RESTORE_KEY=str(key), MONGORESTORE_CONFIG=str(config), **env)

    def report(self, sas_url: str | None) -> subprocess.CompletedProcess[str]:
        args = ["--work", str(self.work), "--termination-log", str(self.root / "termination-log"), "--pause", "0.05"]
        if sas_url:
            args += ["--sas-file", self.sas_file(sas_url)]
        return self.python("report", *args)

    def calls(self, tool: str) -> list[list[str]]:
        log = self.state / "calls.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return [entry["argv"] for entry in map(json.loads, lines) if entry["tool"] == tool]

    def files(self) -> set[str]:
        return {path.name for path in self.work.iterdir()}


@pytest.fixture(scope="session")
def fake_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bin")
    tools.install(directory)
    return directory


@pytest.fixture(scope="session")
def package_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python steps' ConfigMap as the pods mount it: `<root>/backupjob/<file>.py`."""
    root = tmp_path_factory.mktemp("python")
    (root / POD_PACKAGE).mkdir()
    for name, text in python_files().items():
        (root / POD_PACKAGE / name).write_text(text)
    return root


def make_pod(root: Path, keys: Keys, fake_bin: Path, package_root: Path, dataset: Mapping[str, Any]) -> Pod:
    for name in ("work", "scripts", "mongo-state"):
        (root / name).mkdir(parents=True, exist_ok=True)
    (root / "scripts" / "counts.js").write_text(COUNTS_JS)
    (root / "dataset.json").write_text(json.dumps(dataset))
    (root / "mongodump.yaml").write_text('uri: "mongodb://backup@ratings-mongodb-0:27017/?replicaSet=rs0"\n'
                                         'password: "not-a-real-one"\n')  # fmt: skip
    shutil.copy(root / "mongodump.yaml", root / "mongorestore.yaml")
    return Pod(root, keys, fake_bin, package_root, root / "dataset.json")


@pytest.fixture
def pod(tmp_path: Path, keys: Keys, fake_bin: Path, package_root: Path) -> Pod:
    return make_pod(tmp_path / "pod", keys, fake_bin, package_root, DATASET)


@pytest.fixture
def second_pod(tmp_path: Path, keys: Keys, fake_bin: Path, package_root: Path) -> Pod:
    """Another pod (the verification's or the restore's), sharing nothing with `pod` but the storage."""
    return make_pod(tmp_path / "second", keys, fake_bin, package_root, DATASET)
