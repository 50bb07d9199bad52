"""Rules for the cluster's shape that the stack config and the components share: workers, their size, the database
volume. Pure functions; each returns why a value is refused, or None.

The figures come from the one place each is kept: the hub's VM sizes and limits from the policy pack's
`hub_facts`, the application's pods from `workloads`. The worker check runs the same sizing the RatingsApp
component runs, so a size the config accepts is one the component can place the application on.
"""

from __future__ import annotations

from policy.stackhub_policies.hub_facts import MAX_MANAGED_DISK_GIB, MIN_WORKERS, disk_gb, size_problem
from workloads.ratings import app_sizing

DATABASE_MEMBERS = 3
"""The ratings database's replica set: fixed, because changing the member count needs a reconfiguration
(rs.remove / rs.add) that scaling the StatefulSet does not do."""


def min_workers() -> int:
    """The fewest workers a hub's cluster may have: the pattern's two, or one per database member if more."""
    return max(MIN_WORKERS, DATABASE_MEMBERS)


def worker_count_problem(count: int) -> str | None:
    """Why the cluster cannot have `count` workers, or None."""
    if count >= min_workers():
        return None
    return (
        f"must be at least {min_workers()}: the ratings database keeps {DATABASE_MEMBERS} replica-set members, one "
        f"per worker, and the pattern asks for {MIN_WORKERS} workers so that one can fail or be upgraded"
    )


def master_size_problem(size: str) -> str | None:
    """Why `size` cannot run the masters, or None."""
    return size_problem(size, "master")


def worker_size_problem(size: str, workers: int, *, log_shipping: bool, egress_proxy: bool = False) -> str | None:
    """Why `workers` workers of `size` cannot run the platform and the application, or None.

    First the hub's size table and the role's minimum, then the sizing the RatingsApp component does (every pod's
    requests placed on the workers, the HPA minimums included), so that nothing fails after the network and the
    cluster are registered.
    """
    if (problem := size_problem(size, "agent")) is not None:
        return problem
    try:
        app_sizing(
            size, workers, mongodb_members=DATABASE_MEMBERS, log_shipping=log_shipping, egress_proxy=egress_proxy
        )
    except KeyError as error:
        # workloads.sizing knows the worker sizes it has figures for; another size must be added there first.
        return f"cannot be sized for the application: {error.args[0]}"
    except ValueError as error:
        return f"is too small for the platform and the application on {workers} workers: {error}"
    return None


def database_volume_problem(size: str) -> str | None:
    """Why a database member's volume cannot be `size` on a hub, or None."""
    try:
        gib = disk_gb(size)
    except ValueError as error:
        return str(error)
    if gib > MAX_MANAGED_DISK_GIB:
        return (
            f"is {gib} GiB; the largest managed disk a hub offers is {MAX_MANAGED_DISK_GIB} GiB (M30), and each "
            "member's volume is one disk"
        )
    return None
