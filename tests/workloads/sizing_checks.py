"""Sizing checks only the tests run: Kubernetes quantities parsed back, and whether a set of pods fits the workers.

The product only ever writes quantities (workloads/sizing.py) and sizes with `autoscaled_maxima`; these read the
rendered objects back to check what it decided.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from workloads.sizing import FixedPods, InsufficientCapacityError, Resources, VmSize, autoscaled_maxima


def parse_resources(cpu: str, memory: str) -> Resources:
    """From Kubernetes quantities such as `500m`/`1` and `256Mi`/`1Gi`."""
    return Resources(parse_cpu(cpu), parse_memory(memory))


def parse_cpu(quantity: str) -> int:
    """A CPU quantity in millicores."""
    return int(quantity[:-1]) if quantity.endswith("m") else round(float(quantity) * 1000)


_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_FACTORS: dict[str | None, int] = {
    None: 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def parse_memory(quantity: str) -> int:
    """A memory quantity in MiB (rounded up)."""
    match = _MEMORY.match(quantity)
    if match is None:
        raise ValueError(f"{quantity!r} is not a memory quantity")
    number, unit = match.groups()
    return math.ceil(float(number) * _MEMORY_FACTORS[unit] / 2**20)


def pods_fit(size: VmSize, workers: int, pods: Sequence[FixedPods], *, egress_proxy: bool = False) -> bool:
    """Whether all these pods can be scheduled on the workers at once (used to check the maxima)."""
    try:
        autoscaled_maxima(size, workers, pods, (), egress_proxy=egress_proxy)
    except InsufficientCapacityError:
        return False
    return True
