"""The hidden marker: how a comment names its stack, the head it previewed and when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from review.marker import Marker, MarkerError, parse, parse_time, stamp

SEATTLE = Marker("hub-seattle", "1f2e3d4", datetime(2025, 3, 4, 9, 0, tzinfo=UTC))


def test_a_marker_line_reads_back_as_itself() -> None:
    line = SEATTLE.line()

    assert line == "<!-- stackhub-ha-preview stack=hub-seattle head=1f2e3d4 time=2025-03-04T09:00:00Z -->"
    assert parse(line + "\nbody") == SEATTLE


def test_the_preview_marker_is_replaced_and_the_rest_kept() -> None:
    body = "<!-- stackhub-ha-preview stack=hub-seattle -->\n**hub-seattle**\n\n+ 1 to create\n"

    assert stamp(body, SEATTLE) == SEATTLE.line() + "\n**hub-seattle**\n\n+ 1 to create\n"


def test_a_body_without_marker_gets_one_on_top() -> None:
    assert stamp("no marker here", SEATTLE) == SEATTLE.line() + "\nno marker here"


def test_a_body_of_another_stack_is_refused() -> None:
    with pytest.raises(MarkerError, match="marked for stack 'hub-denver'"):
        stamp("<!-- stackhub-ha-preview stack=hub-denver -->\nx", SEATTLE)


@pytest.mark.parametrize(
    "body",
    [
        "plain text",
        "<!-- stackhub-ha-preview -->",
        "<!-- stackhub-ha-preview stack=../etc -->",
        "text first\n<!-- stackhub-ha-preview stack=shared -->",
        "<!-- another-tool stack=shared -->",
    ],
)
def test_only_a_first_line_marker_of_ours_counts(body: str) -> None:
    assert parse(body) is None


def test_a_stack_name_must_not_be_a_prefix_match() -> None:
    assert parse("<!-- stackhub-ha-preview stack=hub-seattle-2 -->") == Marker("hub-seattle-2")


def test_a_marker_with_a_broken_time_is_the_oldest() -> None:
    broken = parse("<!-- stackhub-ha-preview stack=shared head=abcdef0 time=soon -->")

    assert broken == Marker("shared", "abcdef0", None)
    assert SEATTLE.is_newer_than(broken)
    assert not broken.is_newer_than(SEATTLE)


def test_times_compare_in_utc() -> None:
    assert parse_time("2025-03-04T10:00:00+01:00") == parse_time("2025-03-04T09:00:00Z")
    assert not SEATTLE.is_newer_than(Marker("hub-seattle", "abcdef0", parse_time("2025-03-04T10:00:00+01:00")))
