"""No secret-looking literal where it would be stored and shown in plain text: ConfigMap data, container env
`value`s, Azure and hub tags, Helm values. Secrets belong in a Kubernetes Secret fed from a secret config value.

A value is suspect when its key says it is a secret (password, token, client secret, ...) and it is a literal
rather than a reference (`${VAR}`, `$(VAR)`), or when it has the shape of a credential (a private key, a storage
account key, a SAS signature, credentials in a URL, a token). Messages name where, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel

from .azure import takes_tags
from .configuration import setting
from .kubernetes import HELM_RELEASE, containers, is_workload, kind, pod_spec
from .reporting import Settings, Subject, Unread, dig, elements, entries, has, is_list, items, mapping, resource_policy

NAME = "no-secret-literals"

SECRET_KEY_WORDS = ("password", "passwd", "secret", "token", "apikey", "accesskey", "privatekey",
                    "connectionstring", "credential")  # fmt: skip
# Keys that name, locate or configure a secret rather than hold one.
NOT_A_SECRET_SUFFIXES = ("name", "ref", "file", "path", "dir", "namespace", "enabled", "type", "format", "length",
                         "ttl", "expiry", "expiration", "policy", "mode", "header", "field", "source", "provider",
                         "existingsecret", "keys", "url", "endpoint", "version")  # fmt: skip
REFERENCE = re.compile(r"^\s*(\$\{[^}]+\}|\$\([^)]+\)|\{\{.*\}\})\s*$")
NOT_SECRET_VALUES = frozenset({"", "true", "false", "yes", "no", "enabled", "disabled", "none", "null"})

SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a storage account key", re.compile(r"AccountKey=[A-Za-z0-9+/]{20,}")),
    ("a SAS signature", re.compile(r"(?:^|[?&;])sig=[A-Za-z0-9%+/]{16,}")),
    ("credentials in a URL", re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@${}]+:(?!\$\{|\$\()[^/\s@]+@")),
    ("a JSON web token", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("an AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("an Entra ID client secret", re.compile(r"\b[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}")),
    ("a password in a connection string", re.compile(r"(?i)\b(?:password|pwd)\s*=\s*(?!\$\{|\$\()[^;\s'\"]{4,}")),
)


def secret_key(key: str) -> bool:
    """Whether a key's name says its value is a secret."""
    normalised = re.sub(r"[^a-z0-9]", "", key.lower())
    return any(word in normalised for word in SECRET_KEY_WORDS) and not normalised.endswith(NOT_A_SECRET_SUFFIXES)


def suspicion(key: str, value: Any) -> str | None:
    """Why a literal looks like a secret (None when it does not). An unknown value matters only under a
    secret-looking key: a computed address or id elsewhere is not a literal."""
    if isinstance(value, Unread):
        if secret_key(key) or key == "values":
            raise value.error
        return None
    if not isinstance(value, str):
        return None
    for name, shape in SECRET_SHAPES:
        if shape.search(value):
            return f"looks like {name}"
    if secret_key(key) and value.strip().lower() not in NOT_SECRET_VALUES and not REFERENCE.match(value):
        return f"is a literal under the secret-looking key {key!r}"
    return None


def _walk(value: Any, where: str, key: str) -> Iterator[tuple[str, str, Any]]:
    """(where, key, value) for every string (or unknown value) inside a Helm values tree. List items keep their
    list's key; env-like `{name, value}` maps are read as `name: value`."""
    if isinstance(value, str | Unread):
        yield where, key, value
    elif isinstance(value, Mapping):
        children = dict(entries(value))
        name = children.get("name")
        env_like = isinstance(name, str) and "value" in children
        for child_key, child in children.items():
            if env_like and child_key == "value":
                yield from _walk(child, f"{where}[{name}]", str(name))
            else:
                yield from _walk(child, f"{where}.{child_key}", child_key)
    elif is_list(value):
        for index, item in enumerate(elements(value)):
            yield from _walk(item, f"{where}[{index}]", key)


def literals(subject: Subject) -> Iterator[tuple[str, str, Any]]:
    """(where, key, value) for every literal this resource would store in the clear (unknowns as Unread)."""
    if kind(subject.type) == "ConfigMap":
        for key, value in entries(mapping(dig(subject.props, "data"))):
            yield f"data.{key}", key, value
    if is_workload(subject):
        for where, container in containers(pod_spec(subject)):
            for entry in items(dig(container, "env")):
                fields = dict(entries(mapping(entry)))
                if "value" in fields:
                    name = fields.get("name")
                    yield f"{where}.env[{name}]", str(name), fields["value"]
    if subject.type == HELM_RELEASE and has(subject.props, "values"):
        yield from _walk(dict(entries(subject.props)).get("values"), "values", "values")
    if takes_tags(subject):
        for key, value in entries(mapping(dig(subject.props, "tags"))):
            yield f"tags.{key}", key, value


PROPERTIES = {
    "ignore": setting(
        "array",
        "Literals reviewed and accepted, as `<logical resource name>:<where>` (the `where` a finding names).",
        [],
        items={"type": "string", "pattern": r"^[^:]+:.+$"},
    )
}


def check(subject: Subject, settings: Settings) -> Iterable[str]:
    """Every literal that looks like a secret."""
    found = [(where, why) for where, key, value in literals(subject)
             if f"{subject.name}:{where}" not in settings["ignore"] and (why := suspicion(key, value))]  # fmt: skip
    for where, why in found:
        yield (
            f"{subject.label}: {where} {why} (1 of {len(found)} secret-looking literal(s); 0 are allowed): put it in "
            "a Kubernetes Secret or a secret config value and reference it"
        )


POLICY = resource_policy(
    NAME,
    "No secret-looking literal in ConfigMap data, env values, tags or Helm values: they are stored and shown in "
    "plain text.",
    check,
    level=EnforcementLevel.MANDATORY,
    properties=PROPERTIES,
    remediation="Move the value into a Kubernetes Secret (valueFrom.secretKeyRef) fed from a `pulumi config set "
    "--secret` value; list a reviewed false positive under `ignore`.",
    reads="the literals it stores",
)
