"""Query-string parsing: durations, times, ranges, tag filters, cursors (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from unity_api.params import (
    decode_cursor,
    encode_cursor,
    parse_duration,
    parse_time,
    tag_filters,
    time_range,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("last 1 hour", timedelta(hours=1)),
        ("last 30 minutes", timedelta(minutes=30)),
        ("a day", timedelta(days=1)),
    ],
)
def test_durations_in_short_and_plain_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "timeframe") == expected


@pytest.mark.parametrize("text", ["soon", "0m", "-5m", "15", "99999d", "last hour ago"])
def test_bad_durations_name_the_parameter(text: str) -> None:
    with pytest.raises(ValueError, match=r"^timeframe: "):
        parse_duration(text, "timeframe")


def test_times_are_iso_relative_or_now_and_always_aware_utc() -> None:
    assert parse_time("now", "to", NOW) == NOW
    assert parse_time("1h", "from", NOW) == NOW - timedelta(hours=1)
    assert parse_time("2026-11-28T10:00:00Z", "from", NOW) == datetime(2026, 11, 28, 10, tzinfo=UTC)
    # A naive time is UTC; an offset is converted; an unencoded '+' (a space) is accepted
    assert parse_time("2026-11-28T10:00:00", "from", NOW).utcoffset() == timedelta(0)
    expected = datetime(2026, 11, 28, 8, tzinfo=UTC)
    assert parse_time("2026-11-28T10:00:00+02:00", "from", NOW) == expected
    assert parse_time("2026-11-28T10:00:00 02:00", "from", NOW) == expected
    with pytest.raises(ValueError, match=r"^from: 'yesterday' is neither"):
        parse_time("yesterday", "from", NOW)


def test_a_range_defaults_to_the_span_before_now_and_must_be_ordered() -> None:
    assert time_range(None, None, default_span=timedelta(hours=1), now=NOW) == (
        NOW - timedelta(hours=1),
        NOW,
    )
    with pytest.raises(ValueError, match="must be before"):
        time_range("1h", "2h", default_span=timedelta(hours=1), now=NOW)


def test_tag_filters_come_from_tag_dot_parameters_only() -> None:
    args = {"tag.host": "nas", "tag.site": "rack1", "plugin_id": "system"}
    assert tag_filters(args) == {"host": "nas", "site": "rack1"}
    for bad in ("tag.", 'tag.a"b', "tag.a\\b"):
        with pytest.raises(ValueError, match="malformed tag filter"):
            tag_filters({bad: "x"})


def test_a_cursor_round_trips_and_anything_else_is_refused() -> None:
    start, end = NOW - timedelta(hours=2), NOW
    assert decode_cursor(encode_cursor(start, end)) == (start, end)
    for bad in ("", "not-a-cursor", encode_cursor(end, start)):
        with pytest.raises(ValueError, match=r"^cursor: "):
            decode_cursor(bad)
