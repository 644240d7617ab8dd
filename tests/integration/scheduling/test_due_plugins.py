"""What is due when: plan_schedule / due_plugins / mark_dispatched on all three databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update

from unity_core.config.settings import CollectionSettings
from unity_core.scheduling import IntervalSchedule, latest_slot_at_or_before
from unity_core.storage.engine import make_sessionmaker
from unity_core.storage.models import Plugin, PluginStatus, ScheduleState
from unity_core.storage.schedule import due_plugins, mark_dispatched, plan_schedule

NOW = datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)
COLLECTION = CollectionSettings(default_interval=60, retry_backoff=2.0)


def add_plugin(engine: Engine, plugin_id: str, **columns: Any) -> None:
    columns.setdefault("enabled", True)
    with make_sessionmaker(engine)() as session:
        session.add(Plugin(plugin_id=plugin_id, plugin="system", name=plugin_id, **columns))
        session.commit()


def change(engine: Engine, plugin_id: str, **columns: Any) -> None:
    """What `unity plugins enable/disable/set` does to the row, in its own transaction."""
    with make_sessionmaker(engine)() as session:
        session.execute(update(Plugin).where(Plugin.plugin_id == plugin_id).values(**columns))
        session.commit()


def set_status(engine: Engine, plugin_id: str, failures: int, health: str) -> None:
    with make_sessionmaker(engine)() as session:
        session.merge(
            PluginStatus(plugin_id=plugin_id, consecutive_failures=failures, health_status=health)
        )
        session.commit()


def due_at(engine: Engine, at: datetime) -> dict[str, datetime]:
    """plugin_id -> slot due at `at`, read in a fresh transaction as each beat tick does."""
    with make_sessionmaker(engine)() as session:
        return {entry.plugin_id: entry.slot for entry in due_plugins(session, at, COLLECTION)}


def dispatch_all(engine: Engine, at: datetime) -> dict[str, datetime]:
    """What a beat tick does: read what is due, record each as dispatched, commit."""
    with make_sessionmaker(engine)() as session:
        entries = due_plugins(session, at, COLLECTION)
        for entry in entries:
            mark_dispatched(session, entry.plugin_id, entry.slot, entry.next_due)
        session.commit()
    return {entry.plugin_id: entry.slot for entry in entries}


def slot_of(plugin_id: str, interval: int, at: datetime) -> datetime:
    slot = latest_slot_at_or_before(IntervalSchedule.for_plugin(plugin_id, interval), at)
    assert slot is not None
    return slot


def test_an_enabled_plugin_never_run_is_due_for_its_latest_slot(engine: Engine) -> None:
    # Given an enabled plugin every 30 s and a disabled one
    add_plugin(engine, "system", interval_seconds=30)
    add_plugin(engine, "docker", enabled=False, interval_seconds=30)
    # Then only the enabled one is due, for the latest slot of its own grid
    assert due_at(engine, NOW) == {"system": slot_of("system", 30, NOW)}


def test_enabling_and_disabling_are_seen_at_the_next_read(engine: Engine) -> None:
    # Given a disabled plugin
    add_plugin(engine, "ups", enabled=False, interval_seconds=60)
    assert due_at(engine, NOW) == {}
    # When it is enabled (another process, committed)
    change(engine, "ups", enabled=True)
    # Then the next read has it due
    assert due_at(engine, NOW) == {"ups": slot_of("ups", 60, NOW)}
    # And when it is disabled again, the next read no longer does
    change(engine, "ups", enabled=False)
    assert due_at(engine, NOW) == {}


def test_retiming_a_plugin_takes_effect_at_the_next_read(engine: Engine) -> None:
    # Given an hourly plugin that has just run its slot
    add_plugin(engine, "nas", interval_seconds=3600)
    assert dispatch_all(engine, NOW) == {"nas": slot_of("nas", 3600, NOW)}
    soon = NOW + timedelta(seconds=15)
    assert due_at(engine, soon) == {}
    # When it is retimed to every 10 s
    change(engine, "nas", interval_seconds=10)
    # Then it is due at once on its new grid, not an hour later
    assert due_at(engine, soon) == {"nas": slot_of("nas", 10, soon)}
    # And retimed to a cron schedule, it follows the cron
    change(engine, "nas", interval_seconds=None, cron="*/5 * * * *", timezone="Europe/Berlin")
    assert due_at(engine, soon) == {"nas": datetime(2026, 6, 1, 12, 0, tzinfo=UTC)}


def test_after_downtime_a_plugin_runs_once_for_the_latest_slot(engine: Engine) -> None:
    # Given a 60 s plugin last dispatched three hours ago (180 slots missed since)
    add_plugin(engine, "system", interval_seconds=60)
    dispatch_all(engine, NOW - timedelta(hours=3))
    # When beat comes back
    first = dispatch_all(engine, NOW)
    # Then it dispatches the latest slot once, and nothing more until the next slot
    assert first == {"system": slot_of("system", 60, NOW)}
    assert dispatch_all(engine, NOW + timedelta(seconds=1)) == {}
    following = first["system"] + timedelta(seconds=60)
    assert dispatch_all(engine, following) == {"system": following}


def test_a_dispatched_slot_is_not_due_again_for_any_beat(engine: Engine) -> None:
    # Given one beat recorded the slot as dispatched
    add_plugin(engine, "system", interval_seconds=60)
    dispatch_all(engine, NOW)
    # When another beat (new session, same instant or a moment later) reads the schedule
    # Then nothing is due
    assert due_at(engine, NOW) == {}
    assert due_at(engine, NOW + timedelta(seconds=2)) == {}


def test_paused_plugins_are_not_due(engine: Engine) -> None:
    # Given a paused plugin and a failing one
    add_plugin(engine, "flaky", interval_seconds=60)
    add_plugin(engine, "broken", interval_seconds=60)
    set_status(engine, "flaky", failures=1, health="failing")
    set_status(engine, "broken", failures=10, health="paused")
    # Then only the failing one is due
    assert set(due_at(engine, NOW)) == {"flaky"}
    # And once re-enabled (status no longer paused) the paused one is due again
    set_status(engine, "broken", failures=0, health="ok")
    assert set(due_at(engine, NOW)) == {"flaky", "broken"}


def test_a_failing_plugin_backs_off_on_its_grid(engine: Engine) -> None:
    # Given a 60 s plugin with 2 consecutive failures, just dispatched
    add_plugin(engine, "flaky", interval_seconds=60)
    set_status(engine, "flaky", failures=2, health="failing")
    slot = dispatch_all(engine, NOW)["flaky"]
    # Then it is not due at the next three slots, but at the fourth (60 s x 2^2)
    for k in (1, 2, 3):
        assert due_at(engine, slot + timedelta(seconds=60 * k)) == {}
    assert due_at(engine, slot + timedelta(seconds=240)) == {"flaky": slot + timedelta(minutes=4)}
    # And the recorded next_due says so
    with make_sessionmaker(engine)() as session:
        state = session.get(ScheduleState, "flaky")
        assert state is not None and state.next_due == slot + timedelta(minutes=4)


def test_mark_dispatched_keeps_one_state_row_per_plugin(engine: Engine) -> None:
    # Given a plugin marked dispatched twice
    add_plugin(engine, "system", interval_seconds=60)
    first, second = NOW - timedelta(minutes=1), NOW
    with make_sessionmaker(engine)() as session:
        mark_dispatched(session, "system", first, second)
        mark_dispatched(session, "system", second, second + timedelta(minutes=1))
        # and once for a plugin that was deleted meanwhile (no error, no row)
        mark_dispatched(session, "gone", second, second)
        session.commit()
    # Then one row holds the latest values
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(ScheduleState)) == 1
        state = session.get(ScheduleState, "system")
        assert state is not None
        assert (state.last_slot, state.next_due) == (second, second + timedelta(minutes=1))


def test_a_plugin_with_unusable_timing_is_reported_and_the_rest_still_run(engine: Engine) -> None:
    # Given one plugin whose cron expression is invalid and one that is fine
    add_plugin(engine, "odd", cron="61 * * * *")
    add_plugin(engine, "system")  # no interval: the collection default (60 s)
    # When the schedule is planned
    with make_sessionmaker(engine)() as session:
        plan = plan_schedule(session, NOW, COLLECTION)
    # Then the bad one is named with the reason, and the other is due on the default interval
    assert list(plan.invalid) == ["odd"] and "bad cron expression" in plan.invalid["odd"]
    assert [entry.plugin_id for entry in plan.due] == ["system"]
    assert plan.due[0].slot == slot_of("system", 60, NOW)


def test_the_plan_says_when_to_wake_up_and_when_each_slot_expires(engine: Engine) -> None:
    # Given two plugins just dispatched, every 10 s and every 60 s
    add_plugin(engine, "fast", interval_seconds=10)
    add_plugin(engine, "slow", interval_seconds=60)
    with make_sessionmaker(engine)() as session:
        plan = plan_schedule(session, NOW, COLLECTION)
        for entry in plan.due:
            # Then each slot expires when the next one starts
            interval = {"fast": 10, "slow": 60}[entry.plugin_id]
            assert entry.expires == entry.slot + timedelta(seconds=interval)
            mark_dispatched(session, entry.plugin_id, entry.slot, entry.next_due)
        session.commit()
        # And the next wake-up is the earliest next slot of the two
        later = plan_schedule(session, NOW, COLLECTION)
    assert later.due == []
    assert later.next_wakeup == min(
        slot_of("fast", 10, NOW) + timedelta(seconds=10),
        slot_of("slow", 60, NOW) + timedelta(seconds=60),
    )
