"""A small forwarding proxy on loopback that tunnels HTTPS with CONNECT and records what it tunnels.

It behaves like an enterprise proxy where it matters here: clients ask it for `CONNECT host:port`, it resolves the
host itself (so a client that reaches a host only it can resolve must have gone through it), it can require
Basic credentials (407 without them), and it refuses plain requests it does not forward (501). The bytes inside a
tunnel are never looked at: TLS runs end to end between the client and the destination.

    with ConnectProxy(resolve={"management.local.azurestack.external": "127.0.0.1"}) as proxy:
        os.environ["HTTPS_PROXY"] = proxy.url
        ...
        proxy.tunnels  # ["management.local.azurestack.external:8443", ...]
"""

from __future__ import annotations

import base64
import io
import select
import socket
import socketserver
import threading
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    """One request the proxy received."""

    method: str
    target: str
    """`host:port` of a CONNECT, or the absolute URL of a plain request."""
    user: str | None
    """The user of a `Proxy-Authorization: Basic` header, if any."""
    status: int
    """What the proxy answered."""


class ConnectProxy:
    """Start with `ConnectProxy(...)` or as a context manager; `.url` is `http://127.0.0.1:<port>`."""

    def __init__(self, resolve: Mapping[str, str] | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.resolve = dict(resolve or {})
        self.credentials = credentials
        self._lock = threading.Lock()
        self._attempts: list[Attempt] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            # Unbuffered: nothing past the request's headers may be read from the client before the tunnel opens.
            rbufsize = 0

            def handle(self) -> None:
                proxy._serve(self.connection, self.rfile)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="connect-proxy")
        self._thread.start()

    def __enter__(self) -> ConnectProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self._server.server_address[1]}"

    @property
    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    @property
    def tunnels(self) -> list[str]:
        """`host:port` of every tunnel opened, in order (one per client connection, not per request)."""
        return [a.target for a in self.attempts if a.method == "CONNECT" and a.status == 200]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- one client connection -----------------------------------------------------------------------------

    def _serve(self, client: socket.socket, rfile: io.BufferedIOBase) -> None:
        line = rfile.readline(65537).decode("latin-1").strip()
        headers: dict[str, str] = {}
        while True:
            header = rfile.readline(65537).decode("latin-1")
            if header in ("\r\n", "\n", ""):
                break
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        method, _, rest = line.partition(" ")
        target = rest.rsplit(" ", 1)[0]
        user = _basic_user(headers.get("proxy-authorization"))
        if self.credentials is not None and headers.get("proxy-authorization") != _basic(*self.credentials):
            self._record(method, target, user, 407)
            client.sendall(b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="egress"\r\n'
                           b"Content-Length: 0\r\nConnection: close\r\n\r\n")  # fmt: skip
            return
        if method != "CONNECT":
            self._record(method, target, user, 501)
            client.sendall(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((self.resolve.get(host, host), int(port)), timeout=30)
        except (OSError, ValueError):
            self._record(method, target, user, 502)
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        self._record(method, target, user, 200)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _relay(client, upstream)

    def _record(self, method: str, target: str, user: str | None, status: int) -> None:
        with self._lock:
            self._attempts.append(Attempt(method, target, user, status))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _basic_user(header: str | None) -> str | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        return base64.b64decode(header[6:]).decode().split(":", 1)[0]
    except ValueError:
        return None


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    sockets = [client, upstream]
    try:
        while True:
            readable, _, broken = select.select(sockets, [], sockets, 60)
            if broken or not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()
