"""Slots, offsets, cron across DST, backoff and pausing: unity_core.scheduling."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from unity_core.scheduling import (
    CronSchedule,
    IntervalSchedule,
    backoff_interval,
    due_after,
    first_slot_at_or_after,
    latest_slot_at_or_before,
    next_slot_after,
    plugin_offset,
    schedule_for,
    should_pause,
    slot_length,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def slots_between(schedule: CronSchedule, start: datetime, end: datetime) -> list[datetime]:
    found, t = [], start
    while (t := next_slot_after(schedule, t)) < end:
        found.append(t)
    return found


def local_day(zone: ZoneInfo, year: int, month: int, day: int) -> tuple[datetime, datetime]:
    """The real instants [start, end) of one local calendar day (23 or 25 h around DST)."""
    start = datetime(year, month, day, tzinfo=zone).astimezone(UTC)
    end = (datetime(year, month, day, tzinfo=zone) + timedelta(days=1)).astimezone(UTC)
    return start, end


# -- offsets ------------------------------------------------------------------------------


def test_offset_is_the_same_in_every_process_whatever_the_hash_seed() -> None:
    # Given the offset computed here
    here = plugin_offset("system", 60)
    # When another interpreter with a different hash seed computes it
    probe = "from unity_core.scheduling import plugin_offset; print(plugin_offset('system', 60))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    # Then both agree, and with the value every host computes (sha256, not hash())
    assert int(out.stdout) == here == 40


def test_offsets_lie_within_the_interval() -> None:
    # Given plugins on intervals of various lengths
    for interval in (1, 2, 7, 60, 3600, 86400):
        # Then every offset is in [0, interval)
        assert all(0 <= plugin_offset(f"p{i}", interval) < interval for i in range(200))


def test_a_hundred_plugins_sharing_an_interval_spread_over_it() -> None:
    # Given 100 plugins, all every 60 s
    offsets = [plugin_offset(f"plugin-{i}", 60) for i in range(100)]
    per_second = Counter(offsets)
    # Then they fire in many different seconds, never many at once, in every quarter minute
    assert len(per_second) >= 40
    assert max(per_second.values()) <= 6
    assert {offset // 15 for offset in offsets} == {0, 1, 2, 3}
    assert min(Counter(offset // 15 for offset in offsets).values()) >= 15


# -- interval slots -----------------------------------------------------------------------


def test_interval_slots_sit_on_the_epoch_grid_shifted_by_the_offset() -> None:
    # Given a plugin every 60 s with its stable offset
    schedule = IntervalSchedule.for_plugin("system", 60)
    t = utc(2026, 5, 4, 12, 0, 30, 123456)
    # When the slots around t are computed
    latest = latest_slot_at_or_before(schedule, t)
    following = next_slot_after(schedule, t)
    # Then they are whole seconds, offset past a multiple of 60 s, and bracket t
    assert latest is not None
    for slot in (latest, following):
        assert slot.tzinfo is UTC and slot.microsecond == 0
        assert int(slot.timestamp()) % 60 == schedule.offset == 40
    assert latest <= t < following
    assert following - latest == timedelta(seconds=60)


def test_a_slot_exactly_at_t_is_the_latest_but_not_the_next() -> None:
    # Given an instant that is itself a slot
    schedule = IntervalSchedule(10, 3)
    slot = utc(2026, 1, 1, 0, 0, 3)
    # Then it is the latest slot at or before itself, the first at or after, and not "next"
    assert latest_slot_at_or_before(schedule, slot) == slot
    assert first_slot_at_or_after(schedule, slot) == slot
    assert next_slot_after(schedule, slot) == slot + timedelta(seconds=10)


def test_after_downtime_the_latest_slot_is_one_slot_not_every_missed_one() -> None:
    # Given a plugin last dispatched for a slot three hours ago
    schedule = IntervalSchedule.for_plugin("system", 60)
    last = latest_slot_at_or_before(schedule, utc(2026, 5, 4, 9, 0))
    now = utc(2026, 5, 4, 12, 0, 1)
    # When the scheduler asks what is due now
    slot = latest_slot_at_or_before(schedule, now)
    # Then it is the one latest slot, after the last one and within an interval of now
    assert last is not None and slot is not None
    assert last < slot <= now < slot + timedelta(seconds=60)


def test_schedule_for_prefers_cron_then_interval_then_the_default() -> None:
    def build(interval: int | None, cron: str | None) -> object:
        return schedule_for("a", interval=interval, cron=cron, timezone=None, default_interval=60)

    assert build(None, "0 * * * *") == CronSchedule("0 * * * *", "UTC")
    assert build(5, None) == IntervalSchedule.for_plugin("a", 5)
    assert build(None, None) == IntervalSchedule.for_plugin("a", 60)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CronSchedule("61 * * * *"), "bad cron expression"),
        (lambda: CronSchedule("0 * * * *", "Mars/Olympus"), "unknown time zone"),
        (lambda: IntervalSchedule(0), "at least 1 s"),
        (lambda: IntervalSchedule(10, 10), "not in"),
    ],
)
def test_unusable_schedules_are_refused_with_the_reason(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        next_slot_after(IntervalSchedule(60), datetime(2026, 1, 1))


# -- cron and daylight saving time ---------------------------------------------------------
# 2026: Europe/Berlin springs forward on 29 March (02:00 -> 03:00) and falls back on
# 25 October (03:00 -> 02:00); America/New_York on 8 March and 1 November (02:00 -> 01:00).


def test_cron_slots_are_real_utc_instants_in_the_schedules_zone() -> None:
    # Given a job at 09:15 Berlin time
    schedule = CronSchedule("15 9 * * *", "Europe/Berlin")
    # Then a winter slot is 08:15 UTC and a summer one 07:15 UTC
    assert next_slot_after(schedule, utc(2026, 1, 10)) == utc(2026, 1, 10, 8, 15)
    assert next_slot_after(schedule, utc(2026, 7, 10)) == utc(2026, 7, 10, 7, 15)


def test_berlin_spring_forward_runs_a_job_in_the_missing_hour_once_just_after_the_jump() -> None:
    # Given "30 2 * * *", whose 02:30 does not exist on 29 March 2026 in Berlin
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    start, end = local_day(BERLIN, 2026, 3, 29)
    # When the slots of that day are listed
    slots = slots_between(schedule, start, end)
    # Then there is exactly one, at 03:00 CEST (the first minute that exists), not skipped
    assert slots == [utc(2026, 3, 29, 1, 0)]
    assert slots[0].astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    # And the days around it are untouched
    assert next_slot_after(schedule, slots[0]) == utc(2026, 3, 30, 0, 30)


def test_berlin_fall_back_runs_a_job_in_the_doubled_hour_once_at_the_first_occurrence() -> None:
    # Given "30 2 * * *", whose 02:30 happens twice on 25 October 2026 in Berlin
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    start, end = local_day(BERLIN, 2026, 10, 25)
    # Then it fires once, at 02:30 CEST (00:30 UTC), not again at 02:30 CET
    assert slots_between(schedule, start, end) == [utc(2026, 10, 25, 0, 30)]


def test_new_york_spring_forward_and_fall_back_fire_once_a_day() -> None:
    # Given jobs inside the skipped hour (02:30 on 8 March) and the doubled one (01:30 on 1 Nov)
    spring = CronSchedule("30 2 * * *", "America/New_York")
    fall = CronSchedule("30 1 * * *", "America/New_York")
    # Then each of those days has exactly one slot: 03:00 EDT, and 01:30 EDT
    assert slots_between(spring, *local_day(NEW_YORK, 2026, 3, 8)) == [utc(2026, 3, 8, 7, 0)]
    assert slots_between(fall, *local_day(NEW_YORK, 2026, 11, 1)) == [utc(2026, 11, 1, 5, 30)]
    # And a whole year of "30 2 * * *" is one slot per local day, 365 of them
    year = slots_between(spring, utc(2026, 1, 1, 5), utc(2027, 1, 1, 5))
    assert len(year) == len({slot.astimezone(NEW_YORK).date() for slot in year}) == 365


def test_an_hourly_job_follows_real_time_through_both_changes() -> None:
    # Given "30 * * * *" in Berlin
    schedule = CronSchedule("30 * * * *", "Europe/Berlin")
    # Then the 23-hour spring day has 23 slots and the 25-hour autumn day 25, an hour apart
    for day, count in (((2026, 3, 29), 23), ((2026, 10, 25), 25)):
        slots = slots_between(schedule, *local_day(BERLIN, *day))
        assert len(slots) == count
        assert {b - a for a, b in itertools.pairwise(slots)} == {timedelta(hours=1)}


def test_latest_cron_slot_is_right_inside_the_repeated_hour() -> None:
    # Given "30 2 * * *" in Berlin and an instant in the second 02:xx hour of 25 October
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    second_0215 = utc(2026, 10, 25, 1, 15)  # 02:15 CET, after 02:30 CEST
    # Then the latest slot is that morning's 02:30 CEST, though 02:15 < 02:30 on the wall
    assert latest_slot_at_or_before(schedule, second_0215) == utc(2026, 10, 25, 0, 30)
    assert latest_slot_at_or_before(schedule, utc(2026, 10, 25, 0, 29)) == utc(2026, 10, 24, 0, 30)
    # And its length runs to the next day's slot (25 h, the day is long)
    assert slot_length(schedule, utc(2026, 10, 25, 0, 30)) == timedelta(hours=25)


def test_latest_cron_slot_after_the_spring_jump() -> None:
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    # Just before 03:00 CEST the day's slot has not come; at 03:00 it has
    assert latest_slot_at_or_before(schedule, utc(2026, 3, 29, 0, 59)) == utc(2026, 3, 28, 1, 30)
    assert latest_slot_at_or_before(schedule, utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 1, 0)


# -- adaptive backoff and pausing ---------------------------------------------------------


def test_backoff_grows_with_each_failure_and_is_capped_at_ten_intervals() -> None:
    minute = timedelta(seconds=60)
    # When a 60 s plugin keeps failing
    stretched = [backoff_interval(minute, n, 2.0) for n in range(8)]
    # Then its interval doubles per failure up to 10 x 60 s and stays there
    assert [s.total_seconds() for s in stretched] == [60, 120, 240, 480, 600, 600, 600, 600]


def test_backoff_is_capped_at_an_hour_and_never_shortens_or_overflows() -> None:
    # A 10-minute plugin is capped at 1 h, not 100 minutes
    assert backoff_interval(timedelta(minutes=10), 50, 3.0) == timedelta(hours=1)
    # A 2-hour plugin is never stretched, and never shortened to the 1 h cap
    assert backoff_interval(timedelta(hours=2), 5) == timedelta(hours=2)
    # A backoff factor of 1 means no backoff
    assert backoff_interval(timedelta(seconds=30), 9, 1.0) == timedelta(seconds=30)
    # Absurd failure counts stay bounded
    assert backoff_interval(timedelta(seconds=30), 10**9, 10.0) == timedelta(seconds=300)


def test_a_backed_off_plugin_still_runs_on_its_own_grid() -> None:
    # Given a 60 s plugin that failed 3 times, last dispatched at a slot
    schedule = IntervalSchedule.for_plugin("flaky", 60)
    last = latest_slot_at_or_before(schedule, utc(2026, 5, 4, 12))
    assert last is not None
    # When its next run is computed
    after = due_after(schedule, last, consecutive_failures=3, backoff=2.0)
    # Then it is 8 intervals later, itself a slot of the schedule
    assert after - last == timedelta(minutes=8)
    assert latest_slot_at_or_before(schedule, after) == after
    # And without failures it is the next slot
    assert due_after(schedule, last) == last + timedelta(seconds=60)


def test_a_plugin_is_paused_after_pause_after_failures_and_zero_disables_it() -> None:
    assert not should_pause(9, 10)
    assert should_pause(10, 10)
    assert should_pause(11, 10)
    assert not should_pause(1000, 0)
