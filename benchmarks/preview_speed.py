"""How long an offline preview of each stack takes, in process, referenced stacks included (target: 2 s each).

Run with `make bench`. Prints the median of several runs per stack; exits 1 when a stack misses the target.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from preview.engine import run_stack_with_references, stack_names

TARGET_SECONDS = 2.0
RUNS = 5


def main() -> int:
    """Time every stack; report the medians."""
    missed = []
    run_stack_with_references(
        stack_names()[0], mode="preview"
    )  # warm imports once, as a second `make preview` would find them cached
    for stack in stack_names():
        timings = []
        for _ in range(RUNS):
            start = time.perf_counter()
            run = run_stack_with_references(stack, mode="preview")
            timings.append(time.perf_counter() - start)
        median = statistics.median(timings)
        print(f"{stack:14} {len(run.resources):4} resources  median {median:.3f} s over {RUNS} runs")
        if median > TARGET_SECONDS:
            missed.append(stack)
    if missed:
        print(f"over the {TARGET_SECONDS} s target: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
