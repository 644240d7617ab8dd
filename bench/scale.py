"""Scale-out benchmark: collections/s and metrics/s with one and with two worker hosts.

Usage (root, Linux): .venv/bin/python bench/scale.py [--scale F] [--concurrency N]

Builds the scale-out test's homelab (tests/integration/scaleout/netns.py): a `hub` network
namespace running a private redis-server and offering this machine's PostgreSQL through a
forwarder, and worker hosts `w1`, `w2` joined to it by veth pairs. Each worker host runs the
real `unity worker --host wN -Q default -c N` against the hub's addresses; the bench itself
publishes from inside the hub, like a beat there would. Everything it creates (namespaces,
processes, the database `unity_bench_<hex>`) is removed at the end, Ctrl-C included.

Phases, each for one and then two worker hosts: K=10 metrics per collection (collections/s)
and K=100 (metrics/s). A phase first commits one collection per instance (new series: not
timed), then publishes N collections at full speed with distinct slot times and is timed
until the bench sees all N summary rows (an outcome's rows commit in one transaction). The
one-host figure is the peer measured in the same run; `scaling` = two hosts / one host.
Every host shares this machine's CPUs, so the figure shows what the fan-out costs and
whether the second host's workers add throughput here, not what two real machines give.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from pipeline import register, write_config  # siblings: bench/ is the script's own folder
from pipeline_env import Worker, database, until
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.scaleout.netns import (  # noqa: E402 - after the path is set
    Forwarder,
    Homelab,
    inside,
    netns_available,
)

INSTANCES = 20  # per K: rows of one instance serialise on its plugin_status row


@contextlib.contextmanager
def hub_redis(lab: Homelab, folder: Path) -> Iterator[str]:
    """A redis-server inside the hub, bound to its bridge address (the namespace is private)."""
    argv = ["redis-server", "--bind", lab.hub_address, "--port", "6379", "--dir", str(folder),
            "--save", "", "--appendonly", "no", "--protected-mode", "no"]  # fmt: skip
    server = subprocess.Popen(
        lab.command("hub", argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        probe = lab.command("hub", ["redis-cli", "-h", lab.hub_address, "ping"])
        until(
            lambda: subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "PONG",
            20,
            "the hub's redis-server",
        )
        yield f"redis://{lab.hub_address}:6379/0"
    finally:
        server.kill()
        server.wait(timeout=10)


class Phases:
    """Publishing from inside the hub and counting committed collections."""

    def __init__(self, instances: dict[int, list[Any]], dsn: str) -> None:
        from unity_workers.tasks import send_collect_task

        self.instances = instances
        self.dsn = dsn
        self.send = send_collect_task
        self._next = datetime(2031, 1, 1, tzinfo=UTC)

    def slot(self) -> datetime:
        self._next += timedelta(seconds=1)
        return self._next

    def _count(self, conn: psycopg.Connection[Any], k: int, since: datetime) -> int:
        sql = (
            "SELECT count(*) FROM plugin_metrics WHERE metric_name = 'collection' "
            "AND plugin_id LIKE %s AND time >= %s"
        )
        return int(conn.execute(sql, (f"synth-k{k}-%", since)).fetchone()[0])  # type: ignore[index]

    def publish_and_wait(self, k: int, n: int) -> float:
        instances = self.instances[k]
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            since = self.slot()
            started = time.perf_counter()
            for number in range(n):
                self.send(instances[number % len(instances)], self.slot())
            until(lambda: self._count(conn, k, since) >= n, 600, f"{n} collections at K={k}")
            return time.perf_counter() - started

    def run(self, k: int, n: int) -> float:
        self.publish_and_wait(k, len(self.instances[k]))  # warm-up: series, partitions
        return n / self.publish_and_wait(k, n)

    def hosts(self, since: datetime) -> dict[str, int]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT worker_host, count(*) FROM plugin_metrics WHERE metric_name = "
                "'collection' AND time >= %s GROUP BY worker_host",
                (since,),
            ).fetchall()
        return {str(host): int(count) for host, count in rows}


def workers_on(lab: Homelab, hosts: Sequence[str], folder: Path, concurrency: int) -> list[Worker]:
    found = []
    for host in hosts:
        argv = [sys.executable, "-m", "unity_core", "worker", "--host", host,
                "-Q", "default", "-c", str(concurrency), "-l", "WARNING"]  # fmt: skip
        found.append(Worker(host, lab.command(host, argv), folder / f"{host}-{len(hosts)}.log"))
    return found


@contextlib.contextmanager
def started(workers: Sequence[Worker], env: dict[str, str], dsn: str) -> Iterator[None]:
    """The workers, once every node has announced itself (worker_heartbeats)."""
    for worker in workers:
        worker.start(env)
    try:
        expected = {f"unity-{r}@{w.role}" for w in workers for r in ("collect", "persist")}

        def announced() -> bool:
            if dead := [w for w in workers if not w.alive()]:
                raise SystemExit(f"worker on {dead[0].role} exited:\n{dead[0].tail()}")
            with psycopg.connect(dsn, autocommit=True) as conn:
                sql = (
                    "SELECT name FROM worker_heartbeats "
                    "WHERE last_heartbeat > now() - interval '30 seconds'"
                )
                names = {row[0] for row in conn.execute(sql)}
            return expected <= names

        until(announced, 90, "every worker node's heartbeat")
        yield
    finally:
        for worker in workers:
            worker.stop()


def bench(args: argparse.Namespace) -> dict[str, Any]:
    reason = netns_available()
    if reason is not None:
        raise SystemExit(f"bench/scale.py: {reason}")
    server = make_url(
        os.environ.get("UNITY_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
    )
    for name in [n for n in os.environ if n.startswith(("UNITY_", "CELERY_"))]:
        del os.environ[name]
    n = {k: max(40, round(v * args.scale)) for k, v in {10: 1500, 100: 400}.items()}
    figures: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="unity-scale-")))
        db = stack.enter_context(database(server))
        lab = Homelab()
        stack.callback(lab.close)
        lab.build()
        broker = stack.enter_context(hub_redis(lab, folder))
        forwarder = Forwarder(
            (lab.hub_address, 5432), (server.host or "127.0.0.1", server.port or 5432),
            listen_ns=lab.ns("hub"),
        )  # fmt: skip
        forwarder.start()
        stack.callback(forwarder.close)
        hub_db = db.set(host=lab.hub_address, port=5432)
        settings = argparse.Namespace(
            instances=INSTANCES, batch_size=5000, batch_timeout=0.5,
            collect_concurrency=args.concurrency,
        )  # fmt: skip
        config = write_config(folder, hub_db, broker, settings)
        os.environ["UNITY_CONFIG"] = str(config)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        # From here on this thread lives in the hub: it publishes and polls like a hub process.
        stack.enter_context(inside(lab.ns("hub")))
        instances = register(config)
        dsn = hub_db.set(drivername="postgresql").render_as_string(hide_password=False)
        phases = Phases(instances, dsn)
        print(
            f"{INSTANCES} instances per K; each worker host: collect -c {args.concurrency} + "
            f"persist -c 2; N = {n}; {os.cpu_count()} CPUs shared by every host and server; "
            f"load {os.getloadavg()[0]:.2f}"
        )
        for hosts in (("w1",), ("w1", "w2")):
            label = f"{len(hosts)}host"
            with started(workers_on(lab, hosts, folder, args.concurrency), env, dsn):
                since = phases._next
                collections = phases.run(10, n[10])
                metrics = phases.run(100, n[100]) * 100
                spread = phases.hosts(since)
            figures[f"collections_per_s_k10_{label}"] = round(collections, 1)
            figures[f"metrics_per_s_k100_{label}"] = round(metrics)
            print(
                f"{len(hosts)} worker host(s): K=10 {collections:.1f} collections/s, "
                f"K=100 {metrics:,.0f} metrics/s; collections by host {spread}"
            )
    figures["scaling_collections"] = round(
        figures["collections_per_s_k10_2host"] / figures["collections_per_s_k10_1host"], 2
    )
    figures["scaling_metrics"] = round(
        figures["metrics_per_s_k100_2host"] / figures["metrics_per_s_k100_1host"], 2
    )
    return figures


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every N")
    parser.add_argument("--concurrency", type=int, default=2, help="collect processes per host")
    figures = bench(parser.parse_args(argv))
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
