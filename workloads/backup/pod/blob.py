"""Azure Blob storage through a container SAS, with the standard library only.

Uploads are Put Block (fixed-size blocks, each with its Content-MD5 so the service rejects a block damaged in
transit) then Put Block List: the service refuses chunked transfer encoding, and a block blob takes at most 50,000
blocks, each at most the storage profile's limit (4000 MiB on Azure at 2019-12-12, 100 MiB on an Azure Stack Hub at
2019-07-07; `profiles`). Every request carries the profile's `x-ms-version`. Every commit carries
`If-None-Match: *`, so this client never replaces a blob; on Azure the container's retention policy makes that true
for anyone holding the SAS, on a hub nothing here does (`profiles`).

Transient failures (connection errors, timeouts, 408/429/5xx, a block damaged in transit) are retried a few times
with a growing pause; anything else stops at once with a message that says what to do. A proxy named by the usual
`https_proxy`/`http_proxy`/`no_proxy` variables is used, as urllib does by default (a proxy with credentials comes
as files, which `common.load_proxy_files` turns into those variables first).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from .profiles import AZURE, AZURE_STACK_HUB, MIB, StorageProfile

MAX_BLOCK_BYTES = AZURE.max_block_bytes
"""The largest block of any profile."""
MAX_BLOCKS = 50_000
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_CODES = frozenset({"Md5Mismatch"})
_READ_CHUNK = MIB


class StorageError(Exception):
    """A storage request failed for good; the message says why and what it means."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "", attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.attempts = attempts


@dataclass(frozen=True)
class ContainerSas:
    """A container URL and its SAS token, as the shared stack hands them to the hubs."""

    container_url: str
    """`https://<account>.blob.core.windows.net/<container>`, without a query."""
    token: str
    """The SAS query string, without `?`."""
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> ContainerSas:
        """From `<container URL>?<SAS>` (whitespace around it ignored)."""
        base, _, token = url.strip().partition("?")
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.path.strip("/") == "":
            raise StorageError("the storage URL must be https://<account host>/<container>?<SAS>")
        if not token:
            raise StorageError("the storage URL carries no SAS token (expected ...?sv=...&sig=...)")
        fields = dict(urllib.parse.parse_qsl(token, keep_blank_values=True))
        return cls(base.rstrip("/"), token, fields)

    @property
    def host(self) -> str:
        """The storage endpoint, for messages and for the egress rules."""
        return urllib.parse.urlsplit(self.container_url).netloc

    @property
    def expiry(self) -> datetime | None:
        """When the SAS stops working (`se`), if it says."""
        value = self.fields.get("se", "")
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
        except ValueError:
            return None

    def problems(self, needs: str, profile: StorageProfile = AZURE) -> list[str]:
        """Why this SAS cannot serve an operation needing the permission letters `needs` (empty: it can)."""
        problems = []
        version_problem = profile.sas_version_problem(self.fields.get("sv", ""))
        if version_problem is not None:
            problems.append(f"the SAS's {version_problem}")
        missing = sorted(set(needs) - set(self.fields.get("sp", "")))
        if missing:
            problems.append(f"the SAS lacks permission {''.join(missing)} (it has {self.fields.get('sp', '')!r})")
        if "sig" not in self.fields:
            problems.append("the SAS has no signature")
        return problems

    def url(self, blob: str = "", **params: str) -> str:
        """The URL of the container (no blob) or of a blob, with extra query parameters and the SAS."""
        path = self.container_url + ("/" + urllib.parse.quote(blob, safe="/") if blob else "")
        extra = urllib.parse.urlencode(params)
        return f"{path}?{extra + '&' if extra else ''}{self.token}"


@dataclass(frozen=True)
class BlobItem:
    """A committed blob from a listing."""

    name: str
    size: int


def block_id(index: int) -> str:
    """The base64 id of block `index`: same length for every block of a blob, as the service requires."""
    return base64.b64encode(f"block-{index:06d}".encode()).decode()


def plan_block_size(total: int, preferred: int, profile: StorageProfile = AZURE) -> int:
    """The block size for `total` bytes: `preferred`, grown to fit in 50,000 blocks; refused past the maximum."""
    if preferred < 1:
        raise ValueError("the block size must be positive")
    largest = profile.max_block_bytes
    if preferred > largest:
        raise ValueError(
            f"blocks of {preferred} bytes are larger than {profile.where} takes at service version "
            f"{profile.service_version} ({largest} bytes, {largest // MIB} MiB)"
        )
    needed = -(-total // MAX_BLOCKS)
    size = max(preferred, -(-needed // MIB) * MIB) if needed > preferred else preferred
    if size > largest:
        raise ValueError(
            f"{total} bytes do not fit in {MAX_BLOCKS} blocks of at most {largest} bytes ({profile.where})"
        )
    return size


class BlobClient:
    """The few Blob operations the backup needs, on one container."""

    def __init__(
        self,
        sas: ContainerSas,
        *,
        profile: StorageProfile = AZURE,
        attempts: int = 4,
        pause: float = 1.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.sas = sas
        self.profile = profile
        self.attempts = attempts
        self.pause = pause
        self.timeout = timeout
        self._sleep = sleep
        self._log = log or _stderr
        self._opener = urllib.request.build_opener()  # honours the proxy variables

    # -- uploads -------------------------------------------------------------------------------------------------

    def put_block(self, blob: str, index: int, data: bytes) -> None:
        """Stage block `index` of `blob`; the service checks it against its MD5."""
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        url = self.sas.url(blob, comp="block", blockid=block_id(index))
        self._request("PUT", url, data, {"Content-MD5": md5}, f"upload block {index} of {blob}")

    def put_block_list(self, blob: str, blocks: int, size: int, content_type: str) -> None:
        """Commit blocks 0..blocks-1 as `blob` (never over an existing blob)."""
        ids = "".join(f"<Latest>{block_id(i)}</Latest>" for i in range(blocks))
        body = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{ids}</BlockList>'.encode()
        headers = {"If-None-Match": "*", "x-ms-blob-content-type": content_type, "Content-Type": "application/xml"}
        self._commit(blob, size, lambda: self._request("PUT", self.sas.url(blob, comp="blocklist"), body, headers,
                                                       f"commit the block list of {blob}"))  # fmt: skip

    def put_blob(self, blob: str, data: bytes, content_type: str) -> None:
        """Create a small blob in one request (never over an existing blob)."""
        headers = {"x-ms-blob-type": "BlockBlob", "If-None-Match": "*", "Content-Type": content_type}
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        headers["Content-MD5"] = md5
        self._commit(blob, len(data), lambda: self._request("PUT", self.sas.url(blob), data, headers, f"write {blob}"))

    def _commit(self, blob: str, size: int, send: Callable[[], object]) -> None:
        try:
            send()
        except StorageError as error:
            # A retried commit can find its own first attempt done (the reply was lost): accept that one case.
            if error.code == "BlobAlreadyExists" and error.attempts > 1 and self._exists(blob, size):
                self._log(f"{blob}: committed by an earlier attempt whose reply was lost")
                return
            raise

    def _exists(self, blob: str, size: int) -> bool:
        return any(item.name == blob and item.size == size for item in self.list(blob))

    # -- reads ---------------------------------------------------------------------------------------------------

    def list(self, prefix: str, page_size: int = 5000) -> list[BlobItem]:
        """Every committed blob whose name starts with `prefix`, following continuation markers."""
        items: list[BlobItem] = []
        marker = ""
        while True:
            params = {"restype": "container", "comp": "list", "prefix": prefix, "maxresults": str(page_size)}
            if marker:
                params["marker"] = marker
            _, _, body = self._request("GET", self.sas.url(**params), None, {}, f"list {prefix or 'the container'}")
            root = ET.fromstring(body)  # noqa: S314 (the storage service's reply)
            for node in root.iter("Blob"):
                name = node.findtext("Name") or ""
                size = int(node.findtext("Properties/Content-Length") or 0)
                items.append(BlobItem(name, size))
            marker = root.findtext("NextMarker") or ""
            if not marker:
                return items

    def read(self, blob: str) -> bytes:
        """A small blob's content."""
        return self._request("GET", self.sas.url(blob), None, {}, f"read {blob}")[2]

    def download(self, blob: str, destination: Path) -> tuple[int, str]:
        """Stream `blob` to `destination`; returns its size and SHA-256 (hex). Retries restart from the beginning."""
        for attempt in range(1, self.attempts + 1):
            digest = hashlib.sha256()
            size = 0
            try:
                with self._open("GET", self.sas.url(blob), None, {}) as response, destination.open("wb") as out:
                    while chunk := response.read(_READ_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                return size, digest.hexdigest()
            except urllib.error.HTTPError as error:
                failure = self._http_failure(error, f"download {blob}", attempt)
            except (OSError, http.client.HTTPException) as error:
                failure = self._network_failure(error, f"download {blob}", attempt)
            destination.unlink(missing_ok=True)
            if failure.status is not None and not _transient(failure):
                raise failure
            if attempt == self.attempts:
                raise failure
            self._retry(failure, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- transport -----------------------------------------------------------------------------------------------

    def _open(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> IO[bytes]:
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 (https or the test emulator)
        request.add_header("x-ms-version", self.profile.service_version)
        request.add_header("x-ms-date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        for name, value in headers.items():
            request.add_header(name, value)
        response: IO[bytes] = self._opener.open(request, timeout=self.timeout)
        return response

    def _request(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], what: str
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(1, self.attempts + 1):
            try:
                with self._open(method, url, body, headers) as response:
                    status = int(getattr(response, "status", 200))
                    reply_headers = dict(getattr(response, "headers", {}).items())
                    return status, reply_headers, response.read()
            except urllib.error.HTTPError as error:
                failure = self._http_failure(error, what, attempt)
            except (OSError, http.client.HTTPException) as error:
                failure = self._network_failure(error, what, attempt)
            if (failure.status is not None and not _transient(failure)) or attempt == self.attempts:
                raise failure
            self._retry(failure, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry(self, failure: StorageError, attempt: int) -> None:
        wait = self.pause * 2 ** (attempt - 1)
        self._log(f"{failure} (attempt {attempt} of {self.attempts}; retrying in {wait:g} s)")
        self._sleep(wait)

    def _network_failure(self, error: BaseException, what: str, attempt: int) -> StorageError:
        reason = getattr(error, "reason", None) or error
        return StorageError(
            f"backup storage unreachable: could not {what} at {self.sas.host} ({reason})", attempts=attempt
        )

    def _http_failure(self, error: urllib.error.HTTPError, what: str, attempt: int) -> StorageError:
        body = error.read() or b""
        code = error.headers.get("x-ms-error-code", "") if error.headers else ""
        message = ""
        if body.startswith(b"<?xml") or body.startswith(b"<Error"):
            try:
                root = ET.fromstring(body)  # noqa: S314 (the storage service's reply)
                code = code or (root.findtext("Code") or "")
                message = (root.findtext("Message") or "").split("\n", 1)[0]
            except ET.ParseError:
                pass
        detail = f"{error.code} {code or error.reason}" + (f": {message}" if message else "")
        if error.code == 403:
            text = f"backup storage refused the SAS when trying to {what} ({detail}): {self._why_refused()}"
        elif error.code == 409 and code == "BlobAlreadyExists":
            text = (
                f"backup storage refused to {what} ({detail}): a blob of that name exists, and backups never "
                "replace one"
            )
        elif error.code == 400 and code == "InvalidHeaderValue" and b"x-ms-version" in body:
            text = (
                f"backup storage rejected the request to {what} ({detail}): it does not accept service version "
                f"{self.profile.service_version} (storage profile {self.profile.name!r}); {self._version_advice()}"
            )
        else:
            text = f"backup storage rejected the request to {what} ({detail})"
        return StorageError(text, status=error.code, code=code, attempts=attempt)

    def _version_advice(self) -> str:
        hub = AZURE_STACK_HUB
        if self.profile.name != hub.name:
            return f"{hub.where} takes versions up to {hub.service_version}: set the storage profile to {hub.name!r}"
        return "Azure Stack Hub releases before 2008 take older versions only: update the hub"

    def _why_refused(self) -> str:
        expiry = self.sas.expiry
        if expiry is not None and expiry <= datetime.now(UTC):
            return f"it expired at {expiry:%Y-%m-%dT%H:%M:%SZ}; renew it in the shared stack and update the hub"
        return "it is revoked, lacks the permission, is bound to other addresses, or is not valid yet"


def _transient(failure: StorageError) -> bool:
    return failure.status in _TRANSIENT_STATUS or failure.code in _TRANSIENT_CODES


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def read_blocks(stream: IO[bytes], block_size: int) -> Iterator[bytes]:
    """Fixed-size blocks of a stream (the last one shorter)."""
    while block := stream.read(block_size):
        yield block
