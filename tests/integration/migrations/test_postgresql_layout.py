"""PostgreSQL layouts: native daily partitions (run live) and TimescaleDB (SQL inspected)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from tests.services import _ServerDatabases
from unity_core.config.settings import RetentionSettings, TimeseriesSettings
from unity_core.storage import migrate, partitions, timescale
from unity_core.storage.engine import make_engine


@pytest.fixture
def pg(server_databases: dict[str, _ServerDatabases]) -> Iterator[Engine]:
    url = server_databases["postgresql"].new_database()
    migrate.upgrade(url, options=migrate.MigrationOptions(partitions_ahead_days=2))
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_without_timescaledb_plugin_metrics_is_partitioned_by_day_with_partitions_ahead(
    pg: Engine,
) -> None:
    # Given a PostgreSQL server without the TimescaleDB extension, migrated to head
    today = datetime.now(UTC).date()
    with pg.connect() as conn:
        # Then plugin_metrics is a range-partitioned table
        assert partitions.is_partitioned(conn)
        # And partitions exist from yesterday to two days ahead
        wanted = {today + timedelta(days=n) for n in range(-1, 3)}
        assert wanted <= partitions.existing_days(conn)
        # And a BRIN time index is there, and the design's GIN index on tags serves tag
        # filters from the series catalog
        indexes = set(
            conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes "
                    "WHERE tablename IN ('plugin_metrics', 'metric_series')"
                )
            ).scalars()
        )
        gin = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_metric_series_tags'")
        ).scalar()
    assert {"ix_metric_series_tags", "ix_plugin_metrics_time_brin", "pk_plugin_metrics"} <= indexes
    assert gin is not None and "USING gin (tags)" in gin


def test_ensure_partitions_creates_missing_days_once_under_concurrency(pg: Engine) -> None:
    # Given a day far in the past that has no partition
    day = date(2020, 2, 29)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            with pg.begin() as conn:
                results.append(partitions.ensure_partitions(conn, [day]))
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    # When four writers ask for it at the same time
    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then none fails and exactly one created it
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    with pg.begin() as conn:
        assert day in partitions.existing_days(conn)
        # And a row for that day can be stored
        conn.execute(
            text(
                "INSERT INTO plugin_metrics (time, series_key, plugin_id, metric_name, value) "
                "VALUES ('2020-02-29 23:59:59+00', 'k', 'p', 'm', '{}')"
            )
        )


def test_drop_before_removes_whole_expired_partitions_only(pg: Engine) -> None:
    # Given partitions for three old days
    old = [date(2021, 1, 1), date(2021, 1, 2), date(2021, 1, 3)]
    with pg.begin() as conn:
        partitions.ensure_partitions(conn, old)
        # When retention drops everything that ends on or before 2021-01-03 00:00
        dropped = partitions.drop_before(conn, date(2021, 1, 3))
        remaining = partitions.existing_days(conn)
    # Then the first two days are gone and the third stays
    assert dropped == ["plugin_metrics_p20210101", "plugin_metrics_p20210102"]
    assert date(2021, 1, 3) in remaining
    assert not {date(2021, 1, 1), date(2021, 1, 2)} & remaining


def test_timescaledb_path_sends_hypertables_compression_retention_and_aggregates() -> None:
    # Given retention and compression settings that differ from the defaults
    options = migrate.MigrationOptions(
        timeseries=TimeseriesSettings(compress_after=timedelta(days=2)),
        retention=RetentionSettings(
            raw_metrics=timedelta(days=14), alert_history=timedelta(days=60)
        ),
        force_timescaledb=True,
    )
    # When the migration is rendered as the SQL a TimescaleDB server would receive
    sql = migrate.offline_sql("postgresql+psycopg://", options=options)
    # Then it creates the extension and both hypertables on the time column
    assert "CREATE EXTENSION IF NOT EXISTS timescaledb" in sql
    assert "create_hypertable('plugin_metrics', 'time'" in sql
    assert "create_hypertable('alert_history', 'time'" in sql
    # And the unique keys include the time column, as hypertables require
    assert "CONSTRAINT pk_plugin_metrics PRIMARY KEY (series_key, time)" in sql
    assert "CONSTRAINT pk_alert_history PRIMARY KEY (id, time)" in sql
    # And it is not natively partitioned
    assert "PARTITION BY" not in sql
    # And compression and retention follow the configuration
    assert "add_compression_policy('plugin_metrics', INTERVAL '172800 seconds'" in sql
    assert "add_retention_policy('plugin_metrics', INTERVAL '1209600 seconds'" in sql
    assert "add_retention_policy('alert_history', INTERVAL '5184000 seconds'" in sql
    # And the rollups are continuous aggregates with refresh policies, not tables
    for view in ("plugin_metrics_hourly", "plugin_metrics_daily"):
        assert f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} WITH (timescaledb.continuous)" in sql
        assert f"add_continuous_aggregate_policy('{view}'" in sql
        assert f"CREATE TABLE {view}" not in sql


def test_native_path_renders_partitioned_table_and_rollup_tables() -> None:
    # When the default PostgreSQL path is rendered offline
    sql = migrate.offline_sql("postgresql+psycopg://")
    # Then plugin_metrics is partitioned by time and the rollups are plain tables
    assert "PARTITION BY RANGE (time)" in sql
    assert "CREATE TABLE plugin_metrics_hourly" in sql
    assert "timescaledb" not in sql


def test_timescaledb_is_detected_from_available_extensions(pg: Engine) -> None:
    # Given this machine's PostgreSQL, which cannot install TimescaleDB
    with pg.connect() as conn:
        listed = conn.execute(
            text("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
        ).scalar()
        # Then detection agrees with the catalog
        assert timescale.is_available(conn) is bool(listed)
