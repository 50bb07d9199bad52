"""Stack programs, one per role. Each reads its validated config once and composes components from it."""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from stacks.config import ConfigError, Problem, raw_config

ROLES = ("hub", "shared", "global")


def _program_for(role: str) -> Callable[[str], None]:
    # Imported lazily so that a stack loads only the SDKs its role uses.
    if role == "hub":
        from stacks.hub import program  # noqa: PLC0415

        return program
    if role == "shared":
        from stacks.shared import program as shared_program  # noqa: PLC0415

        return shared_program
    if role == "global":
        from stacks.global_stack import program as global_program  # noqa: PLC0415

        return global_program
    raise AssertionError(role)


def main() -> None:
    """Run the program of the stack's role (`stackhub-ha:role`)."""
    stack = pulumi.get_stack()
    values, _ = raw_config()
    role = values.get("role")
    if role not in ROLES:
        shown = "(not set)" if role is None else repr(role)
        raise ConfigError(stack, [Problem("role", shown, f"must be one of: {', '.join(ROLES)}")])
    _program_for(str(role))(stack)
