"""Readable errors for failed ARM calls against a hub: what was asked, what the hub answered, what to do next."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Literal
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError, HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.polling.base_polling import OperationFailed

from arm.api_versions import API_PROFILE, API_VERSIONS, canonical_type, resource_type_of
from arm.connection import DEFAULT_RETRY, RETRIED_STATUSES, RetrySettings

# The codes a hub answers with when asked for an API version newer than its profile.
API_VERSION_ERROR_CODES = frozenset({"NoRegisteredProviderFound", "InvalidApiVersionParameter"})

# 401 codes ARM answers for a token it no longer accepts (expired, or issued for a session that ended).
TOKEN_ERROR_CODES = frozenset({"ExpiredAuthenticationToken", "InvalidAuthenticationToken", "AuthenticationFailed"})

_REDACTED = "***"
_AGAIN = "run `pulumi up` again"

Phase = Literal["request", "polling", "operation"]
"""Where the call failed: the request itself, reading its long-running operation's status, or the operation."""


class ArmError(Exception):
    """An ARM request failed: says what was asked (operation, id, api-version) and what ARM answered.

    The message never carries a token or a client secret: it is built from ARM's error code and message only,
    and any secret passed in `redact` is masked should a server echo it.
    """

    def __init__(
        self,
        *,
        operation: str,
        resource_id: str,
        api_version: str,
        status_code: int | None,
        code: str | None,
        detail: str,
        redact: Iterable[str] = (),
        phase: Phase = "request",
        retries: int = 0,
        endpoint: str | None = None,
    ) -> None:
        self.operation = operation
        self.resource_id = resource_id
        self.api_version = api_version
        self.status_code = status_code
        self.code = code
        self.detail = _redact(detail, redact)
        self.phase: Phase = phase
        self.retries = retries
        """How many retries the retry policy allowed for this kind of failure before it gave up."""
        self.endpoint = endpoint
        super().__init__(self._compose())

    @classmethod
    def from_azure_error(
        cls,
        error: AzureError,
        *,
        operation: str,
        resource_id: str,
        api_version: str,
        redact: Iterable[str] = (),
        retry: RetrySettings = DEFAULT_RETRY,
        endpoint: str | None = None,
    ) -> ArmError:
        """Wrap an azure-core error (an HTTP error, a failed token request, an unreachable endpoint).

        `retry` is what the failed call was retried with: the message says how many retries it allowed.
        `endpoint` is the hub's ARM endpoint, named when no answer came from it.
        """
        status_code: int | None = None
        code: str | None = None
        detail = error.message or type(error).__name__
        phase: Phase = "request"
        retries = 0
        if isinstance(error, HttpResponseError):
            status_code = error.status_code
            code, arm_message = _arm_error_of(error)
            if arm_message:
                detail = arm_message
            phase = _phase_of(error, resource_id)
            if phase == "operation":
                status_code = None
            elif status_code in RETRIED_STATUSES:
                retries = retry.retries_of("status")
        elif isinstance(error, ServiceRequestError) and "CERTIFICATE_VERIFY_FAILED" in detail:
            detail += (
                " (the hub's certificate is not trusted: point REQUESTS_CA_BUNDLE at a PEM bundle that holds "
                "the hub's root CA)"
            )
        elif isinstance(error, ServiceRequestError | ServiceResponseError):
            # ServiceRequestError: no connection was made; ServiceResponseError: it broke before the answer.
            retries = retry.retries_of("connect" if isinstance(error, ServiceRequestError) else "read")
        return cls(
            operation=operation,
            resource_id=resource_id,
            api_version=api_version,
            status_code=status_code,
            code=code,
            detail=detail,
            redact=redact,
            phase=phase,
            retries=retries,
            endpoint=endpoint,
        )

    def _compose(self) -> str:
        code = f" {self.code}" if self.code else ""
        if self.phase == "operation":
            reason = f" ({self.code})" if self.code else ""
            answer = f"ARM accepted it, but its long-running operation ended Failed{reason}: {self.detail}"
        else:
            status = f"HTTP {self.status_code}" if self.status_code is not None else "no HTTP response"
            answer = f"{status}{code}: {self.detail}"
            if self.phase == "polling":
                answer = f"the status of its long-running operation could not be read: {answer}"
        message = f"ARM {self.operation} of {self.resource_id} (api-version {self.api_version}) failed: {answer}"
        hint = self._hint()
        if not hint:
            return message
        return f"{message} {hint}" if message.endswith(".") else f"{message}. {hint}"

    def _hint(self) -> str:
        """What to do next, for the failures a person can act on."""
        if self.code in API_VERSION_ERROR_CODES:
            return _api_version_hint(self.resource_id)
        if self.phase == "operation":
            redo = "deletes it again" if self.operation == "delete" else "puts it again"
            return (
                f"Fix what the hub names, then {_AGAIN}: the resource may be left on the hub in state Failed, and "
                f"the next run {redo}."
            )
        if self.status_code == 409:
            return (
                "Not retried (a 409 without Retry-After is final for azure-core): the request conflicts with the "
                "resource's current state, most often another "
                f"operation still running on it or on its parent. Wait until that finishes, then {_AGAIN}."
            )
        if self.status_code == 401 and self.code in TOKEN_ERROR_CODES:
            return (
                "Not retried: the hub stopped accepting the access token during the run. "
                f"{_AGAIN.capitalize()}, which gets a new token; if it happens again, check that this machine's "
                "clock agrees with the hub's and that the service principal and its secret are still valid."
            )
        return self._retried_hint()

    def _retried_hint(self) -> str:
        """For failures the retry policy retried until it gave up."""
        tried = f"Retried {self.retries} time(s) by the retry policy (RetrySettings in arm/connection.py)"
        if self.status_code == 429:
            return f"{tried}, each after the hub's Retry-After, and the hub is still throttling: wait, then {_AGAIN}."
        if self.status_code in RETRIED_STATUSES:
            return (
                f"{tried}, and the hub kept failing: check the hub's health (alerts in its administrator portal), "
                f"then {_AGAIN}; ARM requests are idempotent, so the next run repeats this one."
            )
        if self.status_code is None and self.retries:
            # The count is the policy's bound: the hub's metadata request retries a failed connection once only.
            tried = tried.replace("Retried ", "Retried up to ", 1)
            where = f" to {self.endpoint}" if self.endpoint else " to the hub"
            return f"{tried}, and no answer came: check the network path{where} (VPN, proxy, firewall), then {_AGAIN}."
        return ""


def _arm_error_of(error: HttpResponseError) -> tuple[str | None, str | None]:
    """ARM's `{"error": {"code", "message"}}`, from azure-core's parsed model or the raw body."""
    parsed = error.error
    if parsed is not None and parsed.code:
        return parsed.code, parsed.message
    if error.response is None:
        return None, None
    try:
        body = json.loads(error.response.text())
    except (ValueError, UnicodeDecodeError):
        return None, None
    inner = body.get("error") if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return None, None
    code, message = inner.get("code"), inner.get("message")
    return (str(code) if code else None), (str(message) if message else None)


def _phase_of(error: HttpResponseError, resource_id: str) -> Phase:
    """Whether the request itself failed, the poll of its long-running operation, or the operation."""
    if isinstance(error.inner_exception, OperationFailed):
        return "operation"
    request = getattr(error.response, "request", None)
    url = getattr(request, "url", None)
    if not isinstance(url, str) or urlsplit(url).path.rstrip("/").lower() == "/" + resource_id.strip("/").lower():
        return "request"
    # An operation followed through `Location` reports its failure as the status of the poll itself: a final
    # client error (not one the policy retries, nor the token being refused) is the operation's verdict.
    status = error.status_code or 0
    if 400 <= status < 500 and status not in RETRIED_STATUSES and status not in (401, 403):
        return "operation"
    return "polling"


def _api_version_hint(resource_id: str) -> str:
    hint = f"Azure Stack Hub serves API profile {API_PROFILE} and older; newer api-versions are refused."
    try:
        resource_type = resource_type_of(resource_id)
    except ValueError:
        return hint
    version = API_VERSIONS.get(canonical_type(resource_type))
    if version is None:
        return f"{hint} This project has no version for {resource_type} (see arm/api_versions.py)."
    return f"{hint} This project uses {version} for {resource_type} (arm/api_versions.py)."


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text
