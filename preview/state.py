"""A stack's state as the offline engine keeps it: what an `up` left behind, read by the next preview.

The file format is Pulumi's own deployment export (`pulumi stack export --show-secrets`, format version 3): a
`deployment.resources[]` list with `urn`, `custom`, `id`, `type`, `inputs`, `outputs`, `parent`, `protect`,
`provider` (`<provider urn>::<provider id>`) and `dependencies`; the stack's outputs are the outputs of its
`pulumi:pulumi:Stack` resource. Secrets are written the way `--show-secrets` writes them: an object carrying
Pulumi's secret signature and the value as JSON under `plaintext`. So an offline `up` can be saved and previewed
from later, and an export of a real stack taken with `--show-secrets` can be read too. An export whose secrets are
encrypted (`ciphertext`) cannot: it is refused with a message saying so. Offline states hold no real secret: the
offline engine never decrypts `secure:` config values and makes no key material.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.runtime import rpc

SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key
STACK_TYPE = "pulumi:pulumi:Stack"
DEPLOYMENT_VERSION = 3


class StateFileError(Exception):
    """A state file that cannot be read, with the reason."""


@dataclass(frozen=True)
class ResourceState:
    """One resource as the last `up` left it (values in the SDK's deserialized form, secrets enveloped)."""

    urn: str
    type: str
    custom: bool
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str = ""
    protect: bool = False
    provider: str = ""
    dependencies: tuple[str, ...] = ()

    @property
    def provider_urn(self) -> str:
        """The URN part of the provider reference (`urn::id`)."""
        return provider_urn(self.provider)


@dataclass(frozen=True)
class StackState:
    """Every resource of one stack after an `up`, and the stack's outputs."""

    project: str
    stack: str
    resources: tuple[ResourceState, ...]
    outputs: dict[str, Any] = field(default_factory=dict)

    def by_urn(self) -> dict[str, ResourceState]:
        """Resources keyed by URN."""
        return {r.urn: r for r in self.resources}

    def __iter__(self) -> Iterator[ResourceState]:
        return iter(self.resources)

    def save(self, path: Path) -> None:
        """Write the state as a deployment export (see the module docstring)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_export(self), indent=2, sort_keys=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> StackState:
        """Read a deployment export; StateFileError naming the file and what is wrong."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise StateFileError(f"{path}: not a readable JSON state file ({error})") from None
        try:
            return from_export(document)
        except StateFileError as error:
            raise StateFileError(f"{path}: {error}") from None


def provider_urn(reference: str) -> str:
    """`<urn>::<id>` -> `<urn>` (URNs themselves contain `::`, the id does not)."""
    return reference.rsplit("::", 1)[0] if reference else ""


def stack_urn(project: str, stack: str) -> str:
    """The URN of a stack's root resource."""
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"


def to_export(state: StackState) -> dict[str, Any]:
    """The state as `pulumi stack export --show-secrets` shapes it."""
    root = {
        "urn": stack_urn(state.project, state.stack),
        "custom": False,
        "type": STACK_TYPE,
        "outputs": _encode(state.outputs),
    }
    resources = [root]
    for r in state.resources:
        entry: dict[str, Any] = {"urn": r.urn, "custom": r.custom}
        if r.id:
            entry["id"] = r.id
        entry |= {"type": r.type, "inputs": _encode(r.inputs), "outputs": _encode(r.outputs)}
        entry["parent"] = r.parent or root["urn"]
        if r.protect:
            entry["protect"] = True
        if r.provider:
            entry["provider"] = r.provider
        if r.dependencies:
            entry["dependencies"] = list(r.dependencies)
        resources.append(entry)
    manifest = {"magic": "", "version": ""}
    return {"version": DEPLOYMENT_VERSION, "deployment": {"manifest": manifest, "resources": resources}}


def from_export(document: Any) -> StackState:
    """A state from a deployment export; StateFileError when it is not one."""
    if not isinstance(document, Mapping) or document.get("version") != DEPLOYMENT_VERSION:
        raise StateFileError(f"not a Pulumi deployment export of version {DEPLOYMENT_VERSION}")
    entries = (document.get("deployment") or {}).get("resources") or []
    roots = [e for e in entries if e.get("type") == STACK_TYPE]
    if len(roots) != 1:
        raise StateFileError("a deployment export holds exactly one pulumi:pulumi:Stack resource")
    root = roots[0]
    # urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<name>
    stack, project = str(root["urn"]).split(":", 2)[2].split("::")[:2]
    resources = tuple(
        ResourceState(
            urn=str(e["urn"]),
            type=str(e["type"]),
            custom=bool(e.get("custom")),
            id=str(e.get("id") or ""),
            inputs=_decode(e.get("inputs") or {}),
            outputs=_decode(e.get("outputs") or {}),
            parent="" if e.get("parent") == root["urn"] else str(e.get("parent") or ""),
            protect=bool(e.get("protect")),
            provider=str(e.get("provider") or ""),
            dependencies=tuple(e.get("dependencies") or ()),
        )
        for e in entries
        if e is not root
    )
    return StackState(project, stack, resources, _decode(root.get("outputs") or {}))


def to_export_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Stack outputs as a deployment export writes them (secrets as `plaintext`)."""
    return dict(_encode(outputs))


def from_export_outputs(document: Mapping[str, Any]) -> dict[str, Any]:
    """Stack outputs read back from `to_export_outputs`."""
    return dict(_decode(document))


def _encode(value: Any) -> Any:
    if isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG:
        return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(_encode(value["value"]))}
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG:
        if "plaintext" not in value:
            raise StateFileError(
                "its secrets are encrypted (ciphertext); export the stack with `pulumi stack export --show-secrets`"
            )
        return {SIG_KEY: SECRET_SIG, "value": _decode(json.loads(value["plaintext"]))}
    if isinstance(value, Mapping):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value
