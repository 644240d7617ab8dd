"""Collection cost of every built-in plugin, so a user can size intervals and timeouts.

Usage: .venv/bin/python bench/plugins.py [--runs N] [--seconds S] [--gap S] [--only ID[,ID…]]

For each plugin discovered through the `unity.plugins` entry points it runs N collections
(default 30, at most S seconds each plugin, default 20; --gap 0.1 s idle between runs, not
timed, since a scheduled instance never runs back to back: the system plugin measures CPU
since its previous run and would otherwise wait out its 0.1 s minimum window) the way a
worker does: instantiate
from the validated config, then `run_plugin` (setup, collect_data, teardown in the runner's
thread, with its deadline). Per plugin it prints the first run (cold: imports, first
connections, the system plugin's first CPU window) apart from the next ones, whose wall time
per collection is given as p50/p95, with the CPU this process spent per collection (the
plugin's client side; the servers it talks to run in other processes) and the metrics and
per-item errors per collection.

Each plugin runs against what exists on this machine, all on loopback: a child process of
this bench serving a tiny HTTP site (http) with a Prometheus exposition of 300 samples
(prometheus), a TCP listener that accepts and closes (tcp), a DNS responder answering A
queries (dns), and the docker helper's recorded Engine API on a unix socket (docker, when
plugins/docker/tests/recorded_engine.py exists); the real PostgreSQL (postgres,
UNITY_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres) and Redis
(redis, UNITY_TEST_REDIS_URL's server, read only); `printf` for exec; ICMP (or its TCP
fallback) to 127.0.0.1 for ping; and a throwaway SQLite Unity database for the unity
plugin. A plugin with no config recipe here is tried with its defaults.

The floor is a no-op plugin (one gauge, no I/O) through the same path, measured first and
last; the better of the two is used. Built-ins that are not installed or do not load are
listed as missing. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from unity_core.errors import PluginError
from unity_core.plugins.registry import discover, validate_config
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.sdk import Accumulator, Plugin

BUILTINS = (
    "system", "unity", "docker", "http", "ping", "tcp", "dns", "prometheus", "exec",
    "postgres", "redis",
)  # fmt: skip
POSTGRES_URL = os.environ.get(
    "UNITY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
).replace("+psycopg", "")
REDIS_URL = os.environ.get("UNITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: The name the DNS responder answers, and with what.
DNS_NAME, DNS_ADDRESS = "bench.unity.test", "127.0.0.1"
EXPOSITION_SAMPLES = 300
RUN_TIMEOUT = 30.0


class NoopPlugin(Plugin):
    """The floor: one gauge, no I/O, through the same instantiate + runner path."""

    id = "noop"

    def collect_data(self, acc: Accumulator) -> None:
        acc.add_gauge("noop", 1)


# --- local servers, in a child process so their CPU is not counted as the plugins' ---------


def _exposition() -> bytes:
    lines = ["# HELP bench_requests_total Requests served.", "# TYPE bench_requests_total counter"]
    lines += [
        f'bench_requests_total{{handler="/h{n}",code="200"}} {n * 17}'
        for n in range(EXPOSITION_SAMPLES)
    ]
    return ("\n".join(lines) + "\n").encode()


class _Site(BaseHTTPRequestHandler):
    """`/` answers a small page, `/metrics` a Prometheus exposition; nothing is logged."""

    protocol_version = "HTTP/1.1"
    metrics = _exposition()

    def do_GET(self) -> None:
        body = self.metrics if self.path == "/metrics" else b"<html>unity bench ok</html>"
        kind = "text/plain; version=0.0.4" if self.path == "/metrics" else "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _background(target: Callable[[], None]) -> None:
    threading.Thread(target=target, daemon=True).start()


def _tcp_listener() -> int:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)

    def accept() -> None:
        while True:
            connection, _ = server.accept()
            connection.close()

    _background(accept)
    return int(server.getsockname()[1])


def _dns_responder() -> int:
    import dns.message
    import dns.rrset

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def answer() -> None:
        while True:
            wire, peer = server.recvfrom(4096)
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            for question in query.question:
                response.answer.append(
                    dns.rrset.from_text(question.name, 60, "IN", "A", DNS_ADDRESS)
                )
            server.sendto(response.to_wire(), peer)

    _background(answer)
    return int(server.getsockname()[1])


def _serve(report: Connection, folder: str) -> None:
    """Child process: start every local server, send their addresses, serve until killed."""
    site = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    site.daemon_threads = True
    _background(site.serve_forever)
    found: dict[str, Any] = {"http": site.server_address[1], "tcp": _tcp_listener()}
    found["dns"] = _dns_responder()
    try:
        from unity_plugins.docker.tests.recorded_engine import RecordedEngine

        engine = RecordedEngine(os.path.join(folder, "docker.sock"))
        _background(engine.serve_forever)
        found["docker"] = engine.url
    except ImportError as error:
        found["docker_missing"] = f"no recorded engine: {error}"
    report.send(found)
    threading.Event().wait()


# --- configs ------------------------------------------------------------------------------


def recipes(servers: dict[str, Any]) -> dict[str, Callable[[], dict[str, Any]]]:
    """Plugin id -> its config on this machine (a KeyError: what it needs is not running)."""
    http = f"http://127.0.0.1:{servers['http']}"
    return {
        "system": lambda: {},
        "unity": lambda: {},
        "postgres": lambda: {"url": POSTGRES_URL},
        "redis": lambda: {"url": REDIS_URL},
        "http": lambda: {"url": f"{http}/"},
        "prometheus": lambda: {"url": f"{http}/metrics"},
        "tcp": lambda: {"host": "127.0.0.1", "port": servers["tcp"]},
        "dns": lambda: {"name": DNS_NAME, "resolver": "127.0.0.1", "port": servers["dns"]},
        "ping": lambda: {"host": "127.0.0.1"},
        "exec": lambda: {"command": ["printf", "bench_value 42\\n"], "data_format": "prometheus"},
        "docker": lambda: {"base_url": servers["docker"]},
    }


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Cost:
    plugin: str
    first_ms: float = 0.0
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    metrics: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    failure: str | None = None

    def p(self, q: float) -> float:
        ordered = sorted(self.wall_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def figures(self) -> dict[str, float]:
        return {
            "p50_ms": round(self.p(0.5), 2),
            "p95_ms": round(self.p(0.95), 2),
            "cpu_ms": round(statistics.fmean(self.cpu_ms), 2),
            "metrics": round(statistics.fmean(self.metrics), 1),
            "first_ms": round(self.first_ms, 1),
        }


def _once(cls: type[Plugin], config: dict[str, Any], cost: Cost) -> float:
    """One collection as a worker runs it; returns its wall time in ms."""
    started, cpu = time.perf_counter(), time.process_time()
    plugin = cls(validate_config(cls, f"bench-{cls.id}", config), instance_id=f"bench-{cls.id}")
    collection = run_plugin(plugin, datetime.now(UTC), timeout=RUN_TIMEOUT)
    wall = (time.perf_counter() - started) * 1000
    cost.cpu_ms.append((time.process_time() - cpu) * 1000)
    cost.metrics.append(len(collection.metrics))
    cost.errors.append(len(collection.errors))
    return wall


def measure(
    cls: type[Plugin], config: dict[str, Any], runs: int, seconds: float, gap: float
) -> Cost:
    cost = Cost(cls.id)
    pause = threading.Event()
    try:
        cost.first_ms = _once(cls, config, cost)
        cost.cpu_ms.clear()
        cost.metrics.clear()
        cost.errors.clear()
        deadline = time.monotonic() + seconds
        while len(cost.wall_ms) < runs and (len(cost.wall_ms) < 3 or time.monotonic() < deadline):
            pause.wait(gap)
            cost.wall_ms.append(_once(cls, config, cost))
    except PluginError as error:
        cause = error.__cause__ or error
        cost.failure = f"{type(cause).__name__}: {cause}".splitlines()[0][:160]
    return cost


def _unity_database(folder: Path) -> str | None:
    """A migrated SQLite Unity database for the unity plugin (via UNITY_DATA_DIR)."""
    from unity_core.storage.migrate import upgrade

    os.environ["UNITY_DATA_DIR"] = str(folder)
    os.environ.pop("UNITY_CONFIG", None)
    os.environ.pop("UNITY_DATABASE_URL", None)
    os.chdir(folder)  # no ./unity.yaml of the caller's
    try:
        upgrade(f"sqlite:///{folder / 'unity.db'}")
    except Exception as error:  # the bench goes on; the unity plugin reports the database error
        return f"migrating its database failed: {type(error).__name__}: {error}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="collections per plugin")
    parser.add_argument("--seconds", type=float, default=20.0, help="time budget per plugin")
    parser.add_argument("--gap", type=float, default=0.1, help="idle seconds between runs")
    parser.add_argument("--only", default="", help="comma-separated plugin ids")
    args = parser.parse_args()
    # Per-item errors are counted in the table; their log lines would only bury it.
    logging.getLogger("unity").setLevel(logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="unity-bench-plugins-"))
    notes: dict[str, str] = {}
    if problem := _unity_database(folder):
        notes["unity"] = problem
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.Process(target=_serve, args=(send, str(folder)), daemon=True)
    child.start()
    try:
        servers: dict[str, Any] = receive.recv()
        run(args, servers, notes)
    finally:
        child.kill()
        child.join()


def run(args: argparse.Namespace, servers: dict[str, Any], notes: dict[str, str]) -> None:
    found = discover()
    wanted = [p for p in args.only.split(",") if p] or sorted(found.classes)
    missing = {p: found.errors.get(p, "not installed") for p in BUILTINS if p not in found.classes}
    configs = recipes(servers)
    if "docker_missing" in servers:
        notes["docker"] = servers["docker_missing"]
    floor = [measure(NoopPlugin, {}, args.runs, args.seconds, args.gap)]
    costs: list[Cost] = []
    for plugin_id in wanted:
        cls = found.classes.get(plugin_id)
        if cls is None:
            continue
        try:
            config = configs.get(plugin_id, dict)()
        except KeyError as error:
            missing[plugin_id] = f"nothing to run it against here ({error})"
            continue
        print(f"measuring {plugin_id} ...", file=sys.stderr, flush=True)
        costs.append(measure(cls, config, args.runs, args.seconds, args.gap))
    floor.append(measure(NoopPlugin, {}, args.runs, args.seconds, args.gap))
    noop = min(floor, key=lambda cost: cost.p(0.5))
    report(noop, costs, missing, notes)


def report(noop: Cost, costs: list[Cost], missing: dict[str, str], notes: dict[str, str]) -> None:
    head = f"{'plugin':<12} {'runs':>4} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8}"
    print(head + f" {'CPU ms':>7} {'metrics':>7} {'errors':>6} {'p50 - floor':>11}")
    result: dict[str, Any] = {"noop_p50_ms": round(noop.p(0.5), 3), "plugins": {}}
    for cost in [noop, *costs]:
        if cost.failure is not None:
            print(f"{cost.plugin:<12} failed: {cost.failure}")
            result.setdefault("failed", {})[cost.plugin] = cost.failure
            continue
        f = cost.figures()
        print(
            f"{cost.plugin:<12} {len(cost.wall_ms):>4} {f['first_ms']:>9.1f} {f['p50_ms']:>8.2f}"
            f" {f['p95_ms']:>8.2f} {f['cpu_ms']:>7.2f} {f['metrics']:>7.1f}"
            f" {statistics.fmean(cost.errors):>6.1f} {f['p50_ms'] - noop.p(0.5):>11.2f}"
        )
        if cost is not noop:
            result["plugins"][cost.plugin] = f
    for plugin_id, why in sorted(notes.items()):
        print(f"note: {plugin_id}: {why}")
    for plugin_id, why in sorted(missing.items()):
        print(f"missing: {plugin_id}: {why}")
    result["missing"] = sorted(missing)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
