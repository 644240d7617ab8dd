"""Lifecycle bench on PostgreSQL: rollup rows/s, 30-day range query raw vs hourly, export/import.

Usage: .venv/bin/python bench/lifecycle.py [ROWS]   (or UNITY_BENCH_ROWS; default 10,000,000)

Server: UNITY_DATABASE_URL's (default postgresql+psycopg://postgres@127.0.0.1:5432/). The
bench creates the throwaway databases `unity_bench_lifecycle` and
`unity_bench_lifecycle_import`, migrates them (native partitions), and drops them at the
end. ROWS raw samples over 500 series and 31 days are generated in SQL (generate_series,
one INSERT per day, the late-sample trigger active as for any write). Then:

- rollup: `run_rollups` from an empty watermark (hourly from raw, then daily from hourly),
  rows/s = raw rows / seconds; ceiling: one sequential `count(*), sum(numeric_value)`
  pass over the same rows in the same run (the cheapest full read the rollup can't beat);
- range query: `range_query` of one series over 30 days, hourly points, from raw samples
  (resolution=raw, bucket=1h) and from the hourly rollup (resolution=hourly), 30 runs
  each after a warm-up round, alternated, p50 and p95 reported (after ANALYZE of the
  fresh rollup tables, as autovacuum would do);
- export/import: `export_data` (jsonl) of one day of all series, then `import_data` of
  that file into the second database, rows/s; peer for export: `COPY (SELECT …) TO
  STDOUT` of the same rows.

Prints figures and ends with one JSON line; asserts nothing about timings.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from unity_core.lifecycle import run_rollups
from unity_core.lifecycle.transfer import ExportFilter, export_data, import_data
from unity_core.storage import range_query
from unity_core.storage.engine import make_engine, make_sessionmaker
from unity_core.storage.migrate import upgrade
from unity_core.storage.partitions import ensure_partitions

SERIES = 500
DAYS = 31
START = datetime(2026, 9, 1, tzinfo=UTC)
NAME = "unity_bench_lifecycle"
QUERY_RUNS = 50


def server_url() -> str:
    url = make_url(
        os.environ.get("UNITY_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
    )
    return url.set(database="postgres").render_as_string(hide_password=False)


def recreate(admin: Engine, name: str) -> str:
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(server_url()).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def generate(engine: Engine, rows: int) -> tuple[int, float]:
    """ROWS samples of SERIES series spread evenly over DAYS days, one INSERT per day."""
    step = DAYS * 86400 * SERIES / rows  # seconds between samples of one series
    days = [START.date() + timedelta(days=d) for d in range(DAYS)]
    started = time.perf_counter()
    with engine.begin() as conn:
        ensure_partitions(conn, days)
        conn.execute(
            text(
                "INSERT INTO metric_series (series_key, plugin_id, metric_name, tags, created_at) "
                "SELECT substr(md5('s' || i), 1, 32), 'bench', 'cpu_percent', "
                "jsonb_build_object('host', 'h' || i), now() FROM generate_series(1, :n) i"
            ),
            {"n": SERIES},
        )
    per_day = int(86400 / step)
    for d in range(len(days)):
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO plugin_metrics (time, series_key, plugin_id, metric_name, value, "
                    "numeric_value, tags) "
                    "SELECT t, substr(md5('s' || i), 1, 32), 'bench', 'cpu_percent', "
                    "jsonb_build_object('value', v), v, jsonb_build_object('host', 'h' || i) "
                    "FROM generate_series(0, :per_day - 1) k, generate_series(1, :n) i, "
                    "LATERAL (SELECT :day + make_interval(secs => k * :step) AS t, "
                    "round((50 + 40 * sin(k * 0.01 + i))::numeric, 3)::float8 AS v) x"
                ),
                {"per_day": per_day, "n": SERIES, "day": START + timedelta(days=d), "step": step},
            )
    seconds = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        total = int(conn.execute(text("SELECT count(*) FROM plugin_metrics")).scalar_one())
    return total, seconds


def full_scan(engine: Engine) -> float:
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*), sum(numeric_value) FROM plugin_metrics")).one()
    return time.perf_counter() - started


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def range_queries(engine: Engine) -> dict[str, tuple[float, float]]:
    end = START + timedelta(days=DAYS - 1)
    window = {"start": end - timedelta(days=30), "end": end}
    timings: dict[str, list[float]] = {"raw": [], "hourly": []}
    points: dict[str, int] = {}
    sessions = make_sessionmaker(engine)
    for run in range(QUERY_RUNS + 1):  # the first round warms caches and is not counted
        order = ("raw", "hourly") if run % 2 == 0 else ("hourly", "raw")
        for how in order:
            extra: dict[str, Any] = {"resolution": how}
            if how == "raw":
                extra["bucket"] = timedelta(hours=1)
            with sessions() as session:
                started = time.perf_counter()
                result = range_query(
                    session,
                    plugin_id="bench",
                    metric_name="cpu_percent",
                    tags={"host": "h7"},
                    **window,
                    **extra,
                )
                if run:
                    timings[how].append(time.perf_counter() - started)
            points[how] = result.point_count
    assert points["raw"] == points["hourly"] > 0, points
    return {
        how: (statistics.median(values) * 1000, p95(values) * 1000)
        for how, values in timings.items()
    }


def copy_out(url: str, start: datetime, end: datetime) -> tuple[int, float]:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    started = time.perf_counter()
    count = 0
    with psycopg.connect(plain) as conn, conn.cursor() as cursor:
        with cursor.copy(
            "COPY (SELECT * FROM plugin_metrics WHERE time >= %s AND time < %s) TO STDOUT",
            (start, end),
        ) as copy:
            for block in copy:
                count += bytes(block).count(b"\n")
    return count, time.perf_counter() - started


def main() -> None:
    rows = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("UNITY_BENCH_ROWS", 10_000_000))
    admin = create_engine(server_url(), isolation_level="AUTOCOMMIT")
    url = recreate(admin, NAME)
    target_url = recreate(admin, NAME + "_import")
    engine = make_engine(url)
    target = make_engine(target_url)
    figures: dict[str, Any] = {"bench": "lifecycle", "database": "postgresql (native partitions)"}
    try:
        total, generated_s = generate(engine, rows)
        figures["raw_rows"] = total
        figures["generate_rows_per_s"] = round(total / generated_s)
        print(
            f"generated {total:,} raw rows over {SERIES} series, {DAYS} days in {generated_s:.1f} s"
        )

        scan_s = full_scan(engine)
        now = START + timedelta(days=DAYS, hours=1)
        started = time.perf_counter()
        reports = run_rollups(engine, now=now)
        rollup_s = time.perf_counter() - started
        figures["rollup_rows_per_s"] = round(total / rollup_s)
        figures["rollup_seconds"] = round(rollup_s, 1)
        figures["ceiling_full_scan_rows_per_s"] = round(total / scan_s)
        for report in reports:
            print("  " + report.describe())
        print(
            f"rollup: {total / rollup_s:,.0f} raw rows/s ({rollup_s:.1f} s); "
            f"ceiling (one full count/sum scan): {total / scan_s:,.0f} rows/s"
        )

        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # What autovacuum does within a minute of the catch-up; the planner needs it.
            conn.execute(text("ANALYZE plugin_metrics_hourly, plugin_metrics_daily"))
        query = range_queries(engine)
        for how in ("raw", "hourly"):
            figures[f"range_30d_{how}_p50_ms"] = round(query[how][0], 1)
            figures[f"range_30d_{how}_p95_ms"] = round(query[how][1], 1)
        print(
            f"30-day range query via range_query(), one series, 720 hourly points, "
            f"{QUERY_RUNS} runs: raw p50 {query['raw'][0]:.1f} ms / p95 {query['raw'][1]:.1f} ms; "
            f"hourly rollup p50 {query['hourly'][0]:.1f} ms / p95 {query['hourly'][1]:.1f} ms"
        )

        day = START + timedelta(days=10)
        with tempfile.TemporaryDirectory() as folder:
            file = Path(folder) / "day.jsonl"
            started = time.perf_counter()
            exported = export_data(
                engine,
                file,
                "jsonl",
                ExportFilter(start=day, end=day + timedelta(days=1)),
                show_progress=False,
            )
            export_s = time.perf_counter() - started
            started = time.perf_counter()
            imported = import_data(target, file, show_progress=False)
            import_s = time.perf_counter() - started
            size = file.stat().st_size
        copied, copy_s = copy_out(url, day, day + timedelta(days=1))
        moved = exported.rows
        figures.update(
            export_rows=moved,
            export_rows_per_s=round(moved / export_s),
            export_peer_copy_rows_per_s=round(copied / copy_s),
            import_rows_per_s=round(sum(imported.read.values()) / import_s),
            export_file_mb=round(size / 1e6, 1),
        )
        loaded = sum(imported.read.values())
        print(
            f"export: {moved:,} rows ({size / 1e6:.1f} MB jsonl) at {moved / export_s:,.0f} "
            f"rows/s; peer COPY TO STDOUT of the samples: {copied / copy_s:,.0f} rows/s"
        )
        print(f"import: {loaded:,} rows at {loaded / import_s:,.0f} rows/s")
    finally:
        engine.dispose()
        target.dispose()
        with admin.connect() as conn:
            for name in (NAME, NAME + "_import"):
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
