"""Small pieces the pod entry points share: reading the mounted SAS and proxy settings, status files, certificate
fingerprints."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from .blob import ContainerSas, StorageError
from .profiles import AZURE, PROFILES, StorageProfile

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
PROXY_DIR_VARIABLE = "BACKUP_PROXY_DIR"
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")


def log(line: str) -> None:
    """One line on standard error, flushed (what `kubectl logs` shows)."""
    print(line, file=sys.stderr, flush=True)


def read_sas(path: Path, needs: str, profile: StorageProfile = AZURE) -> ContainerSas:
    """The container URL and SAS mounted from a Secret, checked for the permissions this step needs and the
    version its storage accepts."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise StorageError(f"cannot read the storage SAS from {path}: {error.strerror}") from error
    sas = ContainerSas.parse(text)
    problems = sas.problems(needs, profile)
    if problems:
        raise StorageError("the storage SAS cannot be used: " + "; ".join(problems))
    if "d" in sas.fields.get("sp", ""):
        log("warning: the storage SAS allows delete; the hubs' SAS should not (create, write, list, read only)")
    return sas


def load_proxy_files(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Put the proxy variables of a mounted Secret where urllib looks for them; returns the names set.

    A proxy whose URLs carry credentials reaches the pod as files (`BACKUP_PROXY_DIR`, one file per variable), not
    as environment variables in the pod spec. Called before any client is made: urllib reads the variables when
    its opener is built.
    """
    target = os.environ if environ is None else environ
    directory = target.get(PROXY_DIR_VARIABLE)
    if not directory:
        return []
    loaded = []
    for name in PROXY_VARIABLES:
        path = Path(directory) / name
        try:
            target[name] = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except OSError as error:
            raise StorageError(f"cannot read the proxy setting {name} from {directory}: {error.strerror}") from error
        loaded.append(name)
    if not any(name.lower() == "https_proxy" for name in loaded):
        raise StorageError(f"{PROXY_DIR_VARIABLE}={directory} holds no HTTPS_PROXY: the proxy Secret is incomplete")
    return loaded


def add_storage_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every step that talks to the storage takes: the profile and the retry policy."""
    parser.add_argument(
        "--storage-profile",
        choices=sorted(PROFILES),
        default=AZURE.name,
        help="the kind of storage (decides the service version and the largest block)",
    )
    parser.add_argument("--attempts", type=int, default=4)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds before the first retry (then doubled)")


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
