"""Reading and validating stack configuration.

Every stack role has one pydantic model. The model is built once from the stack's Pulumi config, before any
resource is registered; every broken rule is reported at once as `ConfigError`, naming the config key, the value
(redacted for secrets) and what is allowed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar, get_args

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from planning.names import hostname_problem
from planning.regions import region_name_problem
from policy.stackhub_policies.hub_facts import TAG_NAME_FORBIDDEN, TAG_NAME_MAX, TAG_VALUE_MAX

PROJECT = "stackhub-ha"
REDACTED = "[secret]"

_M = TypeVar("_M", bound="StackConfig")


@dataclass(frozen=True)
class Problem:
    """One broken rule: the config key (with a path inside structured values), the value and what is allowed."""

    key: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"{PROJECT}:{self.key} = {self.value}: {self.message}"


class ConfigError(Exception):
    """The stack's configuration breaks one or more rules. Raised before any resource is registered."""

    def __init__(self, stack: str, problems: Iterable[Problem]) -> None:
        self.stack = stack
        self.problems = list(problems)
        lines = [f"Invalid configuration for stack '{stack}' ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append("Fix these keys with `pulumi config set <key> <value>` (add --secret for secrets).")
        super().__init__("\n".join(lines))


class StackConfig(BaseModel):
    """Base of every role's model: camelCase config keys, unknown keys refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    # Config keys that may instead come from an environment variable (credentials kept out of stack files).
    ENVIRONMENT_FALLBACKS: ClassVar[Mapping[str, str]] = {}

    _secret_keys: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def secret_keys(self) -> frozenset[str]:
        """The config keys (camelCase) stored as secrets: a rule may depend on it (credentials in a URL)."""
        return self._secret_keys

    def cross_checks(self) -> list[Problem]:
        """Rules between keys, checked once every key is valid on its own."""
        return []


# --- reusable validated types -------------------------------------------------------------------------------


def _ipv4_network(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not a valid CIDR with no host bits set, e.g. 10.10.0.0/16 ({exc})") from None
    if net.version != 4:
        # Azure Stack Hub networking is IPv4 only.
        raise ValueError("must be IPv4: Azure Stack Hub has no IPv6")
    return str(net)


GUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _guid(value: str) -> str:
    if not GUID_PATTERN.match(value):
        raise ValueError("must be a GUID such as 00000000-0000-0000-0000-000000000000")
    return value.lower()


_RG_NAME = re.compile(r"^[-\w._()]{0,89}[-\w_()]$")


def _resource_group(value: str) -> str:
    if not _RG_NAME.match(value):
        raise ValueError(
            "must be 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'",
        )
    return value


def _https_url(value: str) -> str:
    if not re.match(r"^https://[A-Za-z0-9.-]+(:\d+)?/?$", value):
        raise ValueError(
            "must be an https:// URL with a host name and no path, e.g. https://management.seattle.contoso.com"
        )
    return value.rstrip("/")


Ipv4Cidr = Annotated[str, AfterValidator(_ipv4_network)]
Guid = Annotated[str, AfterValidator(_guid)]
ResourceGroupName = Annotated[str, AfterValidator(_resource_group)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]


def _ipv4_address(value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("must be an IPv4 address") from None
    if address.version != 4:
        raise ValueError("must be an IPv4 address")
    return value


def _fqdn(value: str) -> str:
    # The rule the components hold host names to (planning.names), so that what passes here passes there.
    if (problem := hostname_problem(value.lower())) is not None:
        raise ValueError(problem)
    return value.lower()


def _azure_region(value: str) -> str:
    if (problem := region_name_problem(value)) is not None:
        raise ValueError(problem)
    return value


Ipv4Address = Annotated[str, AfterValidator(_ipv4_address)]
Fqdn = Annotated[str, AfterValidator(_fqdn)]
# A public Azure region's programmatic name (`westus2`), as resource groups take it.
AzureRegion = Annotated[str, AfterValidator(_azure_region), Field(description="Azure region, e.g. westeurope")]


# --- tags ---------------------------------------------------------------------------------------------------

PUBLIC_AZURE_MAX_TAGS = 50
"""Tags one public Azure resource may carry (Azure Resource Manager, "Use tags to organize your Azure resources")."""
STORAGE_ACCOUNT_TAG_NAME_MAX = 128
"""Characters in a tag name on a storage account (the same page): the shared stack tags its storage account."""


def tag_problems(
    tags: Mapping[str, str], *, system: Collection[str], max_tags: int, name_max: int = TAG_NAME_MAX
) -> list[Problem]:
    """Every reason Resource Manager would refuse the `tags` key, or the program would silently drop one.

    Tag names are case-insensitive to Resource Manager: two names that differ only in case are one tag, and a
    user tag named like one the program sets (`system`) would override it.
    """
    problems: list[Problem] = []
    reserved = {name.lower(): name for name in system}
    seen: dict[str, str] = {}
    for name, value in tags.items():
        key = f"tags.{name}"
        bad = sorted({c for c in name if c in TAG_NAME_FORBIDDEN})
        if not name.strip():
            problems.append(Problem("tags", repr(name), "is an empty tag name"))
        elif bad:
            problems.append(
                Problem(
                    key,
                    repr(value),
                    f"tag name contains {' '.join(bad)}, which Resource Manager "
                    f"refuses in tag names ({' '.join(TAG_NAME_FORBIDDEN)})",
                )
            )
        elif len(name) > name_max:
            problems.append(
                Problem("tags", repr(name[:40] + "..."), f"tag name of {len(name)} characters; at most {name_max}")
            )
        if name.lower() in reserved:
            problems.append(
                Problem(
                    key,
                    repr(value),
                    f"would override the tag '{reserved[name.lower()]}' the "
                    f"program sets (tag names ignore case); use another name",
                )
            )
        elif name.lower() in seen:
            problems.append(
                Problem(
                    key,
                    repr(value),
                    f"is the same tag as '{seen[name.lower()]}': Resource Manager ignores case in tag names",
                )
            )
        seen.setdefault(name.lower(), name)
        if len(value) > TAG_VALUE_MAX:
            problems.append(
                Problem(key, repr(value[:40] + "..."), f"tag value of {len(value)} characters; at most {TAG_VALUE_MAX}")
            )
    if len(tags) + len(system) > max_tags:
        problems.append(
            Problem(
                "tags",
                f"({len(tags)} tags)",
                f"with the {len(system)} the program sets "
                f"({', '.join(system)}) exceeds the {max_tags} tags "
                "a resource may carry",
            )
        )
    return problems


# --- loading ------------------------------------------------------------------------------------------------


def raw_config() -> tuple[dict[str, Any], set[str]]:
    """Every key set for this project in the running stack, as plain values, and the names of the secret keys.

    The Python SDK has no public call that lists config keys; it keeps them in `pulumi.runtime.config.CONFIG`
    (in-process runs and mocks) and the `PULUMI_CONFIG` environment bag (the language host). Listing them is what
    lets a misspelt key be reported instead of silently ignored.
    """
    prefix = f"{PROJECT}:"
    merged: dict[str, Any] = dict(pulumi.runtime.get_config_env())
    merged.update(pulumi.runtime.config.CONFIG.get())
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for full_key, raw in merged.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        values[key] = _parse(raw)
        if pulumi.runtime.is_config_secret(full_key):
            secrets.add(key)
    secrets.update(k for k in pulumi.runtime.get_config_secret_keys_env() if k.startswith(prefix))
    return values, {k.removeprefix(prefix) for k in secrets}


def _parse(raw: Any) -> Any:
    # Structured config (objects, lists) arrives JSON-encoded; plain strings stay strings.
    if isinstance(raw, str) and raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def load(model: type[_M], stack: str) -> _M:
    """Build the role's model from the running stack's config (and the credential environment variables)."""
    values, secret_keys = raw_config()
    for key, env_var in model.ENVIRONMENT_FALLBACKS.items():
        # Credentials may come from the environment instead of secret config; they never touch a stack file.
        if key not in values and os.environ.get(env_var):
            values[key] = os.environ[env_var]
            secret_keys.add(key)
    return validate(model, stack, values, secret_keys)


def validate(model: type[_M], stack: str, values: Mapping[str, Any], secret_keys: set[str]) -> _M:
    """Build `model` from config values, or raise `ConfigError` listing every problem at once."""
    # A secret-typed key stored as plain text is already exposed in the stack file: refuse it.
    problems = [
        Problem(
            key,
            REDACTED,
            f"is a secret stored in plain text; set it with `pulumi config set --secret {key} ...`",
        )
        for key in values
        if _is_secret_field(model, key) and key not in secret_keys
    ]
    try:
        config = model.model_validate(dict(values))
        config._secret_keys = frozenset(secret_keys)
    except ValidationError as exc:
        problems += [_problem(model, err, values, secret_keys) for err in exc.errors()]
        raise ConfigError(stack, problems) from None
    problems += config.cross_checks()
    if problems:
        raise ConfigError(stack, problems)
    return config


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    return next((f for n, f in model.model_fields.items() if key in (n, f.alias)), None)


def _is_secret_field(model: type[StackConfig], key: str) -> bool:
    field = _field(model, key)
    return field is not None and (field.annotation is SecretStr or SecretStr in get_args(field.annotation))


def _problem(model: type[StackConfig], err: Any, values: Mapping[str, Any], secret_keys: set[str]) -> Problem:
    loc = [str(p) for p in err["loc"]]
    top = loc[0] if loc else ""
    key = top + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    secret = top in secret_keys or _is_secret_field(model, top)
    if err["type"] == "extra_forbidden":
        # A misspelt key inside a structured value is answered from that value's own keys, not the top level's.
        owner = _model_at(model, loc[:-1])
        known = sorted(f.alias or n for n, f in owner.model_fields.items()) if owner is not None else []
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(known)
        shown = _shown(err.get("input") if len(loc) > 1 else values.get(top), secret)
        return Problem(key, shown, f"unknown key; {hint}")
    if err["type"] == "missing":
        return Problem(key, "(not set)", _missing_message(model, top))
    message = str(err["msg"]).removeprefix("Value error, ")
    value = err.get("input") if len(loc) > 1 else values.get(top, err.get("input"))
    return Problem(key, _shown(value, secret), message)


def _model_at(model: type[BaseModel], path: list[str]) -> type[BaseModel] | None:
    """The model a structured value at `path` (below the top-level key) is validated with, if any."""
    top = _field(model, path[0]) if path else None
    current = _models_in(top.annotation) if top is not None else []
    for part in path[1:]:
        if part.isdigit():
            continue
        nested = [f for m in current for n, f in m.model_fields.items() if part in (n, f.alias)]
        current = [m for f in nested for m in _models_in(f.annotation)]
    return current[0] if current else (model if not path else None)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _missing_message(model: type[StackConfig], key: str) -> str:
    env = model.ENVIRONMENT_FALLBACKS.get(key)
    field = _field(model, key)
    what = f" ({field.description})" if field is not None and field.description else ""
    secret = "--secret " if _is_secret_field(model, key) else ""
    where = f"`pulumi config set {secret}{key} ...`"
    if env:
        where += f" or the environment variable {env}"
    return f"required{what}; set it with {where}"


def _shown(value: Any, secret: bool) -> str:
    if value is None:
        return "(not set)"
    if secret:
        return REDACTED
    return json.dumps(value) if not isinstance(value, str) else repr(value)
