"""unity export / import: SQLite → PostgreSQL → MariaDB → SQLite with identical counts and
checksums; importing twice changes nothing; a damaged file names its line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.integration.lifecycle.helpers import DAY, HOUR, T0, add_alert_history, samples, write
from tests.services import _new_database_url
from unity_core.lifecycle import run_rollups
from unity_core.lifecycle.transfer import (
    TABLES,
    ExportFileError,
    ExportFilter,
    export_data,
    import_data,
    table_checksum,
)
from unity_core.storage import register_plugin, upsert_status
from unity_core.storage.engine import make_engine, make_sessionmaker
from unity_core.storage.migrate import upgrade

NOW = T0 + 2 * DAY + 3 * HOUR


def seed(engine: Engine) -> None:
    """Plugins with config, status, an alert with history, samples and their rollups."""
    with make_sessionmaker(engine)() as session:
        register_plugin(session, "system", "System", enabled=True, config={"disks": ["/"]})
        register_plugin(session, "nas-web", "NAS web", plugin="http", config={"url": "http://x"})
        session.commit()
        upsert_status(session, "system", last_success=T0, error_count=2, health_status="ok")
        session.commit()
    add_alert_history(engine, "system", (T0 + i * HOUR for i in range(5)))
    write(engine, samples(T0, 2 * 24 * 20, timedelta(minutes=3)))
    run_rollups(engine, now=NOW)


def fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    return {name: table_checksum(engine, name) for name in TABLES}


@pytest.fixture
def fresh(server_databases: dict[str, object], tmp_path: Path) -> object:
    """A factory of fresh migrated engines per dialect; disposed at the end."""
    engines: list[Engine] = []

    def make(dialect: str) -> Engine:
        url = _new_database_url(dialect, server_databases, tmp_path)  # type: ignore[arg-type]
        upgrade(url)
        engine = make_engine(url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def test_round_trip_sqlite_postgresql_mariadb_sqlite(fresh: object, tmp_path: Path) -> None:
    # Given a SQLite database with every kind of data
    source = fresh("sqlite")  # type: ignore[operator]
    seed(source)
    expected = fingerprint(source)
    assert all(count for count, _ in expected.values())
    # When it is exported and imported along SQLite → PostgreSQL → MariaDB → SQLite,
    # alternating the two formats
    current = source
    for step, (dialect, fmt) in enumerate(
        (("postgresql", "jsonl"), ("mariadb", "json"), ("sqlite", "jsonl"))
    ):
        file = tmp_path / f"step{step}.{fmt}"
        exported = export_data(current, file, fmt, show_progress=False)
        target = fresh(dialect)  # type: ignore[operator]
        imported = import_data(target, file, batch_size=500, show_progress=False)
        # Then each database holds identical rows: counts and checksums of every table
        assert imported.read == {k: v for k, v in exported.counts.items() if v}
        assert fingerprint(target) == expected, dialect
        current = target


def test_importing_the_same_file_twice_changes_nothing(
    engine: Engine, fresh: object, tmp_path: Path
) -> None:
    # Given an export of a populated database (each dialect in turn)
    seed(engine)
    file = tmp_path / "unity.jsonl"
    export_data(engine, file, "jsonl", show_progress=False)
    before = fingerprint(engine)
    # When it is imported back into the same database, twice
    first = import_data(engine, file, batch_size=300, show_progress=False)
    second = import_data(engine, file, batch_size=300, show_progress=False)
    # Then nothing changed, and no sample, series or rollup row was written again
    assert fingerprint(engine) == before
    for name in ("metric_series", "plugin_metrics", "plugin_metrics_hourly", "alert_history"):
        assert first.written.get(name, 0) == 0 == second.written.get(name, 0), name
        assert first.read[name] == second.read[name] > 0


def test_export_filters_by_time_and_plugin(engine: Engine, tmp_path: Path) -> None:
    # Given a populated database
    seed(engine)
    file = tmp_path / "slice.json"
    # When one day of the "system" plugin is exported
    report = export_data(
        engine,
        file,
        "json",
        ExportFilter(start=T0 + DAY, end=T0 + 2 * DAY, plugins=("system",)),
        show_progress=False,
    )
    # Then only that plugin's rows of that day are in the file, and it is valid JSON
    import json

    records = json.loads(file.read_text())
    assert report.counts["plugins"] == 1
    assert report.counts["plugin_metrics"] == 24 * 20
    assert report.counts["plugin_metrics_hourly"] == 24 * 3
    times = [r["row"]["time"] for r in records if r.get("table") == "plugin_metrics"]
    assert min(times) >= (T0 + DAY).isoformat() and max(times) < (T0 + 2 * DAY).isoformat()


@pytest.mark.parametrize("damage", ["bad-json", "cut-mid-line", "cut-at-line-end"])
def test_a_damaged_file_stops_at_its_line_and_keeps_what_came_before(
    engine: Engine, fresh: object, tmp_path: Path, damage: str
) -> None:
    # Given an export whose metrics part is damaged at line N
    seed(engine)
    file = tmp_path / "unity.jsonl"
    export_data(engine, file, "jsonl", show_progress=False)
    lines = file.read_text().splitlines(keepends=True)
    first_metric = next(i for i, line in enumerate(lines) if '"table":"plugin_metrics"' in line)
    broken = first_metric + 700  # a 1-based line number: index broken-1 is the damaged line
    if damage == "bad-json":
        lines[broken - 1] = lines[broken - 1][:40] + "}{oops\n"
    elif damage == "cut-mid-line":
        lines = [*lines[: broken - 1], lines[broken - 1][:25]]
    else:
        lines = lines[: broken - 1]
    file.write_text("".join(lines))
    target = fresh("sqlite")  # type: ignore[operator]
    # When it is imported
    with pytest.raises(ExportFileError) as caught:
        import_data(target, file, batch_size=250, show_progress=False)
    # Then the error names the file and the line
    line = broken if damage != "cut-at-line-end" else broken - 1
    assert f"{file}:{line}:" in str(caught.value)
    if damage == "cut-at-line-end":
        assert "truncated" in str(caught.value)
    # And every row before that line is in the database, with its parents
    imported = table_checksum(target, "plugin_metrics")[0]
    assert imported == broken - 1 - first_metric
    assert table_checksum(target, "metric_series")[0] == 3
    assert table_checksum(target, "plugins")[0] == 2
