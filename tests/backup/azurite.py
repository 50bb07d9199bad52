"""Azurite (Microsoft's Blob storage emulator) started on loopback for the tests, and SAS tokens signed for it.

Azurite is installed by `make` under `.tools/azurite` (npm package `azurite`, pinned with its dependencies in
tools/azurite/package-lock.json). It serves the well-known development account `devstoreaccount1`; the tokens
here are real service and account SAS, signed with its published key by the same HMAC-SHA256 the service checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
REPO = Path(__file__).resolve().parents[2]
AZURITE_BLOB = Path(os.environ.get("AZURITE_BLOB", REPO / ".tools/azurite/node_modules/.bin/azurite-blob"))
FAR_FUTURE = "2099-01-01T00:00:00Z"


def _sign(string_to_sign: str) -> str:
    key = base64.b64decode(ACCOUNT_KEY)
    return base64.b64encode(hmac.new(key, string_to_sign.encode(), hashlib.sha256).digest()).decode()


def service_sas(
    container: str, permissions: str, expiry: str = FAR_FUTURE, version: str = "2019-12-12", protocol: str = ""
) -> str:
    """A container SAS (`sr=c`): the string-to-sign of versions 2018-11-09 to 2020-10-02, or 2020-12-06 and later."""
    fields = [permissions, "", expiry, f"/blob/{ACCOUNT}/{container}", "", "", protocol, version, "c", ""]
    if version >= "2020-12-06":
        fields.append("")  # signed encryption scope
    fields += ["", "", "", "", ""]  # response header overrides
    query = {"sv": version, "sr": "c", "sp": permissions, "se": expiry, "sig": _sign("\n".join(fields))}
    if protocol:
        query["spr"] = protocol
    return urllib.parse.urlencode(query)


def account_sas(permissions: str = "rwdlacup", expiry: str = FAR_FUTURE, version: str = "2019-12-12") -> str:
    """An account SAS for the test's own administration (create containers, inspect, tamper)."""
    string_to_sign = "\n".join([ACCOUNT, permissions, "b", "sco", "", expiry, "", "", version, ""])
    return urllib.parse.urlencode({
        "sv": version, "ss": "b", "srt": "sco", "sp": permissions, "se": expiry, "sig": _sign(string_to_sign)
    })  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One request straight to Azurite (no proxy); returns status and body."""
    req = urllib.request.Request(
        url, data=body, method=method, headers={"x-ms-version": "2019-12-12", **(headers or {})}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class Container:
    """A container made for one test."""

    endpoint: str
    name: str

    @property
    def url(self) -> str:
        return f"{self.endpoint}/{self.name}"

    def sas_url(self, permissions: str, **kwargs: str) -> str:
        return f"{self.url}?{service_sas(self.name, permissions, **kwargs)}"

    def admin(self, method: str, blob: str = "", query: str = "", body: bytes | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
        path = f"{self.url}/{urllib.parse.quote(blob)}" if blob else f"{self.url}"
        return request(method, f"{path}?{query + '&' if query else ''}{account_sas()}", body, headers)


class Azurite:
    """One azurite-blob process on a free loopback port, data under `location`."""

    def __init__(self, location: Path) -> None:
        if not AZURITE_BLOB.exists():
            raise RuntimeError(f"{AZURITE_BLOB} is missing: run `make .tools/azurite/.stamp` (or make unit)")
        self.location = location
        self.port = free_port()
        self.log = location / "azurite.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def start(self) -> None:
        self.location.mkdir(parents=True, exist_ok=True)
        command = [str(AZURITE_BLOB), "--location", str(self.location), "--blobHost", "127.0.0.1",
                   "--blobPort", str(self.port), "--disableTelemetry"]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"azurite-blob exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("azurite-blob did not listen within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def container(self, prefix: str = "backups") -> Container:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        status, body = request("PUT", f"{self.endpoint}/{name}?restype=container&{account_sas()}")
        if status != 201:
            raise RuntimeError(f"creating container {name}: {status} {body[:200]!r}")
        return Container(self.endpoint, name)
