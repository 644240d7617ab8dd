"""unity.rollup's core: incremental hourly/daily rollups that equal the raw aggregates,
late data recomputed, concurrent runs safe — on every database."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from tests.integration.lifecycle.helpers import (
    DAY,
    HOUR,
    T0,
    assert_rollup_equals_raw,
    samples,
    write,
)
from tests.integration.storage.write_helpers import admin_connection
from unity_core.lifecycle.rollup import RollupReport, run_rollups, watermarks
from unity_core.storage import write_batch
from unity_core.storage.engine import make_sessionmaker
from unity_core.storage.models import PluginMetricHourly, RollupStale

NOW = T0 + 3 * DAY + 5 * HOUR + timedelta(minutes=30)


def test_rollups_equal_the_same_aggregates_computed_from_raw_rows(engine: Engine) -> None:
    # Given three days of irregular samples of three series, some without a number
    write(engine, samples(T0, 3 * 24 * 30, timedelta(minutes=2)))
    # When the rollup job runs
    hourly, daily = run_rollups(engine, now=NOW)
    # Then every closed hour and day is rolled up, and nothing after
    assert hourly.watermark == T0 + 3 * DAY + 5 * HOUR
    assert daily.watermark == T0 + 3 * DAY
    # And each aggregate from the rollups equals the same aggregate bucketed from raw rows
    assert assert_rollup_equals_raw(engine, "hourly", HOUR, T0, T0 + 3 * DAY) > 3 * 72 * 5
    assert assert_rollup_equals_raw(engine, "daily", DAY, T0, T0 + 3 * DAY) == 3 * 3 * 6


def test_a_second_run_without_new_data_does_nothing(engine: Engine) -> None:
    # Given rolled-up data
    write(engine, samples(T0, 500, timedelta(minutes=5)))
    run_rollups(engine, now=NOW)
    # When the job runs again at the same moment
    again = run_rollups(engine, now=NOW)
    # Then no bucket is rolled up or recomputed again
    assert [(r.buckets, r.recomputed) for r in again] == [(0, 0), (0, 0)]


def test_late_samples_recompute_their_closed_buckets(engine: Engine) -> None:
    # Given three days rolled up
    write(engine, samples(T0, 3 * 24 * 12, timedelta(minutes=5)))
    run_rollups(engine, now=NOW)
    # When samples arrive late for an hour of the first day (a replayed dead letter)
    late = samples(
        T0 + 5 * HOUR + timedelta(seconds=17, microseconds=3), 40, timedelta(minutes=3), seed=3
    )
    assert write(engine, late) == 40
    with engine.connect() as conn:
        marked = conn.execute(select(RollupStale.rollup, RollupStale.bucket)).all()
    hourly, daily = run_rollups(engine, now=NOW)
    # Then the trigger marked exactly those hours, and the job recomputed them and their day
    assert {b for _, b in marked} == {T0 + 5 * HOUR, T0 + 6 * HOUR}
    assert (hourly.buckets, hourly.recomputed) == (0, 2)
    assert (daily.buckets, daily.recomputed) == (0, 1)
    # And the rollups still equal the raw aggregates, marks consumed
    assert_rollup_equals_raw(engine, "hourly", HOUR, T0, T0 + 3 * DAY)
    assert_rollup_equals_raw(engine, "daily", DAY, T0, T0 + 3 * DAY)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RollupStale)).scalar() == 0


def test_the_current_hour_waits_until_it_has_closed(engine: Engine) -> None:
    # Given samples up to the middle of the current hour
    write(engine, samples(T0, 30, timedelta(minutes=3)))
    # When the job runs at 01:00:30 (inside the settle time) and again at 01:05
    early = run_rollups(engine, now=T0 + HOUR + timedelta(seconds=30))
    later = run_rollups(engine, now=T0 + HOUR + timedelta(minutes=5))
    # Then the first hour is rolled up only once the settle time has passed
    assert early[0].watermark == T0
    assert later[0].watermark == T0 + HOUR
    assert_rollup_equals_raw(engine, "hourly", HOUR, T0, T0 + HOUR)


def test_two_runs_at_once_roll_every_bucket_exactly_once(engine: Engine) -> None:
    # Given two days of samples not yet rolled up
    write(engine, samples(T0, 2 * 24 * 20, timedelta(minutes=3)))
    reports: list[list[RollupReport]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        try:
            reports.append(run_rollups(engine, now=NOW))
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    # When two runs start at the same moment
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then both succeed, the hours were rolled up once between them, and the result is right
    assert errors == []
    assert sum(r[0].buckets for r in reports) == (NOW - T0) // HOUR
    with engine.connect() as conn:
        assert watermarks(conn)["hourly"] == T0 + 3 * DAY + 5 * HOUR
        rows = conn.execute(select(func.count()).select_from(PluginMetricHourly)).scalar()
    assert rows == 2 * 24 * 3
    assert_rollup_equals_raw(engine, "hourly", HOUR, T0, T0 + 2 * DAY)
    assert_rollup_equals_raw(engine, "daily", DAY, T0, T0 + 2 * DAY)


def test_range_queries_fill_buckets_after_the_watermark_from_raw_rows(engine: Engine) -> None:
    # Given three and a half days of samples, rolled up to 05:00 of the fourth day
    write(engine, samples(T0, 3 * 24 * 20 + 120, timedelta(minutes=3)))
    hourly, daily = run_rollups(engine, now=NOW)
    assert (hourly.watermark, daily.watermark) == (T0 + 3 * DAY + 5 * HOUR, T0 + 3 * DAY)
    # When the hourly and daily resolutions are read past their watermarks
    end = T0 + 4 * DAY
    # Then the newest buckets are there, equal to the raw aggregates, in native and wider
    # buckets (a 3-hour bucket straddling the watermark is computed from raw rows whole)
    points = assert_rollup_equals_raw(engine, "hourly", HOUR, T0, end)
    assert points == 6 * 3 * (3 * 24 + 6)
    assert_rollup_equals_raw(engine, "hourly", HOUR, T0, end, bucket=3 * HOUR)
    assert assert_rollup_equals_raw(engine, "daily", DAY, T0, end) == 6 * 3 * 4
    assert_rollup_equals_raw(engine, "daily", DAY, T0, end, bucket=2 * DAY)


def test_a_rollup_waits_for_a_writer_still_adding_to_a_marked_bucket(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time: no write can overlap a rollup")
    # Given rolled-up data, then a late sample that marked hour 5 of the first day
    write(engine, samples(T0, 3 * 24 * 12, timedelta(minutes=5)))
    run_rollups(engine, now=NOW)
    write(engine, samples(T0 + 5 * HOUR + timedelta(seconds=17), 1, HOUR, seed=1))
    # And a writer that has added one more late sample to that hour but not committed yet
    writer = make_sessionmaker(engine)()
    later = samples(T0 + 5 * HOUR + timedelta(seconds=29, microseconds=5), 1, HOUR, seed=2)
    done: list[list[RollupReport]] = []
    rollup = threading.Thread(target=lambda: done.append(run_rollups(engine, now=NOW)))
    try:
        assert write_batch(writer, later) == 1
        # When the rollup runs meanwhile
        rollup.start()
        # Then it waits on the writer's lock on the mark...
        assert wait_until_anyone_blocked(engine), "the rollup did not wait for the writer"
        assert done == []
    finally:
        # ...and once the writer commits, recomputes the hour with the writer's sample in it
        writer.commit()
        writer.close()
    rollup.join(timeout=60)
    assert done and done[0][0].recomputed == 1
    assert_rollup_equals_raw(engine, "hourly", HOUR, T0, T0 + DAY)
    assert_rollup_equals_raw(engine, "daily", DAY, T0, T0 + DAY)


def wait_until_anyone_blocked(engine: Engine, timeout: float = 30) -> bool:
    """Poll the server until some session of this database waits on a lock.

    There is no event for "another session is blocked on my lock"; the server's own view
    (pg_stat_activity, information_schema.innodb_trx) is polled instead, every 0.2 s.
    """
    if engine.dialect.name == "postgresql":
        probe = text(
            "SELECT count(*) > 0 FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    else:
        probe = text(
            "SELECT count(*) > 0 FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'"
        )
    deadline = time.monotonic() + timeout
    with admin_connection(engine) as conn:
        while time.monotonic() < deadline:
            if conn.execute(probe).scalar():
                return True
            # MariaDB refreshes its INNODB_TRX cache only when it was not read for 0.1 s:
            # polling faster would keep showing the same stale snapshot.
            time.sleep(0.2)
    return False
