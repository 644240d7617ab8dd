"""End-to-end benchmark: synthetic collections through Redis and real workers into PostgreSQL.

Usage: .venv/bin/python bench/pipeline.py [--scale F] [--collect-concurrency N]
       [--batch-size ROWS] [--batch-timeout S] [--instances N] [--loglevel LEVEL]
       [--celery NAME=VALUE ...] [--latency-rate R] [--latency-seconds S]

Everything it uses it creates, on loopback only, and removes at the end (Ctrl-C included):
a private redis-server (no AOF, no snapshots) on a free port in a temp folder; a database
`unity_bench_<hex>` on the PostgreSQL server of UNITY_DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/), migrated to head; a unity.yaml naming both,
collection.plugins_dir = bench/plugins (the `synthetic` plugin: K gauges per run, no I/O) and
20 instances per K (rows of one instance serialise on its plugin_status lock); and the
worker processes `unity worker` starts (unity_workers.processes.worker_commands: collect
prefork with prefetch 1, persist with prefetch = batch_size), plus one no-op worker.

Phases, in this order: no-op ceiling; K=10; no-op again; K=100; K=1000; latency at K=10.
The ceiling is the better of the two no-op runs around K=10 (a run slowed by another user
of the machine must not flatter the ratio). A throughput phase first commits one collection
per instance (new series, partitions: not timed), then publishes N collections at full
speed through unity_workers.tasks.send_collect_task (distinct slot times, so every row is
new) and is timed from the first publish until the bench sees all N summary rows: an
outcome's rows commit in one transaction, so its summary row being visible means all its
K+1 rows are (checked by a full count afterwards). metrics/s counts the K plugin metrics,
not the summary row.

Latency: collections published at a fixed rate; a thread polls the summary rows every 20 ms
(READ COMMITTED: a row visible to a statement committed before the statement's snapshot).
A collection's commit time is taken as the start of the first poll that saw its row, so
each figure overstates publish-to-commit by less than one poll interval. (PostgreSQL's
commit timestamps need track_commit_timestamp, a server restart; xmin alone has no time.)

The no-op ceiling: a Celery app defined here (`bench.noop`, same broker, JSON, acks_late,
prefetch 1, results ignored, the workers' log level) drained by one prefork worker process
(-c 1), N tasks published at full speed, timed until the queue is empty and nothing is
unacknowledged. For reference it also times LIMITS.md's setup (-c 2, prefetch 4, WARNING).

Per phase it prints CPU seconds by process group (psutil; "postgres" is this database's
backends, the bench's polls included; "other" is the rest of the machine, other users of a
shared VM included) and, from the persist worker's INFO log, the transactions it committed
and the time spent inside them. `--celery NAME=VALUE` tries a Celery setting through
CELERY_CONFIG_MODULE without editing celeryconfig. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
import yaml
from celery import Celery
from pipeline_env import (  # the sibling module: bench/ is the script's own folder
    POLL,
    ROOT,
    BenchTimeout,
    Meter,
    Worker,
    children_of,
    database,
    redis_server,
    running,
    scalar,
    until,
)
from sqlalchemy.engine import URL, make_url

from unity_workers.outcome_stream import STREAM as OUTCOME_STREAM

PLUGINS_DIR = ROOT / "bench" / "plugins"
KS = (10, 100, 1000)
#: The ceiling's workers: role -> (queue, worker options). "noop" is Unity's shape (one
#: process, prefetch 1, acks_late, the bench's log level); "noop-limits" is the setup of
#: LIMITS.md's ~1,000 tasks/s figure (-c 2, prefetch 4, WARNING), printed for reference.
NOOPS = {
    "noop": ("bench.noop", ["-c", "1", "--prefetch-multiplier", "1"]),
    "noop-limits": ("bench.noop.limits", ["-c", "2", "--prefetch-multiplier", "4"]),
}
COUNT_POLL = 0.05
PHASE_TIMEOUT = 150.0
BENCH_DEADLINE = 570
SUMMARIES = (
    "SELECT {what} FROM plugin_metrics WHERE plugin_id = ANY(%s) "
    "AND metric_name = 'collection' AND time >= %s"
)


def noop_app(broker: str) -> Celery:
    """The ceiling's app: plain Celery with Unity's serializer, acks and prefetch."""
    app = Celery("bench-noop", broker=broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=NOOPS["noop"][0],
        broker_connection_retry_on_startup=True,
    )
    app.task(name="bench.noop")(_noop)
    return app


def _noop() -> None:
    """The ceiling's task body: nothing."""


@dataclass
class Bench:
    instances: dict[int, list[Any]]
    dsn: str
    broker: redis.Redis
    noop: Celery
    meter: Meter
    send: Callable[[Any, datetime], Any]
    base: datetime = field(default_factory=lambda: _hour_ago())
    seq: int = 0

    def slot(self) -> datetime:
        """A slot time used once in the whole run: every dispatch's rows are new."""
        self.seq += 1
        return self.base + timedelta(milliseconds=self.seq)

    def summaries(self, conn: psycopg.Connection[Any], ids: list[str], since: datetime) -> int:
        return int(scalar(conn, SUMMARIES.format(what="count(*)"), ids, since))

    def publish_and_wait(self, k: int, n: int, conn: psycopg.Connection[Any]) -> float:
        """Publish n collections round-robin over the K instances; seconds until all committed."""
        instances = self.instances[k]
        ids = [i.plugin_id for i in instances]
        since = self.slot()
        started = time.perf_counter()
        for number in range(n):
            self.send(instances[number % len(instances)], self.slot())

        def committed() -> bool:
            return self.summaries(conn, ids, since) >= n

        until(committed, PHASE_TIMEOUT, f"{n} K={k} commits", interval=COUNT_POLL)
        return time.perf_counter() - started

    def throughput(self, k: int, n: int) -> float:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            warm = len(self.instances[k])
            self.publish_and_wait(k, warm, conn)
            self.idle()
            self.meter.start()
            elapsed = self.publish_and_wait(k, n, conn)
            self.meter.report()
            ids = [i.plugin_id for i in self.instances[k]]
            stored = scalar(
                conn, "SELECT count(*) FROM plugin_metrics WHERE plugin_id = ANY(%s)", ids
            )
        assert stored == (n + warm) * (k + 1), f"K={k}: {stored} rows, not {(n + warm) * (k + 1)}"
        rate = n / elapsed
        print(
            f"K={k:<9} {n:>6} collections in {elapsed:6.2f} s: {rate:8.1f} collections/s, "
            f"{rate * k:9,.0f} metrics/s ({rate * (k + 1):,.0f} rows/s incl. summary rows)"
        )
        return rate

    def noop_rate(self, n: int, role: str = "noop") -> float:
        self.idle()
        self.meter.start()
        started = time.perf_counter()
        for _ in range(n):
            self.noop.send_task("bench.noop", queue=NOOPS[role][0])
        until(lambda: self._drained() and self._drained(), PHASE_TIMEOUT, "the no-op tasks")
        elapsed = time.perf_counter() - started
        self.meter.report()
        print(f"{role:<11} {n:>6} tasks       in {elapsed:6.2f} s: {n / elapsed:8.1f} tasks/s")
        return n / elapsed

    def latency(self, k: int, rate: float, seconds: float) -> list[float]:
        instances = self.instances[k]
        watcher = CommitWatcher(self.dsn, [i.plugin_id for i in instances])
        self.idle()
        self.meter.start()
        watcher.start()
        started = time.perf_counter()
        total = int(rate * seconds)
        try:
            for number in range(total):
                time.sleep(max(0.0, started + number / rate - time.perf_counter()))
                instance, slot = instances[number % len(instances)], self.slot()
                watcher.expect(instance.plugin_id, slot, time.perf_counter())
                self.send(instance, slot)
            offered = total / (time.perf_counter() - started)
            watcher.finish(PHASE_TIMEOUT)
        finally:
            watcher.stop.set()
            watcher.join(timeout=5)
        self.meter.report()
        got = sorted(watcher.latencies)
        q = statistics.quantiles(got, n=100)
        print(
            f"latency K={k} at {rate:g}/s for {seconds:g} s ({len(got)} collections, published "
            f"at {offered:.1f}/s): p50 {q[49]:.3f} s, p95 {q[94]:.3f} s, "
            f"p99 {q[98]:.3f} s, max {got[-1]:.3f} s (poll resolution {POLL * 1000:.0f} ms)"
        )
        return got

    def _drained(self) -> bool:
        queues = ("collect", "persist", "maintenance", *(q for q, _ in NOOPS.values()))
        time.sleep(POLL)
        waiting = sum(self.broker.llen(q) for q in queues) + self.broker.xlen(OUTCOME_STREAM)
        return not waiting and not self.broker.hlen("unacked")

    def idle(self) -> None:
        until(self._drained, 60, "the broker to drain")


def _hour_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


class CommitWatcher(threading.Thread):
    """Polls summary rows; records publish-to-visible for each expected (plugin_id, slot)."""

    def __init__(self, dsn: str, ids: list[str]) -> None:
        super().__init__(name="commit-watcher", daemon=True)
        self.dsn, self.ids = dsn, ids
        self.pending: dict[tuple[str, datetime], float] = {}
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def expect(self, plugin_id: str, slot: datetime, published: float) -> None:
        with self.lock:
            self.pending[(plugin_id, slot)] = published

    def finish(self, timeout: float) -> None:
        until(lambda: self.error or not self.pending, timeout, "the latency run's commits")
        if self.error:
            raise self.error

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                query = SUMMARIES.format(what="plugin_id, time")
                while not self.stop.is_set():
                    started = time.perf_counter()
                    with self.lock:
                        since = min((slot for _, slot in self.pending), default=None)
                    if since is not None:
                        seen = conn.execute(query, (self.ids, since)).fetchall()
                        with self.lock:
                            for key in seen:
                                published = self.pending.pop(tuple(key), None)
                                if published is not None:
                                    self.latencies.append(started - published)
                    time.sleep(max(0.0, POLL - (time.perf_counter() - started)))
        except BaseException as error:
            self.error = error


# --- wiring ---------------------------------------------------------------------------------


def write_config(folder: Path, db: URL, broker: str, args: argparse.Namespace) -> Path:
    plugins = [
        {"id": f"synth-k{k}-{n:02d}", "plugin": "synthetic", "enabled": False, "config": {"k": k}}
        for k in KS
        for n in range(args.instances)
    ]
    config = {
        "data_dir": str(folder / "data"),
        "database": {"url": db.render_as_string(hide_password=False)},
        "broker": {"url": broker, "visibility_timeout": 900},
        "collection": {
            "plugins_dir": str(PLUGINS_DIR),
            "batch_size": args.batch_size,
            "batch_timeout": args.batch_timeout,
            "max_concurrent": args.collect_concurrency,
            "host": "bench",
        },
        "plugins": plugins,
    }
    path = folder / "unity.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def register(config: Path) -> dict[int, list[Any]]:
    """sync_registry from the file (the instances), then the snapshots beat would ship."""
    from unity_core.config import load_settings
    from unity_core.plugins.registry import discover, list_instances, sync_registry
    from unity_core.storage import make_engine, make_sessionmaker

    settings = load_settings(config, environ={})
    found = discover(PLUGINS_DIR)
    if "synthetic" not in found.classes:
        raise SystemExit(f"the synthetic plugin did not load: {found.errors}")
    engine = make_engine(settings.database.url)
    try:
        with make_sessionmaker(engine)() as session:
            report = sync_registry(session, settings, found)
            if report.problems:
                raise SystemExit(f"registry sync problems: {report.problems}")
            session.commit()
            listed = list_instances(session, settings)
    finally:
        engine.dispose()
    return {k: [i for i in listed if i.plugin_id.startswith(f"synth-k{k}-")] for k in KS}


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every N")
    parser.add_argument("--instances", type=int, default=20, help="plugin instances per K")
    parser.add_argument("--collect-concurrency", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=5000, help="persist rows per write")
    parser.add_argument("--batch-timeout", type=float, default=0.5)
    parser.add_argument("--loglevel", default="INFO", help="workers' log level")
    parser.add_argument(
        "--celery",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a celeryconfig setting (a Python literal) for Unity's app, e.g. "
        "worker_send_task_events=False; repeatable",
    )
    parser.add_argument("--latency-rate", type=float, default=100.0)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    return parser.parse_args(argv)


def bench(args: argparse.Namespace) -> dict[str, float]:
    server = make_url(
        os.environ.get("UNITY_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
    )
    for name in [n for n in os.environ if n.startswith(("UNITY_", "CELERY_"))]:
        del os.environ[name]  # the bench and its workers read only the config written here
    n = {key: max(20, round(v * args.scale)) for key, v in {"noop": 3000, 10: 3000, 100: 1000,
                                                                 1000: 300}.items()}  # fmt: skip
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="unity-bench-")))
        broker_url, redis_pid = stack.enter_context(redis_server(folder))
        db = stack.enter_context(database(server))
        config = write_config(folder, db, broker_url, args)
        os.environ["UNITY_CONFIG"] = str(config)
        if args.celery:
            # The documented way to tune Celery beyond the YAML (unity_workers/celery.py).
            lines = ["from celeryconfig import *  # noqa: F403", *args.celery]
            (folder / "celeryconfig_bench.py").write_text("\n".join(lines) + "\n")
            os.environ["CELERY_CONFIG_MODULE"] = "celeryconfig_bench"
            sys.path.insert(0, str(folder))
        instances = register(config)

        from unity_workers.processes import expand_queues, worker_commands
        from unity_workers.tasks import send_collect_task

        commands = worker_commands(
            expand_queues("default"),
            concurrency=args.collect_concurrency,
            batch_size=args.batch_size,
            loglevel=args.loglevel,
            name="bench",
        )
        workers = [Worker(c.role, c.argv, folder / f"{c.role}.log") for c in commands]
        for role, (queue, options) in NOOPS.items():
            level = args.loglevel if role == "noop" else "WARNING"
            argv = [sys.executable, __file__, "--noop-worker", broker_url, "-Q", queue,
                    "-n", f"bench-{role}@%h", *options, "--loglevel", level,
                    "--without-mingle", "--without-gossip"]  # fmt: skip
            workers.append(Worker(role, argv, folder / f"{role}.log"))
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        paths = [str(ROOT), str(folder), env.get("PYTHONPATH")]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
        noop = noop_app(broker_url)
        stack.enter_context(running(workers, env, noop))
        by_role = {w.role: w for w in workers}
        dsn = db.set(drivername="postgresql").render_as_string(hide_password=False)

        def backends() -> list[int]:
            with psycopg.connect(dsn, autocommit=True) as conn:
                sql = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s"
                return [row[0] for row in conn.execute(sql, (db.database, conn.info.backend_pid))]

        groups = {role: children_of(by_role[role]) for role in ("collect", "persist")}
        noop_pids = [children_of(by_role[role]) for role in NOOPS]
        groups["noop"] = lambda: [pid for pids in noop_pids for pid in pids()]
        groups.update(postgres=backends, redis=lambda: [redis_pid], bench=lambda: [os.getpid()])
        meter = Meter(groups, by_role["persist"].log)
        broker = stack.enter_context(contextlib.closing(redis.Redis.from_url(broker_url)))
        run = Bench(instances, dsn, broker, noop, meter, send_collect_task)
        print(
            f"{args.instances} instances per K, collect -c {args.collect_concurrency}, persist "
            f"-c 2 prefetch {args.batch_size}, batch_size {args.batch_size} rows, batch_timeout "
            f"{args.batch_timeout} s, workers at {args.loglevel}; load {os.getloadavg()[0]:.2f}"
            + "".join(f"; {line}" for line in args.celery)
        )
        noops = [run.noop_rate(n["noop"])]
        rates = {10: run.throughput(10, n[10])}
        noops.append(run.noop_rate(n["noop"]))
        run.noop_rate(n["noop"], "noop-limits")
        rates[100] = run.throughput(100, n[100])
        rates[1000] = run.throughput(1000, n[1000])
        latencies = run.latency(10, args.latency_rate, args.latency_seconds)
        dead = broker.xlen("unity:dlq") if broker.exists("unity:dlq") else 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            failed = scalar(conn, "SELECT coalesce(sum(error_count), 0) FROM plugin_status")
        print(f"dead letters {dead}, plugin_status error_count {failed}")
        noop_rate = max(noops)
        return {
            "metrics_per_s_k1000": round(rates[1000] * 1000),
            "collections_per_s_k10": round(rates[10], 1),
            "noop_tasks_per_s": round(noop_rate, 1),
            "ratio": round(rates[10] / noop_rate, 3),
            "p95_publish_to_commit_s": round(statistics.quantiles(latencies, n=100)[94], 3),
        }


def main(argv: Sequence[str]) -> None:
    if argv[:1] == ["--noop-worker"]:  # internal: `--noop-worker BROKER WORKER-OPTIONS...`
        noop_app(argv[1]).worker_main(["worker", *argv[2:]])
        return
    args = arguments(argv)

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt if signum == signal.SIGTERM else BenchTimeout("bench deadline")

    # Also when started in the background, where a shell leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(BENCH_DEADLINE)
    try:
        print(json.dumps(bench(args)))
    except KeyboardInterrupt:
        sys.exit("interrupted; everything the bench started is stopped and removed")


if __name__ == "__main__":
    main(sys.argv[1:])
