"""What a refresh reads back: the hub's current values in the shape the program declares.

A `pulumi refresh` stores what `read` returns, and the next diff compares it with the program. If `read` handed
back the old declaration, that diff would compare the program with itself and never see a rule deleted in the
portal. If it handed back ARM's whole answer, read-only fields (`provisioningState`, `etag`, `id`, `type`,
`resourceGuid`, ...) would differ from the program forever. So the answer is projected onto the declaration:
only what the program declares is compared, plus named items the hub has and the program does not (the next PUT,
which carries the declared list, removes them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The parts of an ARM resource the program declares and a PUT sends.
READ_BACK_KEYS = ("location", "tags", "sku", "kind", "properties")

# A PUT sets the whole tag map: a tag added on the hub is drift, not a read-only field.
WHOLE_VALUE_KEYS = frozenset({"tags"})

# ARM compares names and resource ids case-insensitively and may answer in another case than it was sent
# (resource group names in ids, for one); a difference in case alone is not drift.
CASE_INSENSITIVE_KEYS = frozenset({"name", "id"})


def refreshed_inputs(declared: Mapping[str, Any], server: Mapping[str, Any]) -> dict[str, Any]:
    """`declared` inputs with each declared body key (`READ_BACK_KEYS`) replaced by what the hub has now.

    Keys the program leaves out (None) stay out: what the hub has there is not the program's to compare. A
    declared key the hub does not have becomes None, which the diff sees as a change.
    """
    refreshed = dict(declared)
    for key in READ_BACK_KEYS:
        want = declared.get(key)
        if want is None:
            continue
        have = server.get(key)
        if have is None or key in WHOLE_VALUE_KEYS:
            refreshed[key] = have
        else:
            refreshed[key] = project(want, have)
    return refreshed


def project(declared: Any, server: Any) -> Any:
    """`server` reduced to the keys and items of `declared`, keeping the hub's values.

    Mappings keep the declared keys the server has. Lists of named ARM objects (`securityRules`, `subnets`,
    `routes`) are matched by `name`, case-insensitively, in the declared order, followed by the server's items
    the declaration does not name; other lists of objects are matched by position; anything else is the server's
    value as it is.
    """
    if isinstance(declared, Mapping) and isinstance(server, Mapping):
        return _project_mapping(declared, server)
    if _is_list(declared) and _is_list(server):
        return _project_list(declared, server)
    return server


def _project_mapping(declared: Mapping[str, Any], server: Mapping[str, Any]) -> dict[str, Any]:
    projected: dict[str, Any] = {}
    for key, want in declared.items():
        have = server.get(key)
        if have is None:
            # ARM omits a property it has no value for: absent and null are the same, and a declared value
            # that the hub lacks stays missing so that the diff sees it.
            if want is None:
                projected[key] = None
            continue
        if key in CASE_INSENSITIVE_KEYS and _same_text(want, have):
            projected[key] = want
            continue
        projected[key] = project(want, have)
    return projected


def _project_list(declared: Sequence[Any], server: Sequence[Any]) -> list[Any]:
    named = [(name, item) for item in declared if (name := _name_of(item)) is not None]
    if len(named) == len(declared):
        return _project_named(named, server)
    if all(isinstance(item, Mapping) for item in declared):
        matched = [project(want, have) for want, have in zip(declared, server, strict=False)]
        return [*matched, *server[len(declared) :]]
    return list(server)


def _project_named(declared: Sequence[tuple[str, Any]], server: Sequence[Any]) -> list[Any]:
    by_name: dict[str, Any] = {}
    for item in server:
        name = _name_of(item)
        if name is not None:
            by_name.setdefault(name, item)
    projected = [project(want, by_name[name]) for name, want in declared if name in by_name]
    # Items only the hub has (a rule added in the portal) stay, whole: the diff shows them and the next PUT,
    # which sends the declared list, removes them.
    declared_names = {name for name, _ in declared}
    extras = [item for item in server if _name_of(item) not in declared_names]
    return [*projected, *extras]


def _name_of(item: Any) -> str | None:
    """The case-folded `name` of an ARM object, or None when `item` is not one."""
    if isinstance(item, Mapping):
        name = item.get("name")
        if isinstance(name, str):
            return name.casefold()
    return None


def _same_text(want: Any, have: Any) -> bool:
    return isinstance(want, str) and isinstance(have, str) and want.casefold() == have.casefold()


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)
