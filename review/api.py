"""A small JSON-over-HTTPS client for the code hosts' REST APIs: bearer token, bounded retries, clear errors.

Retries follow what GitHub and Azure DevOps ask of clients: on 429 and on 403 with `Retry-After` (GitHub's
secondary rate limit) wait as long as `Retry-After` says; on 403 with `x-ratelimit-remaining: 0` wait until
`x-ratelimit-reset`; on 500, 502, 503, 504 and on a dropped connection back off 1, 2, 4, ... seconds. A write
that is not idempotent (POST) is retried only when the server refused it before acting (429, rate limit): after a
5xx or a dropped connection the comment may exist, so the caller looks again before writing (`UncertainWrite`).

The token goes only into the `Authorization` header of requests to the API's own origin, never into a URL, a
log line or an error message; over plain HTTP it is sent only to a loopback address (the tests' fake servers).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import time as clock
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
TIMEOUT_SECONDS = 30.0


class ApiError(Exception):
    """A request that failed for good; the message names what was being done and why it failed."""


class UncertainWrite(ApiError):  # noqa: N818 (it is an error, named for what the caller must do about it)
    """A POST that failed in a way that leaves open whether the server acted on it."""


@dataclass(frozen=True)
class Response:
    """A decoded answer: status, headers (lower-case names) and the JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL: what decides whether the token may be sent there."""
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiClient:
    """JSON requests to one API origin with a bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        service: str,
        headers: Mapping[str, str] | None = None,
        max_attempts: int = 5,
        max_wait: float = 120.0,
        sleep: Callable[[float], None] = clock.sleep,
    ) -> None:
        scheme, host, _ = origin(base_url)
        if scheme not in {"https", "http"} or not host:
            raise ApiError(f"{service}: API address {base_url!r} is not an http(s) URL")
        if scheme == "http" and not is_loopback(host):
            raise ApiError(f"{service}: refusing to send the token over plain HTTP to {host}; use https")
        self.base_url = base_url.rstrip("/")
        self.service = service
        self._origin = origin(base_url)
        self._token = token
        self._headers = dict(headers or {})
        self._max_attempts = max(1, max_attempts)
        self._max_wait = max_wait
        self._sleep = sleep

    def request(self, method: str, url: str, what: str, payload: Any = None) -> Response:
        """Send one request (with retries); `what` says what it does, for the error message."""
        if origin(url) != self._origin:
            raise ApiError(f"{self.service}: {what}: the server pointed to {url!r}, outside {self.base_url}")
        data = None if payload is None else json.dumps(payload).encode()
        idempotent = method in {"GET", "PATCH", "PUT", "DELETE"}
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send(method, url, data)
            except urllib.error.HTTPError as error:
                status, headers = error.code, {k.lower(): v for k, v in error.headers.items()}
                detail = self._detail(error)
                wait = self._wait(status, headers, attempt)
                if wait is None:
                    raise ApiError(f"{self.service}: {what} failed: HTTP {status} {error.reason}{detail}") from None
                refused = status in {429, 403}
                if not idempotent and not refused:
                    raise UncertainWrite(f"{self.service}: {what}: HTTP {status} {error.reason}{detail}") from None
                failure = f"HTTP {status} {error.reason}{detail}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                reason = getattr(error, "reason", error)
                failure = f"no answer from {self._origin[1]} ({reason})"
                if not idempotent:
                    raise UncertainWrite(f"{self.service}: {what}: {failure}") from None
                wait = float(2 ** (attempt - 1))
            if attempt >= self._max_attempts:
                raise ApiError(f"{self.service}: {what} failed after {attempt} attempts: {failure}")
            if wait > self._max_wait:
                raise ApiError(
                    f"{self.service}: {what}: asked to wait {wait:.0f} s before retrying, more than"
                    f" {self._max_wait:.0f} s: {failure}"
                )
            self._sleep(wait)

    def _send(self, method: str, url: str, data: bytes | None) -> Response:
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (scheme checked above)
        for name, value in self._headers.items():
            request.add_header(name, value)
        request.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # The default opener follows redirects with the Authorization header to any host; ours follows none.
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
            raw = answer.read()
            headers = {k.lower(): v for k, v in answer.headers.items()}
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                raise ApiError(f"{self.service}: {method} {urlsplit(url).path}: the answer is not JSON") from None
            return Response(status=answer.status, headers=headers, body=body)

    def _wait(self, status: int, headers: Mapping[str, str], attempt: int) -> float | None:
        """Seconds to wait before retrying this answer, or None when it is not worth retrying."""
        retry_after = _retry_after(headers.get("retry-after"))
        if status == 403:
            if retry_after is not None:
                return retry_after
            if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
                return max(0.0, float(headers["x-ratelimit-reset"]) - clock.time())
            return None
        if status not in RETRY_STATUSES:
            return None
        if retry_after is not None:
            return retry_after
        return float(2 ** (attempt - 1))

    def _detail(self, error: urllib.error.HTTPError) -> str:
        """The server's own explanation (`message` in GitHub's and Azure DevOps' error bodies), token removed."""
        try:
            raw = error.read(4096)
            body = json.loads(raw) if raw else None
        except (ValueError, OSError):
            return ""
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return ""
        return f" ({self.redact(message.strip())[:300]})"

    def redact(self, text: str) -> str:
        """The text with the token replaced, in case a server echoes it back."""
        return text.replace(self._token, "***") if self._token else text


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turns every redirect into an error: a redirect would carry the token to wherever it points."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)
