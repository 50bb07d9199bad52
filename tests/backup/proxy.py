"""A forward HTTP proxy on loopback between the code under test and Azurite: it records, and can misbehave.

The code reaches it through `http_proxy`, as a pod reaches an egress proxy through `HTTPS_PROXY`. Faults: change
one byte of a matching request's body (the service then rejects the block by its Content-MD5), answer 201
without forwarding (the block is lost), close the connection without an answer (storage unreachable), or forward
the request and lose the service's answer. With `newest_version` it stands in front of Azurite as an Azure Stack
Hub's storage does: a request whose `x-ms-version` is newer is refused with the hub's 400 `InvalidHeaderValue`
(the reply GitLab's issue CNG#2237 records for 2023-08-03), before anything reaches the storage.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Match = Callable[[str, str], bool]
"""(method, path with query) -> whether a fault applies."""


@dataclass
class Faults:
    corrupt: Match | None = None
    corrupt_times: int = 10**9
    swallow: Match | None = None
    hang_up: Match | None = None
    lose_reply: Match | None = None
    lose_reply_times: int = 1
    newest_version: str | None = None
    seen: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path and query, status answered) of every request, in order."""
    versions: list[str] = field(default_factory=list)
    """The `x-ms-version` of every request, in order."""
    authorizations: list[str] = field(default_factory=list)
    """The `Proxy-Authorization` of every request ("" when none), in order."""


def _invalid_version(version: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidHeaderValue</Code><Message>The value for one of '
        "the HTTP headers is not in the correct format.\nRequestId:0 Time:2026-01-01T00:00:00Z</Message>"
        f"<HeaderName>x-ms-version</HeaderName><HeaderValue>{version}</HeaderValue></Error>"
    ).encode()


class Proxy:
    """Start with `Proxy()`, point `http_proxy` at `.url`, `.close()` at the end."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                target = urllib.parse.urlsplit(self.path)
                path = target.path + (f"?{target.query}" if target.query else "")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                faults = proxy.faults
                version = self.headers.get("x-ms-version", "")
                with proxy.lock:
                    faults.versions.append(version)
                    faults.authorizations.append(self.headers.get("Proxy-Authorization", ""))
                if faults.newest_version is not None and version > faults.newest_version:
                    proxy.record(self.command, path, 400)
                    self._reply(400, [("x-ms-error-code", "InvalidHeaderValue")], _invalid_version(version))
                    return
                if faults.hang_up and faults.hang_up(self.command, path):
                    proxy.record(self.command, path, 0)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if faults.swallow and faults.swallow(self.command, path):
                    proxy.record(self.command, path, 201)
                    self._reply(201, [], b"")
                    return
                if faults.corrupt and faults.corrupt(self.command, path) and body and faults.corrupt_times > 0:
                    faults.corrupt_times -= 1
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                upstream = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=60)
                hop = ("proxy-connection", "connection", "proxy-authorization")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
                upstream.request(self.command, path, body=body if body or self.command == "PUT" else None,
                                 headers=headers)  # fmt: skip
                response = upstream.getresponse()
                data = response.read()
                proxy.record(self.command, path, response.status)
                if faults.lose_reply and faults.lose_reply(self.command, path) and faults.lose_reply_times > 0:
                    faults.lose_reply_times -= 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._reply(response.status, response.getheaders(), data)
                upstream.close()

            def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _handle  # noqa: N815 (http.server's names)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.faults.seen.append((method, path, status))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
