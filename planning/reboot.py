"""The rule for a kured reboot window, once for the stack config and the platform values. Pure functions.

kured (kubereboot/kured `pkg/timewindow`) reboots a node only when one of its checks, one every `period`, falls
inside the window on one of the window's days. A window that ends before it starts runs past midnight; a window
whose start equals its end is one minute long, not a whole day; a window shorter than the period can fall between
two checks and never reboot anything.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence

TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
"""HH:MM on a 24-hour clock, two digits each: the one form this project writes (kured reads several)."""
DAYS = ("su", "mo", "tu", "we", "th", "fr", "sa")
"""kured's day abbreviations."""
KURED_PERIOD_MINUTES = 60
"""How often kured checks each node (`period`, 1h: workloads/platform_values.RebootWindow)."""
MINUTES_PER_DAY = 24 * 60


def time_of_day_problem(value: str) -> str | None:
    """Why `value` is not a time of day HH:MM, or None."""
    return None if TIME_OF_DAY.match(value) else "must be a time of day HH:MM on a 24-hour clock, e.g. 02:00"


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone that exists (what kured's Go time.LoadLocation and a CronJob's
    `timeZone` load), or None. The one time-zone rule: the backup settings call it too."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "must be an IANA time zone that exists, such as Europe/Berlin or UTC"
    return None


def _minutes(value: str) -> int:
    match = TIME_OF_DAY.match(value)
    if match is None:
        raise ValueError(value)
    return int(match[1]) * 60 + int(match[2])


def window_minutes(start: str, end: str) -> int:
    """How long the window lasts, in minutes, as kured reads it (end included, past midnight when end < start)."""
    return (_minutes(end) - _minutes(start)) % MINUTES_PER_DAY + 1


def reboot_window_problems(
    start: str, end: str, time_zone: str, days: Sequence[str], period_minutes: int = KURED_PERIOD_MINUTES
) -> list[tuple[str, str]]:
    """Every broken rule of a window, as (field, why): field is `startTime`, `endTime`, `timeZone` or `days`."""
    problems = [(field, why) for field, value in (("startTime", start), ("endTime", end))
                if (why := time_of_day_problem(value)) is not None]  # fmt: skip
    if (why := time_zone_problem(time_zone)) is not None:
        problems.append(("timeZone", why))
    unknown = [d for d in days if d not in DAYS]
    if unknown or not days:
        problems.append(("days", f"must be a non-empty list of {', '.join(DAYS)}"))
    if len(set(days)) != len(days):
        problems.append(("days", "lists a day more than once"))
    if problems:
        return problems
    if start == end:
        problems.append(
            (
                "endTime",
                f"equals startTime ({start}): kured reads that as a one-minute window, not a whole day; for a whole "
                "day use 00:00 to 23:59",
            )
        )
    elif (length := window_minutes(start, end)) < period_minutes:
        problems.append(
            (
                "endTime",
                f"leaves a {length}-minute window ({start}-{end}); kured checks each node every {period_minutes} "
                "minutes, so the window must last at least that long",
            )
        )
    return problems
