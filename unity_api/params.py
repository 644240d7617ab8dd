"""Parsing what clients send in query strings: times, durations, tag filters, cursors.

Every failure is a ValueError whose message names the parameter; views turn it into 422.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_WORDS = re.compile(
    r"^\s*(?:last\s+)?(\d+(?:\.\d+)?|an?|one)?\s*"
    r"(second|minute|hour|day|week)s?\s*$",
    re.IGNORECASE,
)
#: Relative times may reach this far back (far enough for the daily rollups' 5 years).
MAX_RELATIVE = timedelta(days=3660)
TAG_PREFIX = "tag."


def parse_duration(text: str, name: str) -> timedelta:
    """`15m`, `24h`, `7d`, `2w`, `90s`, or words: `last 1 hour`, `a day`, `30 minutes`."""
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        words = _WORDS.match(text)
        if not words:
            raise ValueError(
                f"{name}: {text!r} is not a duration (use e.g. 15m, 24h, 7d or 'last 1 hour')"
            )
        count = words.group(1)
        number = 1.0 if count is None or count.lower() in ("a", "an", "one") else float(count)
        seconds = number * _UNITS[words.group(2)[0].lower()]
    if seconds <= 0:
        raise ValueError(f"{name}: duration must be positive, got {text!r}")
    if seconds > MAX_RELATIVE.total_seconds():
        raise ValueError(f"{name}: {text!r} reaches back more than {MAX_RELATIVE.days} days")
    return timedelta(seconds=seconds)


def parse_time(text: str, name: str, now: datetime) -> datetime:
    """An ISO 8601 time (naive means UTC), `now`, or a duration meaning that long before now."""
    value = text.strip()
    if value.lower() == "now":
        return now
    if _DURATION.match(value) or _WORDS.match(value):
        return now - parse_duration(value, name)
    try:
        # A '+' of an unencoded offset arrives as a space ("…T10:00:00 02:00").
        if "T" in value and value.count(" ") == 1:
            value = value.replace(" ", "+")
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{name}: {text!r} is neither an ISO 8601 time nor a relative time like 15m, 24h, 7d"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not datetime(1970, 1, 1, tzinfo=UTC) <= parsed <= datetime(9999, 1, 1, tzinfo=UTC):
        raise ValueError(f"{name}: {text!r} is out of range")
    return parsed.astimezone(UTC)


def time_range(
    start: str | None, end: str | None, *, default_span: timedelta, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """[from, to) from the two parameters; `to` defaults to now, `from` to `to - default_span`."""
    now = now or datetime.now(UTC)
    stop = parse_time(end, "to", now) if end else now
    begin = parse_time(start, "from", now) if start else stop - default_span
    if stop <= begin:
        raise ValueError(f"from ({begin.isoformat()}) must be before to ({stop.isoformat()})")
    return begin, stop


def tag_filters(args: Mapping[str, str]) -> dict[str, str]:
    """`tag.host=nas&tag.site=rack1` → {"host": "nas", "site": "rack1"}."""
    tags: dict[str, str] = {}
    for key, value in args.items():
        if not key.startswith(TAG_PREFIX):
            continue
        name = key[len(TAG_PREFIX) :]
        if not name or '"' in name or "\\" in name or len(name) > 200:
            raise ValueError(f"{key}: malformed tag filter (use tag.NAME=VALUE)")
        tags[name] = value
    return tags


def encode_cursor(start: datetime, end: datetime) -> str:
    """An opaque cursor: where the next page starts and the fixed end of the range."""
    raw = json.dumps({"s": start.isoformat(), "e": end.isoformat()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, datetime]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        start = datetime.fromisoformat(data["s"])
        end = datetime.fromisoformat(data["e"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValueError("cursor: not a cursor this API returned") from None
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("cursor: not a cursor this API returned")
    return start, end
