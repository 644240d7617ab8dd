"""What the pipeline benchmark runs on: a private Redis, a throwaway database, worker
processes, and CPU metering per process group. Split out of bench/pipeline.py."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
from celery import Celery
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parents[1]
#: Seconds between polls while waiting for a condition.
POLL = 0.02
#: The persist worker's INFO line for one committed batch.
PERSISTED = re.compile(
    rb"persisted (\d+) outcomes \((\d+) new rows of (\d+), (\d+) duplicates\) "
    rb"in one transaction in ([\d.]+) ms"
)


class BenchTimeout(Exception):
    pass


# --- services -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scalar(conn: psycopg.Connection[Any], sql: str, *params: Any) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def until(condition: Callable[[], Any], timeout: float, what: str, interval: float = POLL) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise BenchTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return value


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[tuple[str, int]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.2)

        def answers() -> bool:
            with contextlib.suppress(redis.exceptions.RedisError):
                return bool(client.ping())
            return False

        until(answers, 10, "the private redis-server")
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextlib.contextmanager
def database(server: URL) -> Iterator[URL]:
    from unity_core.storage.migrate import upgrade

    name = f"unity_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        url = server.set(database=name)
        upgrade(url.render_as_string(hide_password=False))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@dataclass
class Worker:
    """One worker command in its own session (Ctrl-C reaches only the bench), logging to a file."""

    role: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None:
            return
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=8)
        with contextlib.suppress(ProcessLookupError):  # the rest of the group: pool children
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextlib.contextmanager
def running(workers: Sequence[Worker], env: dict[str, str], ping: Celery) -> Iterator[None]:
    try:
        for worker in workers:
            worker.start(env)

        def ready() -> bool:
            if dead := [w for w in workers if not w.alive()]:
                raise SystemExit(f"{dead[0].role} worker exited at start:\n{dead[0].tail()}")
            names = {name for reply in ping.control.ping(timeout=0.5) for name in reply}
            return all(any(n.startswith(f"bench-{w.role}@") for n in names) for w in workers)

        until(ready, 60, "the workers to answer a ping", interval=0.2)
        try:
            yield
        except BenchTimeout:
            for worker in workers:
                print(f"--- {worker.role} worker, last lines:\n{worker.tail()}", file=sys.stderr)
            raise
    finally:
        for worker in workers:
            if worker.alive():
                worker.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        for worker in workers:
            worker.stop()


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Meter:
    """CPU seconds per process group over a phase, and the persist worker's batch log."""

    groups: dict[str, Callable[[], list[int]]]
    persist_log: Path
    before: dict[str, float] = field(default_factory=dict)
    busy0: float = 0.0
    wall0: float = 0.0
    log0: int = 0

    @staticmethod
    def _cpu(pid: int) -> float:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            return float(t.user + t.system + t.children_user + t.children_system)
        return 0.0

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return float(t.user + t.nice + t.system + t.irq + t.softirq)

    def _sample(self) -> dict[str, dict[int, float]]:
        return {name: {pid: self._cpu(pid) for pid in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        self.before = {name: sum(group.values()) for name, group in self._sample().items()}
        self.busy0, self.wall0 = self._busy(), time.perf_counter()
        self.log0 = self.persist_log.stat().st_size

    def report(self) -> None:
        # A pool child replaced meanwhile is in its parent's children_* times once reaped.
        used = {
            name: sum(group.values()) - self.before[name] for name, group in self._sample().items()
        }
        wall = time.perf_counter() - self.wall0
        used["other"] = max(0.0, self._busy() - self.busy0 - sum(used.values()))
        parts = ", ".join(f"{name} {cpu:.1f}" for name, cpu in used.items())
        print(f"    cpu s over {wall:.1f} s ({os.cpu_count()} cores): {parts}")
        with open(self.persist_log, "rb") as log:
            log.seek(self.log0)
            batches = [m.groups() for m in PERSISTED.finditer(log.read())]
        if batches:
            outcomes = sum(int(b[0]) for b in batches)
            rows = sum(int(b[2]) for b in batches)
            ms = [float(b[4]) for b in batches]
            print(
                f"    persist: {len(batches)} transactions, {outcomes / len(batches):.0f} "
                f"outcomes / {rows / len(batches):,.0f} rows each, {statistics.mean(ms):.0f} ms "
                f"mean (max {max(ms):.0f}), {sum(ms) / 1000:.1f} s in transactions"
            )


def children_of(worker: Worker) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        if worker.process is None:
            return []
        with contextlib.suppress(psutil.Error):
            main = psutil.Process(worker.process.pid)
            return [main.pid, *(child.pid for child in main.children(recursive=True))]
        return []

    return pids


# --- the phases -----------------------------------------------------------------------------
