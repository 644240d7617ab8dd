"""Cost of counter rates and derived metrics in the pipeline, against the pipeline without them.

Usage: .venv/bin/python bench/rates.py [--runs N] [--metrics K]

A synthetic plugin reports K metrics per run (default 200: 100 counters, 100 gauges, 50
tag groups). Each variant processes N runs (default 300) of consecutive slots through
`Pipeline.process` in this process, so only pipeline CPU and the counter memory's round
trips are timed (no plugin I/O, no storage writes):

- ceiling: the stages as they were before Derive and Rates (Validate, Transform, Enrich);
- no-memory: the default stages without a counter memory (Rates skips, Derive has nothing);
- derived: a plugin declaring 50 derived metrics (one per tag group), no memory;
- local: rates through LocalCounters (the computation alone);
- memory-cache: SharedCounters over MemoryCache (JSON encode/decode of the per-instance key);
- redis: SharedCounters over the loopback Redis (UNITY_TEST_REDIS_URL's server, db 13,
  flushed first): one GET and one SET per run;
- sqlite / postgresql: SharedCounters with no cache, reading each counter's previous sample
  from the stored raw samples (the database fallback); the previous run's rows are written
  before each timed run, untimed. PostgreSQL uses a throwaway database on
  UNITY_TEST_POSTGRES_URL's server (default postgres@127.0.0.1:5432), dropped at the end.

Prints, per variant, the median ms per run and the rows out per second at that median;
ends with one JSON line. Asserts no timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from unity_core.cache import MemoryCache, NullCache, RedisCache
from unity_core.collection.counters import SharedCounters
from unity_core.pipeline import (
    CounterMemory,
    Enrich,
    EnrichContext,
    LocalCounters,
    Pipeline,
    Transform,
    Validate,
)
from unity_core.plugins.sdk import Accumulator, Collection, Metric, MetricSpec, MetricType, Plugin
from unity_core.storage import make_sessionmaker
from unity_core.storage.engine import make_engine
from unity_core.storage.migrate import upgrade
from unity_core.storage.write import write_batch

GROUPS = 50
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
POSTGRES_ADMIN = os.environ.get(
    "UNITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("UNITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]


class Synthetic(Plugin):
    id = "bench_rates"
    metrics = (
        MetricSpec("rx_bytes", "bytes", MetricType.COUNTER, tags=("group", "n")),
        MetricSpec("used", "bytes", tags=("group", "n")),
        MetricSpec("total", "bytes", tags=("group", "n")),
    )
    dynamic_metrics = True

    def collect_data(self, acc: Accumulator) -> None:
        raise AssertionError("the bench builds collections directly")


class WithDerived(Synthetic):
    id = "bench_derived"
    metrics = (*Synthetic.metrics, MetricSpec("percent", "percent", derive="used / total * 100"))


def collection(plugin: type[Plugin], k: int, step: int) -> Collection:
    """K metrics: k/2 counters growing by 1,000 a run, and used/total gauge pairs."""
    counters = [
        Metric("rx_bytes", 1_000_000 + step * 1_000 + i, {"group": str(i % GROUPS), "n": str(i)})
        for i in range(k // 2)
    ]
    gauges = []
    for i in range(k // 4):
        tags = {"group": str(i % GROUPS), "n": str(i)}
        gauges += [Metric("used", 10.0 + step, tags), Metric("total", 1_000.0, tags)]
    return Collection(plugin.id, START + timedelta(minutes=step), counters + gauges, [], 1.0)


def measure(
    runs: int,
    k: int,
    *,
    plugin: type[Plugin] = Synthetic,
    pipeline: Pipeline | None = None,
    memory: CounterMemory | None = None,
    before_run: Callable[[list[Any]], None] | None = None,
) -> dict[str, float]:
    """Median ms per run and metrics/s (rows out per second of pipeline time)."""
    pipeline = pipeline or Pipeline()
    context = EnrichContext(host="bench", environment="bench", now=START + timedelta(days=1))
    times: list[float] = []
    rows_out = 0
    previous: list[Any] = []
    for step in range(runs):
        batch = collection(plugin, k, step)
        if before_run is not None:
            before_run(previous)
        started = time.perf_counter()
        result = pipeline.process(batch, plugin, context, counters=memory)
        times.append(time.perf_counter() - started)
        rows_out += len(result.rows)
        previous = result.rows
    median = statistics.median(times)
    return {
        "ms_per_run": round(median * 1000, 3),
        "metrics_per_s": round(rows_out / runs / median),
        "rows_per_run": rows_out / runs,
    }


def database_variant(url: str, runs: int, k: int) -> dict[str, float]:
    """SharedCounters without a cache: previous samples come from the stored rows."""
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)

    def store(rows: list[Any]) -> None:
        if rows:
            with sessions() as session:
                write_batch(session, rows)
                session.commit()

    try:
        return measure(runs, k, memory=SharedCounters(NullCache(), sessions), before_run=store)
    finally:
        engine.dispose()


def postgres_variant(runs: int, k: int) -> dict[str, float] | str:
    name = f"unity_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as error:  # report, do not fail the other figures
        return f"PostgreSQL unreachable: {error}".splitlines()[0]
    try:
        url = make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
        return database_variant(url, runs, k)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def redis_variant(runs: int, k: int) -> dict[str, float] | str:
    try:
        client = redis.Redis.from_url(f"{REDIS}/13", socket_connect_timeout=2)
        client.flushdb()  # the bench's own database
        client.close()
    except Exception as error:
        return f"Redis unreachable: {error}".splitlines()[0]
    cache = RedisCache(f"{REDIS}/13")
    try:
        return measure(runs, k, memory=SharedCounters(cache))
    finally:
        cache.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--metrics", type=int, default=200)
    args = parser.parse_args()
    runs, k = args.runs, args.metrics
    results: dict[str, Any] = {}
    results["ceiling"] = measure(runs, k, pipeline=Pipeline([Validate(), Transform(), Enrich()]))
    results["no-memory"] = measure(runs, k)
    results["derived"] = measure(runs, k, plugin=WithDerived)
    results["local"] = measure(runs, k, memory=LocalCounters())
    results["memory-cache"] = measure(runs, k, memory=SharedCounters(MemoryCache()))
    results["redis"] = redis_variant(runs, k)
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = database_variant(f"sqlite:///{folder}/bench.db", runs, k)
    results["postgresql"] = postgres_variant(runs, k)
    print(f"{runs} runs of {k} metrics ({k // 2} counters) per variant; median per run\n")
    print(f"{'variant':<14}{'ms/run':>10}{'metrics/s':>12}{'rows/run':>10}{'vs ceiling':>12}")
    ceiling = results["ceiling"]["ms_per_run"]
    for variant, figures in results.items():
        if isinstance(figures, str):
            print(f"{variant:<14}{figures}")
            continue
        ratio = figures["ms_per_run"] / ceiling
        print(
            f"{variant:<14}{figures['ms_per_run']:>10.3f}{figures['metrics_per_s']:>12,}"
            f"{figures['rows_per_run']:>10.1f}{ratio:>11.2f}x"
        )
    summary = {
        f"{variant}_ms": figures["ms_per_run"]
        for variant, figures in results.items()
        if not isinstance(figures, str)
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
