"""write_batch(): idempotent, counted, UTC-exact metric writes on all three databases."""

from __future__ import annotations

import math
import threading
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select, text

from unity_core.storage.batch import MetricRow
from unity_core.storage.models import MetricSeries, PluginMetric
from unity_core.storage.partitions import partition_name
from unity_core.storage.write import write_batch

from .write_helpers import (
    T0,
    backend_id,
    count,
    kind,
    open_session,
    sample_rows,
    wait_until_blocked,
)


def test_a_batch_is_stored_and_every_row_counted(engine: Engine) -> None:
    # Given 100 fresh rows
    rows = sample_rows(100)
    # When they are written and committed
    with open_session(engine) as session:
        inserted = write_batch(session, rows)
        session.commit()
    # Then all 100 are stored and reported
    assert inserted == 100
    assert count(engine) == 100


def test_a_redelivered_batch_stores_nothing_and_returns_zero(engine: Engine) -> None:
    # Given a batch already written and committed
    rows = sample_rows(50)
    with open_session(engine) as session:
        write_batch(session, rows)
        session.commit()
    # When the same batch is delivered again
    with open_session(engine) as session:
        again = write_batch(session, rows)
        session.commit()
    # Then nothing new is stored and the call says so
    assert again == 0
    assert count(engine) == 50


def test_duplicates_inside_one_batch_are_stored_once(engine: Engine) -> None:
    # Given a batch in which every row appears three times, once with an equivalent +02:00 time
    rows = sample_rows(20)
    shifted = [
        MetricRow(
            r.time.astimezone(timezone(timedelta(hours=2))),
            r.plugin_id,
            r.metric_name,
            r.value,
            r.numeric_value,
            r.tags,
        )
        for r in rows
    ]
    # When it is written
    with open_session(engine) as session:
        inserted = write_batch(session, rows + shifted + rows)
        session.commit()
    # Then each row is stored and counted once
    assert inserted == 20
    assert count(engine) == 20


def test_a_batch_mixing_new_and_stored_rows_stores_and_counts_only_the_new(engine: Engine) -> None:
    # Given 30 rows already stored
    rows = sample_rows(80)
    with open_session(engine) as session:
        write_batch(session, rows[20:50])
        session.commit()
    # When a batch of 80 rows containing those 30 is written
    with open_session(engine) as session:
        inserted = write_batch(session, rows)
        session.commit()
    # Then only the 50 new rows are stored and counted
    assert inserted == 50
    assert count(engine) == 80


def test_overlapping_batches_in_one_transaction_are_each_counted_exactly(engine: Engine) -> None:
    # Given one transaction that writes three batches, each overlapping the previous
    rows = sample_rows(60)
    with open_session(engine) as session:
        # When the batches are written one after another
        first = write_batch(session, rows[0:30])
        second = write_batch(session, rows[20:50])
        third = write_batch(session, rows[10:60])
        session.commit()
    # Then each call counts only what it added, and the union is stored once
    assert (first, second, third) == (30, 20, 10)
    assert count(engine) == 60


def test_a_redelivery_after_a_rolled_back_redelivery_still_returns_zero(engine: Engine) -> None:
    # Given a stored batch, and a redelivery whose transaction was rolled back
    rows = sample_rows(10)
    with open_session(engine) as session:
        write_batch(session, rows)
        session.commit()
    with open_session(engine) as session:
        assert write_batch(session, rows) == 0
        session.rollback()
        # When the batch is delivered once more on the same connection
        again = write_batch(session, rows + sample_rows(2, start=T0 + timedelta(days=1)))
        session.commit()
    # Then only the two genuinely new rows are added
    assert again == 2
    assert count(engine) == 12


def test_write_batch_never_commits(engine: Engine) -> None:
    # Given rows written in a transaction
    with open_session(engine) as session:
        assert write_batch(session, sample_rows(5)) == 5
        # When the caller rolls back instead of committing
        session.rollback()
    # Then nothing was stored, not even the series
    assert count(engine) == 0
    assert count(engine, "metric_series") == 0


def test_a_time_with_an_offset_reads_back_as_the_same_instant_in_utc(engine: Engine) -> None:
    # Given a sample taken at 14:30 in a +02:00 zone
    local = datetime(2030, 6, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    row = MetricRow(local, "system", "load1", {"value": 0.5}, 0.5, {"host": "nas"})
    with open_session(engine) as session:
        write_batch(session, [row])
        session.commit()
    # When it is read back
    with open_session(engine) as session:
        stored = session.scalars(select(PluginMetric)).one()
    # Then it is the same instant, expressed in UTC, to the microsecond
    assert stored.time == local
    assert stored.time.tzinfo == UTC
    assert stored.time.isoformat() == "2030-06-01T12:30:15.123456+00:00"


def test_json_value_and_tags_round_trip(engine: Engine) -> None:
    # Given a row with a nested JSON value (unicode, list, null, bool) and numeric tags
    value = {"value": 41.5, "unit": "°C", "sensors": [1, 2.5, None], "ok": True, "q": 'a"b\\c\td'}
    row = MetricRow.build(T0, "temps", "cpu_temp", value, tags={"zone": 2, "host": "pi"})
    with open_session(engine) as session:
        write_batch(session, [row])
        session.commit()
    # When the sample and its series are read back
    with open_session(engine) as session:
        stored = session.scalars(select(PluginMetric)).one()
        catalog = session.scalars(select(MetricSeries)).one()
    # Then value and tags are equal to what was written, tags canonicalised to strings
    assert stored.value == value
    assert stored.numeric_value is None
    assert stored.tags == {"host": "pi", "zone": "2"}
    assert catalog.tags == {"host": "pi", "zone": "2"}
    assert stored.series_key == catalog.series_key == row.series_key


def test_a_row_without_a_numeric_value_is_stored_with_null(engine: Engine) -> None:
    # Given a textual sample with no numeric value
    row = MetricRow(T0, "ups", "status", {"value": "on battery"}, None, None)
    # When it is written
    with open_session(engine) as session:
        inserted = write_batch(session, [row])
        session.commit()
    # Then it is stored with a NULL numeric value and no tags
    with open_session(engine) as session:
        stored = session.scalars(select(PluginMetric)).one()
    assert inserted == 1
    assert stored.numeric_value is None
    assert stored.tags is None


def test_the_series_catalog_gets_one_row_per_series(engine: Engine) -> None:
    # Given two batches over the same 4 series, plus one more series in the second
    first = sample_rows(40, series=4)
    second = sample_rows(40, series=4, start=T0 + timedelta(hours=1))
    extra = MetricRow(T0, "system", "cpu_percent", {"value": 1.0}, 1.0, {"host": "pi"})
    # When both are written
    with open_session(engine) as session:
        write_batch(session, first)
        write_batch(session, [*second, extra])
        session.commit()
    # Then the catalog holds exactly the 5 distinct series
    with open_session(engine) as session:
        catalog = session.scalars(select(MetricSeries).order_by(MetricSeries.series_key)).all()
    assert len(catalog) == 5
    assert {s.series_key for s in catalog} == {r.series_key for r in [*first, extra]}
    assert all(s.plugin_id == "system" and s.metric_name == "cpu_percent" for s in catalog)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_numeric_value_is_refused_before_anything_is_written(
    engine: Engine, bad: float
) -> None:
    # Given a batch whose last row carries a non-finite number
    rows = [*sample_rows(3), MetricRow(T0, "system", "load1", {"value": 1}, bad, None)]
    # When it is written
    with open_session(engine) as session, pytest.raises(ValueError, match="system/load1") as raised:
        write_batch(session, rows)
    # Then the error names the plugin and metric, and nothing was stored
    assert "finite" in str(raised.value)
    assert count(engine) == 0


def test_a_naive_time_is_refused(engine: Engine) -> None:
    # Given a row whose time has no zone
    row = MetricRow(datetime(2030, 6, 1, 12, 0), "system", "load1", {"value": 1}, 1.0, None)
    # When it is written, Then it is refused naming plugin and metric, and nothing is stored
    with open_session(engine) as session, pytest.raises(ValueError, match="system/load1: time"):
        write_batch(session, [row])
    assert count(engine) == 0


def test_a_value_that_is_not_json_is_refused_and_leaves_the_transaction_usable(
    engine: Engine,
) -> None:
    # Given a batch whose last row holds a NaN inside its JSON value (no database accepts it)
    bad = [*sample_rows(3), MetricRow(T0, "disk", "smart", {"value": math.nan}, None, None)]
    with open_session(engine) as session:
        # When it is written, Then a ValueError names the row
        with pytest.raises(ValueError, match="disk/smart: value"):
            write_batch(session, bad)
        # And the same transaction can still write and commit a good batch
        good = sample_rows(2, start=T0 + timedelta(days=1), plugin_id="ups")
        assert write_batch(session, good) == 2
        session.commit()
    # Then only the good batch and its series were stored
    assert count(engine) == 2
    assert count(engine, "metric_series") == 2


def test_5000_rows_over_3_days_land_in_partitions_created_on_the_fly(engine: Engine) -> None:
    # Given 5,000 rows spread over three UTC days no partition exists for yet
    start = datetime(2031, 3, 1, tzinfo=UTC)
    rows = sample_rows(5000, start=start, series=10, step=timedelta(minutes=6))
    days = {r.time.date() for r in rows}
    assert days == {date(2031, 3, 1), date(2031, 3, 2), date(2031, 3, 3)}
    if kind(engine) == "postgresql":
        assert not _partitions_of(engine) & {partition_name(d) for d in days}
    # When they are written as one batch
    with open_session(engine) as session:
        inserted = write_batch(session, rows)
        session.commit()
    # Then all are stored; on PostgreSQL each day's rows sit in that day's new partition
    assert inserted == 5000
    assert count(engine) == 5000
    if kind(engine) == "postgresql":
        with engine.connect() as conn:
            placed: dict[str, int] = dict(
                conn.execute(
                    text("SELECT tableoid::regclass::text, count(*) FROM plugin_metrics GROUP BY 1")
                ).all()
            )
        per_day = {partition_name(d): sum(1 for r in rows if r.time.date() == d) for d in days}
        assert placed == per_day


def test_a_day_whose_partition_was_dropped_is_written_again(engine: Engine) -> None:
    # Given a stored day whose storage was then removed (PostgreSQL: its partition dropped
    # by retention after this process cached it as existing; elsewhere: its rows deleted)
    rows = sample_rows(8, start=datetime(2031, 5, 5, tzinfo=UTC))
    with open_session(engine) as session:
        write_batch(session, rows)
        session.commit()
    with engine.begin() as conn:
        if kind(engine) == "postgresql":
            conn.execute(text(f"DROP TABLE {partition_name(date(2031, 5, 5))}"))
        else:
            conn.execute(text("DELETE FROM plugin_metrics"))
    # When the same rows are written again
    with open_session(engine) as session:
        inserted = write_batch(session, rows)
        session.commit()
    # Then they are stored again (the partition is recreated), not rejected
    assert inserted == 8
    assert count(engine) == 8


def test_an_empty_batch_writes_nothing(engine: Engine) -> None:
    # Given no rows, When they are written, Then nothing happens and 0 is returned
    with open_session(engine) as session:
        assert write_batch(session, []) == 0
        session.commit()
    assert count(engine, "metric_series") == 0


def _partitions_of(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        names = conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'plugin_metrics'::regclass"
            )
        ).scalars()
        return set(names)


def test_a_bare_number_becomes_the_value_and_the_numeric_value(engine: Engine) -> None:
    # Given a row built from a plugin's bare number
    row = MetricRow.build(T0, "system", "uptime_s", 86400, tags={"host": "nas"})
    # When it is written and read back
    with open_session(engine) as session:
        write_batch(session, [row])
        session.commit()
    with open_session(engine) as session:
        stored = session.scalars(select(PluginMetric)).one()
    # Then the JSON value wraps it and the numeric column holds it as a float
    assert stored.value == {"value": 86400}
    assert stored.numeric_value == 86400.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("first_writer", ["commits", "rolls back"])
def test_two_writers_racing_with_the_same_batch_store_it_once(
    engine: Engine, first_writer: str
) -> None:
    # Given a first writer that has written a batch but not yet ended its transaction
    rows = sample_rows(300)
    results: list[int] = []
    with open_session(engine) as first:
        assert write_batch(first, rows) == 300
        second = open_session(engine)
        target = None if kind(engine) == "sqlite" else backend_id(second)

        def redeliver() -> None:
            with second:
                results.append(write_batch(second, rows))
                second.commit()

        # When a second writer delivers the same batch and waits for the first
        racer = threading.Thread(target=redeliver)
        racer.start()
        # (SQLite queues the second writer at BEGIN IMMEDIATE, invisible from outside)
        blocked = target is None or wait_until_blocked(engine, target)
        if first_writer == "commits":
            first.commit()
        else:
            first.rollback()
        racer.join()
    # Then the batch is stored once, and the two counts add up to it exactly
    assert blocked
    expected_second = 0 if first_writer == "commits" else 300
    assert results == [expected_second]
    assert count(engine) == 300
