"""When each plugin runs: interval and cron slots, stable spreading offsets, backoff, pausing.

Pure arithmetic on aware datetimes, no I/O, so every beat on every host computes the same
slots and a standby that takes over continues exactly where the active one stopped.

Interval schedules fire at `epoch + offset + k * interval`, where the offset in
[0, interval) comes from a hash of the plugin id: plugins sharing an interval spread over it
instead of firing together, and the same plugin gets the same offset on every host and
after every restart (Python's salted `hash()` would not do).

Cron schedules are evaluated in their time zone with cronsim and returned as UTC instants.
Across daylight-saving changes they follow Debian cron, the semantics users know:

- A job at a fixed wall-clock time (specific minute and hour, e.g. `30 2 * * *`) fires once
  per matching day. If that time does not exist (spring forward), it fires at the first
  minute that does (03:00 in Europe/Berlin); if it exists twice (fall back), it fires at the
  first occurrence only.
- A job with a wildcard or step in the minute or hour (e.g. `30 * * * *`, `*/15 * * * *`)
  follows real elapsed time: it fires at every real instant whose local time matches, so
  hourly jobs keep firing hourly through both changes (twice at 02:30 local when 02:30
  happens twice, never at a 02:30 that does not exist).

Adaptive backoff: after N consecutive failures the effective interval is
`interval * backoff ** N`, capped at `max(interval, min(10 * interval, 1 h))`, and the next
run is the first regular slot at least that far after the last one, so sample times stay
on the schedule's grid. A plugin is paused after `pause_after` consecutive failures
(0 disables pausing).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

__all__ = [  # noqa: RUF022 - grouped by concept (STYLE 9.15)
    # schedules
    "CronSchedule",
    "IntervalSchedule",
    "Schedule",
    "plugin_offset",
    "schedule_for",
    # slots
    "first_slot_at_or_after",
    "latest_slot_at_or_before",
    "next_slot_after",
    "slot_length",
    # adaptive
    "MAX_BACKOFF_FACTOR",
    "MAX_BACKOFF_DELAY",
    "backoff_interval",
    "due_after",
    "should_pause",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)

#: The backed-off interval never exceeds this multiple of the regular one...
MAX_BACKOFF_FACTOR = 10
#: ...nor this delay, unless the regular interval is itself longer (then it is not stretched).
MAX_BACKOFF_DELAY = timedelta(hours=1)

# A cron expression that matched nothing for this many steps is a bug in the expression
# (cronsim gives up after 50 years anyway); the guard keeps a bad row from hanging beat.
_CRON_STEPS = 8


def plugin_offset(plugin_id: str, interval: int) -> int:
    """The plugin's stable offset in whole seconds, in [0, interval): same on every host."""
    if interval < 1:
        raise ValueError(f"interval must be at least 1 s, got {interval!r}")
    digest = hashlib.sha256(plugin_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % interval


@dataclass(frozen=True)
class IntervalSchedule:
    """Every `interval` seconds, at `offset` seconds past each multiple of it since the epoch."""

    interval: int
    offset: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.interval, bool) or not isinstance(self.interval, int):
            raise ValueError(f"interval must be whole seconds, got {self.interval!r}")
        if self.interval < 1:
            raise ValueError(f"interval must be at least 1 s, got {self.interval!r}")
        if not 0 <= self.offset < self.interval:
            raise ValueError(f"offset {self.offset!r} is not in [0, {self.interval})")

    @classmethod
    def for_plugin(cls, plugin_id: str, interval: int) -> IntervalSchedule:
        return cls(interval, plugin_offset(plugin_id, interval))


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression evaluated in an IANA time zone; slots are real instants (UTC)."""

    expr: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        try:
            CronSim(self.expr, datetime(2000, 1, 1, tzinfo=UTC))
        except CronSimError as error:
            raise ValueError(f"bad cron expression {self.expr!r}: {error}") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


Schedule = IntervalSchedule | CronSchedule


def schedule_for(
    plugin_id: str,
    *,
    interval: int | None,
    cron: str | None,
    timezone: str | None,
    default_interval: int,
) -> Schedule:
    """The schedule of one plugin instance: its cron, else its interval, else the default.

    Raises ValueError for an unusable cron expression, time zone or interval.
    """
    if cron:
        return CronSchedule(cron, timezone or "UTC")
    return IntervalSchedule.for_plugin(plugin_id, int(interval or default_interval))


def _require_aware(t: datetime) -> None:
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t.isoformat()}: scheduling needs aware datetimes")


def _micros(t: datetime) -> int:
    return (t - EPOCH) // _MICROSECOND


def latest_slot_at_or_before(schedule: Schedule, t: datetime) -> datetime | None:
    """The last slot ≤ t (UTC), or None if the schedule never fired before t."""
    _require_aware(t)
    if isinstance(schedule, IntervalSchedule):
        step = schedule.interval * 1_000_000
        offset = schedule.offset * 1_000_000
        slot = offset + ((_micros(t) - offset) // step) * step
        return EPOCH + timedelta(microseconds=slot)
    return _cron_latest(schedule, t)


def next_slot_after(schedule: Schedule, t: datetime) -> datetime:
    """The first slot strictly after t (UTC)."""
    _require_aware(t)
    if isinstance(schedule, IntervalSchedule):
        latest = latest_slot_at_or_before(schedule, t)
        assert latest is not None  # interval schedules have a slot before every instant
        return latest + timedelta(seconds=schedule.interval)
    return _cron_next(schedule, t)


def first_slot_at_or_after(schedule: Schedule, t: datetime) -> datetime:
    """The first slot ≥ t (UTC)."""
    return next_slot_after(schedule, t - _MICROSECOND)


def slot_length(schedule: Schedule, slot: datetime) -> timedelta:
    """How long this slot lasts: the time until the next one (a cron gap varies, e.g. DST)."""
    if isinstance(schedule, IntervalSchedule):
        return timedelta(seconds=schedule.interval)
    return next_slot_after(schedule, slot) - slot


def _cron_next(schedule: CronSchedule, t: datetime) -> datetime:
    # cronsim iterates in wall-clock time for fixed-time jobs, which can yield an instant at
    # or before t when t lies in the repeated hour of a fall-back; skip those.
    it = CronSim(schedule.expr, t.astimezone(schedule.zone))
    for candidate in itertools.islice(it, _CRON_STEPS):
        if candidate.astimezone(UTC) > t:
            return candidate.astimezone(UTC)
    raise ValueError(f"cron expression {schedule.expr!r} yields no time after {t.isoformat()}")


def _cron_latest(schedule: CronSchedule, t: datetime) -> datetime | None:
    # Walk back with cronsim (it returns instants strictly before its start, whole seconds),
    # then forward again: across a fall-back, wall-clock order and real order disagree, and
    # the forward walk is the one that defines which instants are slots.
    start = (t.replace(microsecond=0) + _SECOND).astimezone(schedule.zone)
    back = CronSim(schedule.expr, start, reverse=True)
    earlier = (found.astimezone(UTC) for found in itertools.islice(back, _CRON_STEPS))
    candidate = next((found for found in earlier if found <= t), None)
    if candidate is None:
        return None
    for _ in range(_CRON_STEPS):
        following = _cron_next(schedule, candidate)
        if following > t:
            break
        candidate = following
    return candidate


def backoff_interval(
    interval: timedelta,
    consecutive_failures: int,
    backoff: float = 2.0,
    *,
    max_factor: float = MAX_BACKOFF_FACTOR,
    max_delay: timedelta = MAX_BACKOFF_DELAY,
) -> timedelta:
    """The effective interval after that many failures in a row: grows, and is bounded.

    `interval * backoff ** failures`, never more than `max(interval, min(max_factor *
    interval, max_delay))`: a failing plugin is retried less often but never given up on
    (pausing is a separate, explicit decision, see should_pause).
    """
    if consecutive_failures <= 0 or backoff <= 1:
        return interval
    ceiling = max(interval, min(interval * max_factor, max_delay))
    # Compare exponents, not products: backoff ** failures overflows floats long before
    # a plugin stops failing.
    limit = ceiling / interval
    if consecutive_failures * math.log(backoff) >= math.log(limit):
        return ceiling
    return min(interval * backoff**consecutive_failures, ceiling)


def due_after(
    schedule: Schedule,
    last_slot: datetime,
    consecutive_failures: int = 0,
    backoff: float = 2.0,
) -> datetime:
    """The next slot to run after `last_slot`, stretched by backoff while the plugin fails.

    Always a slot of the schedule (so sample times stay on its grid) and always after
    `last_slot`; with no failures it is simply the next slot.
    """
    following = next_slot_after(schedule, last_slot)
    if consecutive_failures <= 0:
        return following
    wait = backoff_interval(following - last_slot, consecutive_failures, backoff)
    return first_slot_at_or_after(schedule, last_slot + wait)


def should_pause(consecutive_failures: int, pause_after: int) -> bool:
    """True once a plugin has failed `pause_after` times in a row; 0 means never pause."""
    return pause_after > 0 and consecutive_failures >= pause_after
