"""Fixtures shared by the tests: stack files as config, and offline runs of stacks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from preview.engine import Mode, StackRun, run_stack, stack_config
from preview.state import StackState

PREFIX = "stackhub-ha:"


def config_of(stack: str, **overrides: Any) -> dict[str, Any]:
    """A stack file's config without the project prefix, with keys overridden (None removes a key)."""
    values, _ = stack_config(stack)
    plain = {k.removeprefix(PREFIX): v for k, v in values.items()}
    for key, value in overrides.items():
        if value is None:
            plain.pop(key, None)
        else:
            plain[key] = value
    return plain


@functools.cache
def shared_outputs() -> dict[str, Any]:
    """The shared stack's outputs from its offline run (hub stacks read them through a StackReference)."""
    return run_stack("shared").outputs


def run_with(
    stack: str,
    values: dict[str, Any],
    secret_keys: set[str] | None = None,
    *,
    mode: Mode = "up",
    prior: StackState | None = None,
) -> StackRun:
    """Run a stack offline with the given (unprefixed) config values: an offline up, or a preview from `prior`."""
    _, file_secrets = stack_config(stack)
    secrets = {k.removeprefix(PREFIX) for k in file_secrets} if secret_keys is None else secret_keys
    return run_stack(
        stack,
        config={PREFIX + k: v for k, v in values.items()},
        secret_keys={PREFIX + k for k in secrets},
        stack_outputs={"shared": shared_outputs()},
        mode=mode,
        prior=prior,
    )


@pytest.fixture(scope="module")
def seattle() -> StackRun:
    """One offline run of the hub-seattle stack, shared by a module's tests."""
    return run_stack("hub-seattle", stack_outputs={"shared": shared_outputs()})


@pytest.fixture
def runner() -> Callable[..., StackRun]:
    """Run a stack offline with overridden config."""
    return run_with
