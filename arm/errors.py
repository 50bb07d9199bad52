"""Readable errors for failed ARM calls against a hub."""

from __future__ import annotations

import json
from collections.abc import Iterable

from azure.core.exceptions import AzureError, HttpResponseError, ServiceRequestError

from arm.api_versions import API_PROFILE, API_VERSIONS, canonical_type, resource_type_of

# The codes a hub answers with when asked for an API version newer than its profile.
API_VERSION_ERROR_CODES = frozenset({"NoRegisteredProviderFound", "InvalidApiVersionParameter"})

_REDACTED = "***"


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
    ) -> None:
        self.operation = operation
        self.resource_id = resource_id
        self.api_version = api_version
        self.status_code = status_code
        self.code = code
        self.detail = _redact(detail, redact)
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
    ) -> ArmError:
        """Wrap an azure-core error (an HTTP error, a failed token request, an unreachable endpoint)."""
        status_code: int | None = None
        code: str | None = None
        detail = error.message or type(error).__name__
        if isinstance(error, HttpResponseError):
            status_code = error.status_code
            code, arm_message = _arm_error_of(error)
            if arm_message:
                detail = arm_message
        elif isinstance(error, ServiceRequestError) and "CERTIFICATE_VERIFY_FAILED" in detail:
            detail += (
                " (the hub's certificate is not trusted: point REQUESTS_CA_BUNDLE at a PEM bundle that holds "
                "the hub's root CA)"
            )
        return cls(
            operation=operation,
            resource_id=resource_id,
            api_version=api_version,
            status_code=status_code,
            code=code,
            detail=detail,
            redact=redact,
        )

    def _compose(self) -> str:
        status = f"HTTP {self.status_code}" if self.status_code is not None else "no HTTP response"
        code = f" {self.code}" if self.code else ""
        message = (
            f"ARM {self.operation} of {self.resource_id} (api-version {self.api_version}) failed: "
            f"{status}{code}: {self.detail}"
        )
        if self.code in API_VERSION_ERROR_CODES:
            message += " " + _api_version_hint(self.resource_id)
        return message


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
