"""The pull-request comment of one stack's preview, written from a Pulumi-shaped preview digest.

The digest is what `python -m preview <stack> --json` prints: the shape of `pulumi preview --json` (`steps`,
`diagnostics`, `changeSummary`, ...) plus `policyEvents` and this project's `stackhubHa` block (stack, base and
head commits, refused and data-bearing resources, unchanged dependents of replaced resources, top-level
components). Values in it are already redacted: a secret is the string "[secret]", an unknown Pulumi's unknown
sentinel. This module reads only the digest (it imports neither Pulumi nor the engine).

The comment, in order:

1. a hidden marker `<!-- stackhub-ha-preview stack=<stack> head=<sha> -->` (one comment per stack, found again by
   the marker; the head commit tells a late run from a newer one), a heading and the base and head commits;
2. one summary line, `+ N to create, ~ N to update, +- N to replace, - N to delete, N unchanged`;
3. a caution block for every delete or replace of a protected or data-bearing resource;
4. the errors (the plan fails) and the policy results, mandatory ones first;
5. warnings, then the changes folded per top-level component, each changed property with its old and new value.

With no change at all the comment is the marker and one line. The comment fits `limit` characters (GitHub:
65,536; Azure Repos: 150,000) by leaving out detail, in this order: the property values, then resources and whole
component sections (a closing line says what was left out and that the full output is in the `--out`
artifacts). The marker, the heading, the summary, the cautions, the errors and the policy results are never left
out; only when they alone exceed the limit are they shortened: dependents lists and long messages first, then the
lists of errors and policy results, and last the list of cautions, each to its first N entries plus a count.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

GITHUB_LIMIT = 65_536
"""Characters in a GitHub issue or pull-request comment."""
AZURE_REPOS_LIMIT = 150_000
"""Characters in an Azure Repos pull-request comment."""

SECRET = "[secret]"  # noqa: S105 - the redaction mark, not a secret
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""Pulumi's sentinel for a value only known after `pulumi up`."""
UNKNOWN_SHOWN = "(known after pulumi up)"
MARKER = "stackhub-ha-preview"
OPS = ("create", "update", "replace", "delete")
STACK_TYPE = "pulumi:pulumi:Stack"
MARKS = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
VALUE_WIDTH = 200
"""Characters of one old or new value shown before it is cut."""
ARTIFACTS = "the full preview is in this run's `--out` artifacts"

# Pulumi's secret envelope (sdk rpc `_special_sig_key` / `_special_secret_sig`): a digest should never carry
# one, but if a value slips through unredacted it is still shown as a secret.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a signature, not a secret

# Steps of one replacement (pkg/resource/deploy/step.go) fold into one "replace"; `discard` is a delete that
# leaves the cloud resource (retainOnDelete).
_FOLD = {
    "create": "create",
    "update": "update",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "discard-replaced": "replace",
    "delete": "delete",
    "discard": "delete",
}
_LEVEL_ORDER = {"mandatory": 0, "remediate": 1, "advisory": 2, "disabled": 3}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|<\{%[^%]*%\}>")
_SHA = re.compile(r"[0-9a-fA-F]{4,64}")


# --- reading the digest -------------------------------------------------------------------------------------


def is_secret(value: Any) -> bool:
    """Whether a digest value is a secret ("[secret]", or an envelope that slipped through unredacted)."""
    return value == SECRET or (isinstance(value, Mapping) and value.get(_SIG_KEY) == _SECRET_SIG)


def resource_name(urn: str) -> str:
    """The logical name of a resource: the last `::` part of its URN."""
    return urn.rsplit("::", 1)[-1]


def urn_type(urn: str) -> str:
    """The type token in a URN (the last `$` part of its qualified type)."""
    parts = urn.split("::")
    return parts[-2].rsplit("$", 1)[-1] if len(parts) >= 3 else ""


def _is_stack_urn(urn: str) -> bool:
    return urn_type(urn) == STACK_TYPE


def type_label(state: Mapping[str, Any], urn: str = "") -> str:
    """`arm:<Provider/type>@<api-version>` for a hub ARM resource (a dynamic resource with `resource_id` and
    `api_version` inputs), otherwise the type token."""
    type_ = str(state.get("type") or urn_type(urn))
    inputs = state.get("inputs") or {}
    resource_id, api_version = inputs.get("resource_id"), inputs.get("api_version")
    readable = isinstance(resource_id, str) and isinstance(api_version, str)
    if readable and not {resource_id, api_version} & {SECRET, UNKNOWN}:
        return f"arm:{'/'.join(_arm_type(str(resource_id)))}@{api_version}"
    return type_


def _arm_type(resource_id: str) -> list[str]:
    # /subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/x
    #   -> Microsoft.Network, virtualNetworks, subnets
    segments = [s for s in resource_id.split("/") if s]
    lowered = [s.lower() for s in segments]
    if "providers" not in lowered:
        return ["Microsoft.Resources", "resourceGroups"]
    after = segments[lowered.index("providers") + 1 :]
    return [after[0], *after[1::2]] if after else ["Microsoft.Resources"]


@dataclass
class Change:
    """One changed resource of the plan (the steps of a replacement folded into one)."""

    op: str
    urn: str
    old: Mapping[str, Any] = field(default_factory=dict)
    new: Mapping[str, Any] = field(default_factory=dict)
    detailed_diff: Mapping[str, Any] = field(default_factory=dict)
    diff_reasons: tuple[str, ...] = ()
    replace_reasons: tuple[str, ...] = ()

    @property
    def state(self) -> Mapping[str, Any]:
        """The new state, or the old one for a delete."""
        return self.new or self.old

    @property
    def name(self) -> str:
        """The logical name."""
        return resource_name(self.urn)

    @property
    def label(self) -> str:
        """The type as shown (`arm:...@version` for a hub ARM resource)."""
        return type_label(self.state, self.urn)

    @property
    def is_stack(self) -> bool:
        """Whether this is the stack's root resource (its outputs changed, or it is created)."""
        return str(self.state.get("type") or urn_type(self.urn)) == STACK_TYPE

    @property
    def protect(self) -> bool:
        """Whether the resource is protected, before or after."""
        return bool(self.new.get("protect") or self.old.get("protect"))


def changes(digest: Mapping[str, Any]) -> list[Change]:
    """The changed resources of a digest in step order; `same`, `read`, `refresh` and other steps are left out."""
    found: dict[str, Change] = {}
    for step in digest.get("steps") or ():
        op = _FOLD.get(str(step.get("op")))
        urn = str(step.get("urn") or "")
        if op is None or not urn:
            continue
        new = Change(
            op,
            urn,
            step.get("oldState") or {},
            step.get("newState") or {},
            step.get("detailedDiff") or {},
            tuple(step.get("diffReasons") or ()),
            tuple(step.get("replaceReasons") or ()),
        )
        seen = found.get(urn)
        if seen is None:
            found[urn] = new
        elif op == "replace":
            # create-replacement / replace / delete-replaced of one resource: keep what each step carries.
            found[urn] = Change(
                "replace",
                urn,
                seen.old or new.old,
                seen.new or new.new,
                seen.detailed_diff or new.detailed_diff,
                seen.diff_reasons or new.diff_reasons,
                seen.replace_reasons or new.replace_reasons,
            )
    return list(found.values())


def component_resolver(digest: Mapping[str, Any]) -> Callable[[str], str | None]:
    """A function from a resource URN to the URN of its top-level component ('' for a stack-level resource; None
    when the digest cannot tell). Reads `stackhubHa.components`, then the parents of the states in the steps."""
    mapping: Mapping[str, str] = (digest.get("stackhubHa") or {}).get("components") or {}
    known = {c for c in mapping.values() if c}
    states: dict[str, Mapping[str, Any]] = {}
    for step in digest.get("steps") or ():
        state = step.get("newState") or step.get("oldState") or {}
        states.setdefault(str(step.get("urn") or ""), state)

    def resolve(urn: str) -> str | None:
        if urn in known:
            return urn  # a top-level component is its own group (whatever the mapping says of it)
        if urn in mapping:
            return str(mapping[urn])
        current, depth = urn, 0
        while depth < 64:
            if current != urn and (current in mapping or current in known):
                return str(mapping.get(current, current)) or current
            state = states.get(current)
            if state is None:
                return current if current != urn else None
            parent = str(state.get("parent") or "")
            if not parent or _is_stack_urn(parent):
                # Top level: a component is its own group, a custom resource belongs to the stack.
                return current if current != urn or state.get("custom") is False else ""
            current, depth = parent, depth + 1
        return None

    return resolve


STACK_OUTPUTS = "stack outputs"
"""The group of the stack's own step."""


def component_title(urn: str) -> str:
    """`HubNetwork hub-seattle` for a component URN; '' (the stack itself) reads "stack-level resources"."""
    if not urn:
        return "stack-level resources"
    if urn == STACK_OUTPUTS:
        return "the stack's outputs"
    return f"{urn_type(urn).rsplit(':', 1)[-1]} {resource_name(urn)}"


# --- values at property paths -------------------------------------------------------------------------------

_MISSING: Any = object()
_PATH_PART = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|\.?([^.\[\]]+)')


def parse_path(path: str) -> list[str | int]:
    """`a.b[1]["c.d"]` -> ["a", "b", 1, "c.d"] (Pulumi's property path syntax)."""
    parts: list[str | int] = []
    position = 0
    while position < len(path):
        match = _PATH_PART.match(path, position)
        if match is None or match.end() == position:
            return [path]  # not a path this parser knows: look it up as one key
        quoted, index, plain_key = match.groups()
        if quoted is not None:
            parts.append(json.loads(f'"{quoted}"'))
        elif index is not None:
            parts.append(int(index))
        else:
            parts.append(plain_key)
        position = match.end()
    return parts


def value_at(inputs: Any, path: str) -> Any:
    """The value at a property path; a secret or unknown on the way is the value; `_MISSING` if absent."""
    value = inputs
    for part in parse_path(path):
        if is_secret(value) or value == UNKNOWN:
            return value
        value = _child(value, part)
        if value is _MISSING:
            break
    return value


def _child(value: Any, part: str | int) -> Any:
    if isinstance(value, list):
        return value[part] if isinstance(part, int) and 0 <= part < len(value) else _MISSING
    if isinstance(value, Mapping):
        return value.get(str(part), _MISSING)
    return _MISSING


def _shown(value: Any) -> Any:
    if is_secret(value):
        return SECRET
    if value == UNKNOWN:
        return UNKNOWN_SHOWN
    if isinstance(value, Mapping):
        return {str(k): _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def show_value(value: Any, width: int = VALUE_WIDTH) -> str:
    """One value on one line: JSON, secrets "[secret]", unknowns marked, cut to `width` characters."""
    return _cut(_json(value), 0, width)


def _json(value: Any) -> str:
    if value is _MISSING:
        return "(none)"
    shown = _shown(value)
    return str(shown) if shown == UNKNOWN_SHOWN else json.dumps(shown, sort_keys=True, default=str)


def _cut(full: str, start: int, width: int) -> str:
    """`width` characters of `full` from `start`, with "..." where it was cut and its length when it was."""
    if len(full) <= width:
        return full
    start = max(0, min(start, len(full) - width))
    head = "..." if start else ""
    tail = "..." if start + width < len(full) else ""
    return f"{head}{full[start : start + width]}{tail} ({len(full):,} chars)"


def _old_new(old: Any, new: Any, width: int = VALUE_WIDTH) -> tuple[str, str]:
    """Both values cut around where they first differ, so that two long values that differ near the end do
    not show as the same prefix."""
    old_text, new_text = _json(old), _json(new)
    if len(old_text) <= width and len(new_text) <= width:
        return old_text, new_text
    first = next((i for i, (a, b) in enumerate(zip(old_text, new_text, strict=False)) if a != b), None)
    if first is None:
        first = min(len(old_text), len(new_text))
    start = max(0, first - width // 4)
    return _cut(old_text, start, width), _cut(new_text, start, width)


def property_line(change: Change, path: str, kind: str, *, values: bool, input_diff: bool = True) -> str:
    """`~ path: old => new` (or `+ path: new`, `- path: old`, `~ path: changed (secret)`), marked when it
    forces a replacement. The values are the inputs', or the outputs' for a diff that is not an input diff."""
    forces = kind.endswith("-replace") or path in change.replace_reasons
    base = kind.removesuffix("-replace")
    mark = {"add": "+", "delete": "-"}.get(base, "~")
    tail = "  (forces replacement)" if forces else ""
    if not values:
        return f"    {mark} {path}{tail}"
    old = _value_in(change.old, path, input_diff=input_diff)
    new = _value_in(change.new, path, input_diff=input_diff)
    if is_secret(old) or is_secret(new):
        return f"    ~ {path}: changed (secret){tail}"
    if new is not _MISSING and (base == "add" or old is _MISSING):
        return f"    + {path}: {show_value(new)}{tail}"
    if old is not _MISSING and (base == "delete" or new is _MISSING):
        return f"    - {path}: {show_value(old)}{tail}"
    if old is _MISSING:
        # Not an input on either side (the engine's "provider" reason, for one): the path is the news.
        return f"    ~ {path}{tail}"
    old_text, new_text = _old_new(old, new)
    return f"    ~ {path}: {old_text} => {new_text}{tail}"


def _value_in(state: Mapping[str, Any], path: str, *, input_diff: bool) -> Any:
    if input_diff:
        return value_at(state.get("inputs") or {}, path)
    outputs = state.get("outputs") or {}
    found = value_at(outputs, path)
    if found is _MISSING and path.startswith("outputs."):
        # The stack's outputs, as the offline digest names them (`outputs.<name>`).
        found = value_at(outputs, path.removeprefix("outputs."))
    return found


# --- markdown helpers ---------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~!&{}])")


def text(value: str, width: int | None = None) -> str:
    """Plain text safe inside markdown: one line, colour codes removed, markdown and HTML characters escaped."""
    flat = " ".join(_ANSI.sub("", value).split())
    if width is not None and len(flat) > width:
        flat = f"{flat[: max(width - 24, 8)]}... ({len(flat):,} chars)"
    return _MD_SPECIAL.sub(r"\\\1", flat)


def code(value: str) -> str:
    """An inline code span holding `value` verbatim (on one line)."""
    flat = " ".join(value.split())
    run = max((len(m) for m in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (run + 1)
    pad = " " if run else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def _fence(lines: Iterable[str]) -> str:
    run = max((len(m) for line in lines for m in re.findall(r"`{3,}", line)), default=0)
    return "`" * max(3, run + 1)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


# --- the preview as the comment sees it ---------------------------------------------------------------------


@dataclass
class _Caps:
    """How far the parts that are never left out are shortened (None: not at all)."""

    dependents: int | None = None
    message: int | None = None
    rows: int | None = None
    """Errors and policy results listed (the rest counted)."""
    cautions: int | None = None


@dataclass
class _Caution:
    change: Change | None
    urn: str
    refused: bool
    data: bool
    dependents: list[str]


@dataclass
class _Preview:
    stack: str
    project: str
    base_ref: str
    base_sha: str
    has_base: bool
    head_sha: str
    dirty: bool
    changes: list[Change]
    counts: dict[str, int]
    cautions: list[_Caution]
    errors: list[Mapping[str, Any]]
    warnings: list[Mapping[str, Any]]
    policies: list[Mapping[str, Any]]
    groups: list[tuple[str, list[Change]]]
    dependents: Mapping[str, Sequence[str]]
    maybe_corrupt: bool

    @classmethod
    def read(cls, digest: Mapping[str, Any]) -> _Preview:
        extra: Mapping[str, Any] = digest.get("stackhubHa") or {}
        found = changes(digest)
        stack = str(extra.get("stack") or _stack_from_urns(found) or "unknown")
        base = extra.get("base") or {}
        head = extra.get("head") or {}
        summary = digest.get("changeSummary")
        if isinstance(summary, Mapping):
            counts = {op: int(summary.get(op) or 0) for op in (*OPS, "same")}
        else:
            counts = {op: sum(1 for c in found if c.op == op and not c.is_stack) for op in OPS} | {"same": 0}
        refused = [str(u) for u in extra.get("refused") or ()]
        data = {str(u) for u in extra.get("dataBearing") or ()}
        dependents: Mapping[str, Sequence[str]] = extra.get("dependentsOfReplaced") or {}
        cautions = [
            _Caution(c, c.urn, c.urn in refused, c.urn in data, list(dependents.get(c.urn) or ()))
            for c in found
            if c.op in ("delete", "replace") and not c.is_stack and (c.urn in refused or c.urn in data or c.protect)
        ]
        flagged = {c.urn for c in cautions}
        cautions += [
            _Caution(None, u, True, u in data, list(dependents.get(u) or ())) for u in refused if u not in flagged
        ]
        cautions.sort(key=lambda c: not c.refused)  # stable: refused first, then in step order
        diagnostics = [d for d in digest.get("diagnostics") or () if isinstance(d, Mapping)]
        policies = sorted(
            (p for p in digest.get("policyEvents") or () if isinstance(p, Mapping)),
            key=lambda p: _LEVEL_ORDER.get(str(p.get("enforcementLevel")), 9),
        )
        resolve = component_resolver(digest)
        grouped: dict[str, list[Change]] = {}
        for change in found:
            if not change.is_stack:
                grouped.setdefault(resolve(change.urn) or "", []).append(change)
        # The stack's own step (its outputs) comes last.
        grouped |= {STACK_OUTPUTS: [c for c in found if c.is_stack]} if any(c.is_stack for c in found) else {}
        return cls(
            stack=stack,
            project=str(extra.get("project") or ""),
            base_ref=str(base.get("ref") or ""),
            base_sha=_sha(base.get("commit")),
            has_base=bool(base),
            head_sha=_sha(head.get("commit")),
            dirty=bool(head.get("dirty")),
            changes=found,
            counts=counts,
            cautions=cautions,
            errors=[d for d in diagnostics if d.get("severity") == "error"],
            warnings=[d for d in diagnostics if d.get("severity") == "warning"],
            policies=policies,
            groups=list(grouped.items()),
            dependents=dependents,
            maybe_corrupt=bool(digest.get("maybeCorrupt")),
        )

    @property
    def changed(self) -> bool:
        return any(self.counts[op] for op in OPS) or bool(self.changes)

    @property
    def silent(self) -> bool:
        """Nothing to say but "no changes"."""
        return not (self.changed or self.cautions or self.errors or self.warnings or self.policies)

    def short(self, sha: str) -> str:
        return sha[:7] if sha else "unknown"


def _sha(value: Any) -> str:
    return str(value) if isinstance(value, str) and _SHA.fullmatch(value) else ""


def _stack_from_urns(found: Sequence[Change]) -> str:
    # urn:pulumi:<stack>::<project>::...
    return found[0].urn.split("::", 1)[0].removeprefix("urn:pulumi:") if found else ""


def _marker(view: _Preview) -> str:
    stack = re.sub(r"[^\w.-]", "_", view.stack)
    return f"<!-- {MARKER} stack={stack} head={view.head_sha or 'unknown'} -->"


def _commits(view: _Preview) -> str:
    head = f"head {code(view.short(view.head_sha))}" + (" (with uncommitted changes)" if view.dirty else "")
    if view.base_sha:
        ref = f" ({text(view.base_ref)})" if view.base_ref else ""
        line = f"Base {code(view.short(view.base_sha))}{ref} -> {head}"
        full = f"<sub>base {code(view.base_sha)}, head {code(view.head_sha or 'unknown')}</sub>"
    elif view.has_base:
        line = f"Base {code(view.base_ref or 'unknown')} (a saved state) -> {head}"
        full = f"<sub>head {code(view.head_sha or 'unknown')}</sub>"
    else:
        line = f"No base (a first deployment) -> {head}"
        full = f"<sub>head {code(view.head_sha or 'unknown')}</sub>"
    return f"{line}  \n{full}"


def summary_line(counts: Mapping[str, int]) -> str:
    """`+ 1 to create, ~ 2 to update, +- 1 to replace, - 1 to delete, 58 unchanged` (zero kinds left out)."""
    parts = [f"{MARKS[op]} {counts.get(op, 0):,} to {op}" for op in OPS if counts.get(op)]
    if counts.get("same"):
        parts.append(f"{counts['same']:,} unchanged")
    return ", ".join(parts) or "no changes"


def _head(view: _Preview) -> list[str]:
    project = f" ({text(view.project)})" if view.project else ""
    blocks = [
        f"### Preview of stack {code(view.stack)}{project}\n{_commits(view)}",
        f"**Resources:** {summary_line(view.counts)}",
    ]
    if view.maybe_corrupt:
        blocks.append("> [!WARNING]\n> The state of this stack may be corrupt (`maybeCorrupt`): check it first.")
    return blocks


def _names(urns: Sequence[str], cap: int | None) -> str:
    shown = list(urns if cap is None else urns[:cap])
    listed = ", ".join(code(resource_name(u)) for u in shown)
    rest = len(urns) - len(shown)
    if rest and shown:
        return f"{listed} and {rest:,} more"
    return listed or f"{rest:,} resources"


def _caution_line(caution: _Caution, caps: _Caps) -> str:
    change = caution.change
    op = change.op if change else "replace or delete"
    what = " ".join([f"**{op}**", *([code(change.label)] if change else []), code(resource_name(caution.urn))])
    flags = []
    if caution.refused or (change is not None and change.protect):
        flags.append("protected")
    if caution.data:
        flags.append("holds data")
    line = f"- {what}" + (f" ({', '.join(flags)})" if flags else "") + ": "
    if caution.refused:
        line += f"**Pulumi will refuse the plan**: the resource is protected and the plan would {op} it."
    elif op == "delete":
        line += "deleted with everything it holds."
    else:
        line += "a new one is created and the old one deleted; what it holds does not move."
    reasons: list[str] = []
    if change is not None:
        # The property paths that force it, else the provider's top-level reasons.
        forcing = (p for p, d in change.detailed_diff.items() if str((d or {}).get("kind", "")).endswith("-replace"))
        reasons = sorted(forcing) or list(change.replace_reasons)
    if reasons:
        line += f" Replaced because of {', '.join(code(r) for r in reasons[:10])}"
        line += f" and {len(reasons) - 10:,} more." if len(reasons) > 10 else "."
    if caution.dependents:
        line += f" Unchanged resources that depend on it ({len(caution.dependents):,})"
        line += f": {_names(caution.dependents, caps.dependents)}." if caps.dependents != 0 else "."
    return line


def _caution_block(view: _Preview, caps: _Caps) -> str:
    if not view.cautions:
        return ""
    refused = sum(1 for c in view.cautions if c.refused)
    count = _count(len(view.cautions), "delete or replace", "deletes or replaces")
    title = f"**{count} of protected or data-bearing resources.**"
    if refused:
        title += f" Pulumi will refuse this plan: it replaces or deletes {_count(refused, 'protected resource')}."
    listed = view.cautions if caps.cautions is None else view.cautions[: caps.cautions]
    lines = [title, "", *(_caution_line(c, caps) for c in listed)]
    if len(listed) < len(view.cautions):
        lines.append(f"- ... and {len(view.cautions) - len(listed):,} more ({ARTIFACTS}).")
    return "> [!CAUTION]\n" + "\n".join(f"> {line}".rstrip() for line in lines)


def _diagnostic_line(diagnostic: Mapping[str, Any], caps: _Caps) -> str:
    urn = str(diagnostic.get("urn") or "")
    where = f"{code(resource_name(urn))}: " if urn else ""
    return f"- {where}{text(str(diagnostic.get('message') or ''), caps.message)}"


def _errors_block(view: _Preview, caps: _Caps) -> str:
    if not view.errors:
        return ""
    listed = view.errors if caps.rows is None else view.errors[: caps.rows]
    lines = [f"**{_count(len(view.errors), 'error')}: the preview fails.**", ""]
    lines += [_diagnostic_line(d, caps) for d in listed]
    if len(listed) < len(view.errors):
        lines.append(f"- ... and {len(view.errors) - len(listed):,} more ({ARTIFACTS}).")
    return "\n".join(lines)


def _policy_block(view: _Preview, caps: _Caps) -> str:
    if not view.policies:
        return ""
    levels: dict[str, int] = {}
    for event in view.policies:
        level = str(event.get("enforcementLevel") or "unknown")
        levels[level] = levels.get(level, 0) + 1
    counted = ", ".join(
        f"{n:,} {level}" for level, n in sorted(levels.items(), key=lambda i: _LEVEL_ORDER.get(i[0], 9))
    )
    failing = " (a mandatory violation fails the preview)" if levels.get("mandatory") else ""
    lines = [
        f"**Policy results:** {counted}{failing}",
        "",
        "| Policy | Level | Resource | Message |",
        "| --- | --- | --- | --- |",
    ]
    listed = view.policies if caps.rows is None else view.policies[: caps.rows]
    for event in listed:
        pack = str(event.get("policyPackName") or "")
        version = str(event.get("policyPackVersion") or "")
        policy = code(str(event.get("policyName") or "?"))
        if pack:
            policy += f" ({text(pack)}{'@' + text(version) if version else ''})"
        urn = str(event.get("resourceUrn") or "")
        resource = code(resource_name(urn)) if urn else "(stack)"
        level = text(str(event.get("enforcementLevel") or ""))
        message = text(str(event.get("message") or ""), caps.message)
        lines.append(f"| {policy} | {level} | {resource} | {message} |")
    if len(listed) < len(view.policies):
        lines.append(f"| ... | | | {len(view.policies) - len(listed):,} more ({ARTIFACTS}) |")
    return "\n".join(lines)


def _essentials(view: _Preview, caps: _Caps) -> list[str]:
    blocks = [_marker(view), *_head(view), _caution_block(view, caps), _errors_block(view, caps)]
    return [b for b in [*blocks, _policy_block(view, caps)] if b]


def _warnings_block(view: _Preview) -> str:
    if not view.warnings:
        return ""
    lines = [f"**{_count(len(view.warnings), 'warning')}:**", ""]
    return "\n".join(lines + [_diagnostic_line(d, _Caps(message=2_000)) for d in view.warnings])


# --- component sections -------------------------------------------------------------------------------------


def _resource_lines(change: Change, view: _Preview, *, values: bool) -> list[str]:
    flags = "  [protected]" if change.protect else ""
    lines = [f"{MARKS[change.op]} {change.name}  {change.label}{flags}"]
    if change.op in ("update", "replace"):
        paths = dict(change.detailed_diff)
        for reason in change.diff_reasons:
            # A provider that gives no detailed diff names only the changed top-level properties.
            if not any(p == reason or p.startswith((f"{reason}.", f"{reason}[")) for p in paths):
                paths[reason] = {"kind": "update-replace" if reason in change.replace_reasons else "update"}
        for path in sorted(paths):
            entry = paths[path] or {}
            kind, input_diff = str(entry.get("kind") or "update"), entry.get("inputDiff") is not False
            lines.append(property_line(change, path, kind, values=values, input_diff=input_diff))
    if change.op == "replace" and view.dependents.get(change.urn):
        names = [resource_name(u) for u in view.dependents[change.urn]]
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20:,} more" if len(names) > 20 else "")
        lines.append(f"    = unchanged resources that depend on it ({len(names):,}): {shown}")
    return lines


@dataclass
class _Section:
    title: str
    summary: str
    blocks: list[list[str]]

    def render(self, keep: int | None = None) -> str:
        blocks = self.blocks if keep is None else self.blocks[:keep]
        lines = [line for block in blocks for line in block]
        fence = _fence(line for block in self.blocks for line in block)
        body = "\n".join([fence + "diff", *lines, fence])
        rest = len(self.blocks) - len(blocks)
        more = f"\n\n_{_count(rest, 'more changed resource')} of this component left out._" if rest else ""
        summary = html.escape(f"{self.title}: {self.summary}", quote=False)
        head = f"<details><summary>{summary}</summary>"
        return f"{head}\n\n{body}{more}\n\n</details>"

    def cost(self, keep: int) -> int:
        return len(self.render(keep))


def _sections(view: _Preview, *, values: bool) -> list[_Section]:
    sections = []
    for component, members in view.groups:
        counts = {op: sum(1 for c in members if c.op == op) for op in OPS}
        sections.append(
            _Section(
                component_title(component),
                summary_line(counts),
                [_resource_lines(c, view, values=values) for c in members],
            )
        )
    return sections


# --- fitting the limit --------------------------------------------------------------------------------------

_SEPARATOR = "\n\n"
_NOTE_ROOM = 1_200
"""Characters kept for the closing note when something is left out."""


def _join(blocks: Iterable[str]) -> str:
    return _SEPARATOR.join(b for b in blocks if b)


def _note(left_out: list[str], limit: int) -> str:
    said = text("; ".join(left_out))
    if len(said) > _NOTE_ROOM - 200:
        said = said[: _NOTE_ROOM - 230].rstrip("\\") + "..."
    return f"_Left out to fit the {limit:,}-character limit of a comment: {said}; {ARTIFACTS}._"


MIN_ROWS = 10
"""Errors and policy results kept before the list of cautions is shortened."""


def _fit_essentials(view: _Preview, room: int) -> list[str]:
    """The parts never left out, shortened only as far as needed to fit `room` characters: dependents lists and
    long messages first, then the errors and policy results to their first N (N >= MIN_ROWS while the cautions
    are whole), then the cautions to their first N."""
    ladder = [_Caps(), _Caps(dependents=10, message=1_000), _Caps(dependents=0, message=300)]
    for caps in ladder:
        blocks = _essentials(view, caps)
        if len(_join(blocks)) <= room:
            return blocks
    caps = ladder[-1]

    def fits(candidate: _Caps) -> bool:
        return len(_join(_essentials(view, candidate))) <= room

    longest = max(len(view.errors), len(view.policies))
    rows = largest(longest, lambda n: fits(replace(caps, rows=n)))
    if fits(replace(caps, rows=rows)) and rows >= min(MIN_ROWS, longest):
        return _essentials(view, replace(caps, rows=rows))
    for rows in (MIN_ROWS, 0):
        shorter = replace(caps, rows=rows)
        cautions = largest(len(view.cautions), lambda n: fits(replace(shorter, cautions=n)))  # noqa: B023
        if fits(replace(shorter, cautions=cautions)):
            return _essentials(view, replace(shorter, cautions=cautions))
    return _essentials(view, replace(caps, rows=0, cautions=0))


def largest(count: int, fits: Callable[[int], bool]) -> int:
    """The largest n in 0..count for which fits(n) holds (fits holds up to some n, then no more): a binary search,
    shared by the comment and the graph to fit their size limits."""
    low, high = 0, count
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _hard_cut(blocks: list[str], limit: int) -> str:
    """The last resort for a limit smaller than the parts never left out: marker and summary, then what fits."""
    keep = _join(blocks[:3])
    note = f"\n\n_Cut to fit the {limit:,}-character limit; {ARTIFACTS}._"
    if len(keep) + len(note) > limit:
        keep = _join(blocks[:1] + blocks[2:3])
    if len(keep) + len(note) > limit:
        raise ValueError(f"a limit of {limit:,} characters cannot hold the marker and the summary line")
    rest = _join(blocks[3:])
    room = limit - len(keep) - len(note) - len(_SEPARATOR)
    cut = rest[:room].rsplit("\n", 1)[0] if room > 0 else ""
    return (_join([keep, cut]) if cut else keep) + note


def render_comment(digest: Mapping[str, Any], *, limit: int) -> str:
    """The pull-request comment for one stack's preview digest, at most `limit` characters (see the module)."""
    view = _Preview.read(digest)
    if view.silent:
        base = f"base {code(view.short(view.base_sha))}, " if view.base_sha else "no base, "
        if view.has_base and not view.base_sha:
            base = f"base {code(view.base_ref or 'unknown')}, "
        line = f"**{text(view.stack)}**: no changes ({base}head {code(view.short(view.head_sha))})"
        if len(_marker(view)) + 1 + len(line) > limit:
            raise ValueError(f"a limit of {limit:,} characters cannot hold the marker and the no-change line")
        return f"{_marker(view)}\n{line}"
    warnings = _warnings_block(view)
    with_values = _sections(view, values=True)
    essentials = _essentials(view, _Caps())
    whole = _join([*essentials, warnings, *(s.render() for s in with_values)])
    if len(whole) <= limit:
        return whole

    left_out: list[str] = []
    fitted = _fit_essentials(view, limit - _NOTE_ROOM)
    if len(_join(fitted)) > limit - _NOTE_ROOM:
        return _hard_cut(fitted, limit)
    if fitted != essentials:
        left_out.append("parts of the cautions, errors or policy results (see the counts)")
    room = limit - _NOTE_ROOM - len(_join(fitted)) - len(_SEPARATOR)
    details: list[str] = []
    if warnings and len(warnings) + len(_SEPARATOR) <= room // 4:
        details.append(warnings)
        room -= len(warnings) + len(_SEPARATOR)
    elif warnings:
        left_out.append(_count(len(view.warnings), "warning"))
    if sum(len(s.render()) + len(_SEPARATOR) for s in with_values) > room:
        left_out.append("the old and new values of changed properties")
        details += _fit_sections(_sections(view, values=False), room, left_out)
    else:
        details += [s.render() for s in with_values]
    result = _join([*fitted, *details, _note(left_out, limit)])
    return result if len(result) <= limit else _hard_cut(fitted, limit)


def _fit_sections(sections: list[_Section], room: int, left_out: list[str]) -> list[str]:
    """Whole sections in order while they fit, else as many of a section's resources as fit, else none."""
    kept: list[str] = []
    omitted_components: list[str] = []
    omitted_resources = 0
    for section in sections:
        whole = section.render()
        keep = len(section.blocks) if len(whole) + len(_SEPARATOR) <= room else _most_blocks(section, room)
        if keep:
            shown = whole if keep == len(section.blocks) else section.render(keep)
            kept.append(shown)
            room -= len(shown) + len(_SEPARATOR)
        else:
            omitted_components.append(section.title)
        omitted_resources += len(section.blocks) - keep
    if omitted_components:
        listed = ", ".join(omitted_components[:20])
        more = f" and {len(omitted_components) - 20:,} more" if len(omitted_components) > 20 else ""
        left_out.append(f"the sections of {_count(len(omitted_components), 'component')} ({listed}{more})")
    if omitted_resources:
        left_out.append(f"{_count(omitted_resources, 'changed resource')} in all")
    return kept


def _most_blocks(section: _Section, room: int) -> int:
    """How many of a section's resources fit `room` characters (0: not even one)."""
    room -= len(_SEPARATOR)
    return largest(len(section.blocks), lambda n: n == 0 or section.cost(n) <= room)
