"""The API benchmark's database: ≥ 10 million samples on PostgreSQL, generated in SQL.

Usage: .venv/bin/python bench/api_data.py        (bench/api.py calls prepare() itself)

Creates `unity_bench_api` on the server of UNITY_BENCH_PG_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/) if it is missing, migrates it to head, and
fills it once: 20 plugins x 10 metrics x 5 tag sets = 1,000 series, one sample a minute for
7 days (10,080,000 rows), made by `generate_series` inside PostgreSQL (one INSERT … SELECT
per day; writing through write_batch would take an hour at the measured ~16k rows/s).
The hourly and daily rollups are then filled by the lifecycle job
(`unity_core.lifecycle.rollup.run_rollups`), or with one INSERT … SELECT each where that
module is absent. A `bench_api_ready` marker table records a complete fill together with a
digest of the migration files, so later runs reuse the database while the schema is the
same and rebuild it when a migration changed; UNITY_BENCH_API_REBUILD=1 forces a rebuild.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from unity_core.storage.engine import make_engine
from unity_core.storage.migrate import upgrade
from unity_core.storage.partitions import ensure_partitions
from unity_core.storage.series import series_key

DATABASE = "unity_bench_api"
PLUGINS = 20
METRICS = 10
TAG_SETS = 5
DAYS = 7
STEP_SECONDS = 60
UNITS = ("percent", "bytes", "celsius", "seconds", "count")


def server_url() -> URL:
    return make_url(
        os.environ.get("UNITY_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
    )


def database_url() -> URL:
    return server_url().set(database=DATABASE)


def series() -> list[dict[str, object]]:
    """The 1,000 series: plugin, metric, unit and 2-3 tags each."""
    found = []
    for p in range(PLUGINS):
        for m in range(METRICS):
            for t in range(TAG_SETS):
                tags = {"host": f"host{t}", "instance": f"i{p}-{t}"}
                if (p + m + t) % 2:
                    tags["site"] = "home"
                plugin_id, metric = f"plugin{p:02d}", f"metric_{m}"
                found.append(
                    {
                        "series_key": series_key(plugin_id, metric, tags),
                        "plugin_id": plugin_id,
                        "metric_name": metric,
                        "unit": UNITS[m % len(UNITS)],
                        "tags": tags,
                    }
                )
    return found


def schema_digest() -> str:
    """A digest of every migration file: a changed migration means a rebuilt database."""
    folder = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _ensure_database(rebuild: bool) -> None:
    admin = create_engine(server_url().set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if rebuild:
                conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DATABASE}
            ).scalar()
            if not exists:
                conn.execute(text(f"CREATE DATABASE {DATABASE}"))
    finally:
        admin.dispose()


def _filled_digest() -> str | None:
    """The schema digest recorded by the last complete fill, if the database has one."""
    url = database_url()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not conn.execute(text("SELECT to_regclass('bench_api_ready')")).scalar():
                return None
            return str(conn.execute(text("SELECT digest FROM bench_api_ready")).scalar())
    except Exception:  # no database yet, or an older marker without a digest
        return None
    finally:
        engine.dispose()


def prepare(log: bool = True) -> tuple[str, datetime]:
    """The URL of the filled database and the time of its newest sample."""
    digest = schema_digest()
    reuse = os.environ.get("UNITY_BENCH_API_REBUILD") != "1" and _filled_digest() == digest
    if not reuse and log:
        print(f"building {DATABASE} (≈ 4 minutes): the schema changed or it is missing")
    _ensure_database(rebuild=not reuse)
    url = database_url().render_as_string(hide_password=False)
    upgrade(url)
    engine = make_engine(url)
    try:
        if not reuse:
            _fill(engine, log, digest)
        with engine.connect() as conn:
            newest = conn.execute(text("SELECT max(bucket) FROM plugin_metrics_hourly")).scalar()
    finally:
        engine.dispose()
    return url, newest + timedelta(hours=1)


def _fill(engine: Engine, log: bool, digest: str) -> None:
    say = print if log else (lambda *a, **k: None)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    rows = series()
    began = time.perf_counter()
    with engine.begin() as conn:
        # Bulk generation, not collection: skip triggers (the lifecycle's late-data marks).
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in ("plugin_metrics_daily", "plugin_metrics_hourly", "plugin_metrics"):
            conn.execute(text(f"TRUNCATE {table}"))
        conn.execute(text("DELETE FROM plugin_status"))
        conn.execute(text("DELETE FROM metric_series"))
        conn.execute(text("DELETE FROM plugins"))
        for p in range(PLUGINS):
            conn.execute(
                text(
                    "INSERT INTO plugins (id, plugin_id, plugin, name, enabled, config, tags,"
                    " created_at, updated_at) VALUES (gen_random_uuid(), :id, 'system', :id,"
                    " true, '{}', '{}', now(), now())"
                ),
                {"id": f"plugin{p:02d}"},
            )
            conn.execute(
                text(
                    "INSERT INTO plugin_status (plugin_id, last_run, last_success, error_count,"
                    " health_status, consecutive_failures, rejected_count, updated_at)"
                    " VALUES (:id, :t, :t, 0, :h, 0, 0, now())"
                ),
                {"id": f"plugin{p:02d}", "t": end, "h": "ok" if p % 7 else "failing"},
            )
        conn.execute(
            text(
                "CREATE TEMP TABLE bench_series (series_key text, plugin_id text,"
                " metric_name text, unit text, tags jsonb, n int)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO bench_series VALUES (:series_key, :plugin_id, :metric_name, :unit,"
                " CAST(:tags AS jsonb), :n)"
            ),
            [{**r, "tags": _json(r["tags"]), "n": i} for i, r in enumerate(rows)],
        )
        conn.execute(
            text(
                "INSERT INTO metric_series (series_key, plugin_id, metric_name, tags, created_at)"
                " SELECT series_key, plugin_id, metric_name, tags, now() FROM bench_series"
            )
        )
        ensure_partitions(conn, {(start + timedelta(days=d)).date() for d in range(DAYS + 1)})
        for day in range(DAYS):
            lo = start + timedelta(days=day)
            conn.execute(
                text(
                    "INSERT INTO plugin_metrics (time, series_key, plugin_id, metric_name, value,"
                    " numeric_value, tags)"
                    " SELECT t, s.series_key, s.plugin_id, s.metric_name,"
                    "  jsonb_build_object('value', v.x, 'unit', s.unit), v.x, s.tags"
                    " FROM bench_series s"
                    " CROSS JOIN generate_series(CAST(:lo AS timestamptz),"
                    "  CAST(:hi AS timestamptz), make_interval(secs => :step)) AS t"
                    " CROSS JOIN LATERAL (SELECT round(CAST(50 + 40 * sin(s.n"
                    "  + extract(epoch FROM t) / 3600.0) AS numeric), 3)::float8 AS x) v"
                ),
                {
                    "lo": lo,
                    "hi": lo + timedelta(days=1, seconds=-STEP_SECONDS),
                    "step": STEP_SECONDS,
                },
            )
            say(f"  day {day + 1}/{DAYS} written ({time.perf_counter() - began:.0f} s)")
    _rollups(engine, say, began)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_api_ready (filled_at timestamptz, digest text)"))
        conn.execute(text("INSERT INTO bench_api_ready VALUES (now(), :d)"), {"d": digest})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    say(f"  database ready ({time.perf_counter() - began:.0f} s)")


def _rollups(engine: Engine, say: Any, began: float) -> None:
    """Hourly and daily rollups by the lifecycle job when it exists, else by plain SQL."""
    try:
        from unity_core.lifecycle.rollup import run_rollups
    except ImportError:
        run_rollups = None
    if run_rollups is not None:
        for report in run_rollups(engine):
            say(f"  {report.describe()} ({time.perf_counter() - began:.0f} s)")
        return
    with engine.begin() as conn:
        for table, width in (("plugin_metrics_hourly", "hour"), ("plugin_metrics_daily", "day")):
            conn.execute(
                text(
                    f"INSERT INTO {table} (bucket, series_key, plugin_id, metric_name, tags,"
                    " avg_value, min_value, max_value, sum_value, last_value, sample_count)"
                    f" SELECT date_trunc('{width}', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',"
                    "  series_key, min(plugin_id), min(metric_name), min(tags::text)::jsonb,"
                    "  avg(numeric_value), min(numeric_value), max(numeric_value),"
                    "  sum(numeric_value), (array_agg(numeric_value ORDER BY time DESC))[1],"
                    "  count(*)"
                    " FROM plugin_metrics GROUP BY 1, series_key"
                )
            )
            say(f"  {table} filled by SQL ({time.perf_counter() - began:.0f} s)")


def _json(value: object) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


if __name__ == "__main__":
    url, newest = prepare()
    print(f"{make_url(url).render_as_string()} ready; newest hour {newest.isoformat()}")
    sys.exit(0)
