"""The SDK's dynamic-provider serialization leaves a wrapper on pickle's Pickler per dynamic resource; many offline
runs in one process would nest them until RecursionError. The engine puts the original back after each run."""

from __future__ import annotations

import pickle

from preview.engine import run_stack
from tests.conftest import shared_outputs


def _depth(method: object) -> int:
    """How many sorting wrappers the SDK has stacked on the method (each closes over the one before)."""
    depth = 0
    while getattr(method, "__closure__", None):
        inner = [c.cell_contents for c in method.__closure__ or () if callable(c.cell_contents)]  # type: ignore[attr-defined]
        if not inner:
            break
        method, depth = inner[0], depth + 1
    return depth


def test_every_run_leaves_the_pickler_as_it_found_it() -> None:
    original = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    for _ in range(3):
        run = run_stack("hub-denver", stack_outputs={"shared": shared_outputs()})
        assert len(run.by_type("pulumi-python:dynamic:Resource")) >= 6  # each one serialized its provider
        assert pickle._Pickler._batch_setitems is original  # type: ignore[attr-defined]
        assert _depth(pickle._Pickler._batch_setitems) == 0  # type: ignore[attr-defined]
