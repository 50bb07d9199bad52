"""Small pieces the pod entry points share: reading the mounted SAS, status files, certificate fingerprints."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from .blob import ContainerSas, StorageError

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)


def log(line: str) -> None:
    """One line on standard error, flushed (what `kubectl logs` shows)."""
    print(line, file=sys.stderr, flush=True)


def read_sas(path: Path, needs: str) -> ContainerSas:
    """The container URL and SAS mounted from a Secret, checked for the permissions this step needs."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise StorageError(f"cannot read the storage SAS from {path}: {error.strerror}") from error
    sas = ContainerSas.parse(text)
    problems = sas.problems(needs)
    if problems:
        raise StorageError("the storage SAS cannot be used: " + "; ".join(problems))
    if "d" in sas.fields.get("sp", ""):
        log("warning: the storage SAS allows delete; the hubs' SAS should not (create, write, list, read only)")
    return sas


def certificate_fingerprints(directory: Path) -> list[str]:
    """SHA-256 of each certificate (DER) in the PEM files of `directory`: which keys can open the archive."""
    prints = []
    for path in sorted(directory.glob("*.pem")) if directory.is_dir() else []:
        for body in _PEM_CERTIFICATE.findall(path.read_bytes()):
            prints.append(hashlib.sha256(base64.b64decode(b"".join(body.split()))).hexdigest())
    return prints


def key_values(path: Path) -> dict[str, str]:
    """`key=value` lines (what the shell steps write)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def write_status(path: Path, ok: bool, message: str, **extra: Any) -> None:
    """A step's outcome for the steps after it (`{"ok": ..., "message": ...}`)."""
    path.write_text(json.dumps({"ok": ok, "message": message, **extra}) + "\n", encoding="utf-8")


def read_status(path: Path) -> dict[str, Any]:
    """A step's outcome; a missing or unreadable file is a failure of that step."""
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"ok": False, "message": f"{path.name} is missing or unreadable: the step did not finish"}
    return status if isinstance(status, dict) else {"ok": False, "message": f"{path.name} is not a status"}
