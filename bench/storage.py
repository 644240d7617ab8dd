"""Write-path benchmark: write_batch() rows/s against raw psycopg COPY into an identical table.

Usage: .venv/bin/python bench/storage.py [N]      (or UNITY_BENCH_ROWS=N; default 200,000)

PostgreSQL: the server of UNITY_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/).
The bench never touches the database named there: it creates `unity_bench_<hex>` on that
server, migrates it with unity_core.storage.migrate.upgrade, and drops it at the end. It
writes N rows in batches of 1,000 (one transaction each) three ways, alternating the
order per round to cancel drift, three rounds, medians reported:

- storage: `write_batch` through a Session (the shipped, optimistic COPY strategy);
- ceiling: raw psycopg COPY into `bench_ceiling`, a copy of plugin_metrics with the same
  columns, indexes and partitioning, and no conflict handling;
- staged: the writer's COPY-into-staging strategy, for the writer's docstring.

Every timed region includes the Python-side JSON serialisation; rows are built before
the clock starts. Then, with the table full, the same rows are written again (a full
redelivery) with each strategy. MariaDB (UNITY_BENCH_MARIADB_URL, default
mysql+pymysql://root@127.0.0.1:3306/) and SQLite (a temp file) get the storage figure when
reachable. Prints figures and ends with one JSON line; it asserts no timings.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from unity_core.storage.batch import MetricRow, distinct_series, prepare
from unity_core.storage.engine import make_engine, make_sessionmaker, translate_errors
from unity_core.storage.migrate import upgrade
from unity_core.storage.write import write_batch
from unity_core.storage.writers import postgresql as pg_writer

BATCH = 1000
ROUNDS = 3
COLUMNS = "time, series_key, plugin_id, metric_name, value, numeric_value, tags, worker_host"
UNITS = ("percent", "bytes", "celsius", "seconds", "count")


def make_rows(n: int) -> list[MetricRow]:
    """N samples over 1,000 series (20 plugins x 10 metrics x 5 tag sets of 2-4 tags),
    one collection round every 10 s, ending about now so today's partitions serve them."""
    rng = random.Random(42)
    series = []
    for p in range(20):
        for m in range(10):
            for t in range(5):
                tags = {"host": f"host{t}", "instance": f"i{p}-{t}"}
                if (p + m + t) % 3 >= 1:
                    tags["core"] = str(t)
                if (p + m + t) % 3 == 2:
                    tags["site"] = "home"
                series.append((f"plugin{p:02d}", f"metric_{m}", UNITS[m % 5], tags))
    rounds = -(-n // len(series))
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(seconds=10 * rounds)
    rows = []
    for i in range(n):
        plugin_id, metric, unit, tags = series[i % len(series)]
        v = round(rng.uniform(0, 100), 3)
        at = start + timedelta(seconds=10 * (i // len(series)))
        rows.append(MetricRow(at, plugin_id, metric, {"value": v, "unit": unit}, v, tags))
    return rows


def batches(rows: Sequence[MetricRow]) -> Iterator[Sequence[MetricRow]]:
    for i in range(0, len(rows), BATCH):
        yield rows[i : i + BATCH]


def dumps(data: Any) -> str:
    return json.dumps(data)  # the default encoder: the cheapest call json offers


def report(label: str, value: float) -> None:
    print(f"{label:<58} {value:>10,.0f} rows/s")


def rate(n: int, fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def storage_run(engine: Engine, rows: Sequence[MetricRow]) -> None:
    sessions = make_sessionmaker(engine)
    for chunk in batches(rows):
        with sessions() as session:
            write_batch(session, chunk)
            session.commit()


def staged_run(engine: Engine, rows: Sequence[MetricRow]) -> None:
    # write_batch with the writer's other strategy: same checks, same error translation.
    sessions = make_sessionmaker(engine)
    for chunk in batches(rows):
        with sessions() as session:
            with translate_errors("bench"):
                rows = prepare(chunk)
                pg_writer.write(session, rows, distinct_series(rows), strategy="staged")
            session.commit()


def ceiling_run(conn: psycopg.Connection[Any], rows: Sequence[MetricRow]) -> None:
    with conn.cursor() as cursor:
        for chunk in batches(rows):
            with cursor.copy(f"COPY bench_ceiling ({COLUMNS}) FROM STDIN") as copy:
                for r in chunk:
                    copy.write_row(
                        (
                            r.time,
                            r.series_key,
                            r.plugin_id,
                            r.metric_name,
                            dumps(r.value),
                            r.numeric_value,
                            dumps(r.tags) if r.tags else None,
                            r.worker_host,
                        )
                    )
            conn.commit()


def create_database(server: URL) -> tuple[URL, Callable[[], None]]:
    """A new empty database on `server`, and the function that drops it."""
    name = f"unity_bench_{uuid.uuid4().hex[:10]}"
    admin_db = "postgres" if server.get_backend_name() == "postgresql" else "mysql"
    admin = create_engine(server.set(database=admin_db), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        force = " WITH (FORCE)" if server.get_backend_name() == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()

    return server.set(database=name), drop


def create_ceiling(conn: psycopg.Connection[Any], days: set[date]) -> None:
    kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'plugin_metrics'::regclass")
    partitioned = kind.fetchone() == ("p",)
    suffix = " PARTITION BY RANGE (time)" if partitioned else ""
    conn.execute(f"CREATE TABLE bench_ceiling (LIKE plugin_metrics INCLUDING ALL){suffix}")
    for day in sorted(days) if partitioned else []:
        lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
        conn.execute(
            f"CREATE TABLE bench_ceiling_p{day:%Y%m%d} PARTITION OF bench_ceiling "
            f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{(lo + timedelta(days=1)).isoformat()}')"
        )
    conn.commit()


def postgres_bench(server: URL, rows: list[MetricRow]) -> dict[str, float]:
    url, drop = create_database(server)
    engine = make_engine(url)
    try:
        upgrade(url.render_as_string(hide_password=False))
        conn = psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=url.database,
        )
        create_ceiling(conn, {r.time.astimezone(UTC).date() for r in rows})
        tables = "plugin_metrics, metric_series, bench_ceiling"
        runs: dict[str, Callable[[], None]] = {
            "storage": lambda: storage_run(engine, rows),
            "ceiling": lambda: ceiling_run(conn, rows),
            "staged": lambda: staged_run(engine, rows),
        }
        figures: dict[str, list[float]] = {name: [] for name in runs}
        order = list(runs)
        for round_no in range(ROUNDS):
            for name in order[round_no:] + order[:round_no]:
                conn.execute(f"TRUNCATE {tables}")
                conn.commit()
                figures[name].append(rate(len(rows), runs[name]))
                report(f"  postgresql round {round_no + 1} {name}", figures[name][-1])
        medians = {name: statistics.median(values) for name, values in figures.items()}
        # Redelivery: store every row once (untimed), then time writing them all again.
        conn.execute(f"TRUNCATE {tables}")
        conn.commit()
        storage_run(engine, rows)
        medians["redelivery_optimistic"] = rate(len(rows), runs["storage"])
        medians["redelivery_staged"] = rate(len(rows), runs["staged"])
        conn.close()
        return medians
    finally:
        engine.dispose()
        drop()


def storage_only_bench(label: str, url: URL, rows: list[MetricRow]) -> float:
    engine = make_engine(url)
    try:
        upgrade(url.render_as_string(hide_password=False))
        figures = []
        for round_no in range(ROUNDS):
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM plugin_metrics"))
                conn.execute(text("DELETE FROM metric_series"))
            figures.append(rate(len(rows), lambda: storage_run(engine, rows)))
            report(f"  {label} round {round_no + 1} storage", figures[-1])
        return statistics.median(figures)
    finally:
        engine.dispose()


def other_dialects(rows: list[MetricRow]) -> None:
    server = make_url(
        os.environ.get("UNITY_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
    )
    try:
        url, drop = create_database(server)
    except Exception as error:  # unreachable server: report and go on
        print(f"MariaDB: unreachable at {server.render_as_string()}: {str(error).splitlines()[0]}")
    else:
        try:
            report(f"MariaDB storage, median of {ROUNDS}", storage_only_bench("mariadb", url, rows))
        finally:
            drop()
    with tempfile.TemporaryDirectory() as folder:
        url = make_url(f"sqlite:///{folder}/bench.db")
        report(f"SQLite storage, median of {ROUNDS}", storage_only_bench("sqlite", url, rows))


def main(argv: list[str]) -> None:
    n = int(argv[1] if len(argv) > 1 else os.environ.get("UNITY_BENCH_ROWS", "200000"))
    server = make_url(
        os.environ.get("UNITY_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
    )
    rows = make_rows(n)
    print(f"{n:,} rows, batches of {BATCH:,}, {len({r.series_key for r in rows}):,} series")
    if server.get_backend_name() != "postgresql":
        raise SystemExit(
            "the COPY ceiling needs PostgreSQL: set UNITY_DATABASE_URL to a postgresql URL"
        )
    pg = postgres_bench(server, rows)
    report(f"PostgreSQL storage: write_batch, median of {ROUNDS}", pg["storage"])
    report(f"PostgreSQL ceiling: raw psycopg COPY, median of {ROUNDS}", pg["ceiling"])
    report(f"PostgreSQL staged-COPY strategy, median of {ROUNDS}", pg["staged"])
    report("PostgreSQL redelivery of every row, optimistic (shipped)", pg["redelivery_optimistic"])
    report("PostgreSQL redelivery of every row, staged", pg["redelivery_staged"])
    other_dialects(rows)
    ratio = pg["storage"] / pg["ceiling"]
    summary = {
        "storage_rows_per_s": round(pg["storage"]),
        "copy_rows_per_s": round(pg["ceiling"]),
        "ratio": round(ratio, 3),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv)
