"""Progress of a failed deploy or multi-step update kept outside Pulumi, encrypted, one file per cluster.

pulumi-command throws away the stdout of a command that fails, so an update whose scale succeeded and whose
upgrade failed cannot hand the scaled cluster's generated apimodel back to Pulumi. The lifecycle writes it
here after every step that succeeded instead, and the next update continues from it when it started from the
same previous state (`base`). A deploy that fails after AKS Engine wrote the generated apimodel (its CA and
certificates, which the VMs it created already trust) keeps that model here too, so that the next create
deploys again with it rather than with new certificates (`operation` "deploy", `base` the settings' digest).

The generated apimodel holds the cluster's CA keys and the service principal secret, so the file is
encrypted with AES-256-GCM. The key comes from HKDF-SHA256 over the service principal's client secret, a
random salt per file, and an `info` that names the cluster; the cluster id is also the associated data, so a
file copied to another cluster's name does not decrypt. A client secret Azure AD or AD FS generated is long
and random, which is what HKDF expects of its input (it is not a password hash).

File layout: `MAGIC | salt (16) | nonce (12) | ciphertext and tag`; the plaintext is JSON (see `Checkpoint`).
Nothing in this module logs or quotes the content; error messages name the file and the failed step only.
"""

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aksengine.apimodel import ClusterSettings, settings_from_dict, settings_to_dict

ENV_CHECKPOINT_DIR = "AKSENGINE_CHECKPOINT_DIR"
CHECKPOINT_SCHEMA_VERSION = 1
MAGIC = b"stackhub-ha/aksengine-checkpoint/1\n"
_HKDF_INFO = b"stackhub-ha aksengine checkpoint v1 key for "
_SALT_BYTES = 16
_NONCE_BYTES = 12


Operation = Literal["update", "deploy"]
OPERATIONS: tuple[Operation, ...] = get_args(Operation)


class CheckpointError(Exception):
    """A checkpoint that exists but cannot be used; the message names the reason, never the content."""


class UndecryptableCheckpointError(CheckpointError):
    """The file does not decrypt with this secret for this cluster (the secret was rotated, or it is foreign)."""


def checkpoint_dir(environ: Mapping[str, str]) -> Path:
    """`AKSENGINE_CHECKPOINT_DIR`, else `${XDG_STATE_HOME:-$HOME/.local/state}/stackhub-ha/aksengine`.

    A relative `XDG_STATE_HOME` is ignored, as the XDG base directory specification asks.
    """
    explicit = environ.get(ENV_CHECKPOINT_DIR)
    if explicit:
        return Path(explicit).absolute()
    state_home = environ.get("XDG_STATE_HOME", "")
    if not Path(state_home).is_absolute():
        home = environ.get("HOME")
        # Path.home() falls back to the password database when HOME is unset.
        state_home = str(Path(home) if home else Path.home()) + "/.local/state"
    return Path(state_home) / "stackhub-ha" / "aksengine"


def state_digest(document: str) -> str:
    """sha256 (hex) of a previous-state document exactly as pulumi-command handed it over."""
    return hashlib.sha256(document.encode()).hexdigest()


def settings_digest(settings: ClusterSettings) -> str:
    """sha256 (hex) of the settings a deploy was given: the `base` of the checkpoint a failed deploy leaves."""
    return hashlib.sha256(json.dumps(settings_to_dict(settings), sort_keys=True).encode()).hexdigest()


def cluster_id(subscription_id: str, resource_group: str) -> str:
    """ARM id of the cluster's resource group, lower-case: ARM compares both parts case-insensitively."""
    return f"/subscriptions/{subscription_id}/resourcegroups/{resource_group}".lower()


@dataclass(frozen=True)
class Checkpoint:
    """Where a partly done update got to, or what a failed deploy left."""

    base: str
    """`state_digest` of the previous state the update started from; for a deploy, `settings_digest`."""
    settings: ClusterSettings
    """The previous settings with the worker count and Kubernetes version the finished steps reached; for a
    deploy, the settings it was given."""
    steps_done: tuple[str, ...]
    """What the finished steps were, for people reading stderr (none for a deploy)."""
    saved_at: str
    apimodel: dict[str, Any] = field(repr=False)
    """The generated apimodel AKS Engine left after the last finished step, or wrote before its deploy failed."""
    operation: Operation = "update"
    """Which lifecycle command left it. Files written before this field existed are updates'."""

    def to_bytes(self) -> bytes:
        """The plaintext JSON."""
        return json.dumps(
            {
                "schemaVersion": CHECKPOINT_SCHEMA_VERSION,
                "base": self.base,
                "settings": settings_to_dict(self.settings),
                "stepsDone": list(self.steps_done),
                "savedAt": self.saved_at,
                "operation": self.operation,
                "apimodel": self.apimodel,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_bytes(cls, plaintext: bytes) -> "Checkpoint":
        """Read what `to_bytes` wrote; CheckpointError naming the broken part (never its value)."""
        try:
            doc = json.loads(plaintext)
            return cls(
                base=str(doc["base"]),
                settings=settings_from_dict(doc["settings"]),
                steps_done=tuple(str(step) for step in doc["stepsDone"]),
                saved_at=str(doc["savedAt"]),
                apimodel=_generated_apimodel(doc),
                operation=_operation(doc),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise CheckpointError(f"its content is not a checkpoint ({type(err).__name__})") from None


def _generated_apimodel(doc: dict[str, Any]) -> dict[str, Any]:
    if doc.get("schemaVersion") != CHECKPOINT_SCHEMA_VERSION:
        raise ValueError(f"not schema version {CHECKPOINT_SCHEMA_VERSION}")
    apimodel = doc["apimodel"]
    if not isinstance(apimodel, dict) or not isinstance(apimodel.get("properties"), dict):
        raise TypeError("apimodel is not a generated apimodel")
    return apimodel


def _operation(doc: dict[str, Any]) -> Operation:
    operation = doc.get("operation", "update")
    for known in OPERATIONS:
        if operation == known:
            return known
    raise ValueError(f"unknown operation (not one of {', '.join(OPERATIONS)})")


_UNSAFE = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class CheckpointFile:
    """The one checkpoint file of one cluster; its name holds the subscription and resource group only."""

    path: Path
    cluster: str

    @classmethod
    def for_cluster(cls, directory: Path, subscription_id: str, resource_group: str) -> "CheckpointFile":
        """The file for a cluster; two resource groups that sanitise alike still get different names."""
        cluster = cluster_id(subscription_id, resource_group)
        sub = _UNSAFE.sub("-", subscription_id.lower()).strip("-")
        group = _UNSAFE.sub("-", resource_group.lower()).strip("-")
        tag = hashlib.sha256(cluster.encode()).hexdigest()[:12]
        return cls(directory / f"{sub}_{group}_{tag}.checkpoint", cluster)

    def prepare_directory(self) -> None:
        """Create the directory 0700, or tighten it to 0700; OSError or CheckpointError when it is not ours."""
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
        if info.st_uid != os.getuid():
            raise CheckpointError(f"{directory} belongs to another user")
        if info.st_mode & 0o077:
            directory.chmod(0o700)

    def save(self, checkpoint: Checkpoint, secret: str) -> None:
        """Encrypt and replace the file atomically (0600): a crash mid-write keeps the previous checkpoint."""
        salt, nonce = os.urandom(_SALT_BYTES), os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._key(secret, salt)).encrypt(nonce, checkpoint.to_bytes(), self._aad())
        self.prepare_directory()
        scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(MAGIC + salt + nonce + sealed)
                handle.flush()
                os.fsync(handle.fileno())
            scratch.replace(self.path)
        finally:
            scratch.unlink(missing_ok=True)

    def load(self, secret: str) -> Checkpoint | None:
        """The checkpoint, or None when there is none; CheckpointError when it exists but is of no use."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise CheckpointError(f"it cannot be read ({type(err).__name__}: {err.strerror})") from None
        header = len(MAGIC) + _SALT_BYTES + _NONCE_BYTES
        if not blob.startswith(MAGIC) or len(blob) <= header:
            raise CheckpointError("it is not a checkpoint file of this program")
        salt = blob[len(MAGIC) : len(MAGIC) + _SALT_BYTES]
        nonce = blob[len(MAGIC) + _SALT_BYTES : header]
        try:
            plaintext = AESGCM(self._key(secret, salt)).decrypt(nonce, blob[header:], self._aad())
        except InvalidTag:
            raise UndecryptableCheckpointError(
                "it does not decrypt with the current service principal secret (was the secret rotated?)"
            ) from None
        return Checkpoint.from_bytes(plaintext)

    def remove(self) -> bool:
        """Delete the file; True when there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def _key(self, secret: str, salt: bytes) -> bytes:
        hkdf = HKDF(algorithm=SHA256(), length=32, salt=salt, info=_HKDF_INFO + self.cluster.encode())
        return hkdf.derive(secret.encode())

    def _aad(self) -> bytes:
        return MAGIC + self.cluster.encode()
