"""Worker processes, deployments and database probes for the worker tests (see conftest.py).

A `Deployment` is a YAML configuration in a tmp folder (UNITY_CONFIG), a plugins folder with
its test plugins and the registry synchronised into the test database; it starts worker
processes with the command lines `unity worker` uses, sends tasks with a plain Celery
client (JSON, no Unity app state in the test process), and probes the broker and database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from celery import Celery
from sqlalchemy import select, text

from unity_core.collection import collect_once, encode_outcome
from unity_core.config import Settings, load_settings
from unity_core.plugins.registry import discover, get_instance, instantiate, sync_registry
from unity_core.storage import make_engine, make_sessionmaker
from unity_core.storage.models import PluginMetric
from unity_workers.outcome_stream import STREAM as OUTCOME_STREAM
from unity_workers.processes import worker_commands

ROOT = Path(__file__).resolve().parents[3]
QUEUE_KEYS = ("collect", "persist", "maintenance")


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}", pytrace=False)
        time.sleep(interval)


@dataclass
class WorkerProcess:
    """One `celery worker` subprocess in its own process group, logging to a file."""

    role: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> WorkerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def wait_ready(self, timeout: float = 30) -> WorkerProcess:
        wait_for(lambda: self._ready() or self._died(), timeout, f"{self.role} worker ready")
        if self._died():
            pytest.fail(f"{self.role} worker exited at start:\n{self.tail()}", pytrace=False)
        return self

    def _ready(self) -> bool:
        return b" ready." in self.log.read_bytes() if self.log.exists() else False

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children) at once."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        """Ask for a warm shutdown (SIGTERM to the main process); see stop()."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM), SIGKILL of the whole group if it does not end in time."""
        if self.process is None:
            return
        self.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        if self.process.poll() is None:
            self.kill()
        else:
            # Pool children left behind by a crashed main process.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Deployment:
    """A configuration file, its plugins folder and database, and the workers running on it."""

    tmp: Path
    database_url: str
    broker_url: str
    workers: list[WorkerProcess] = field(default_factory=list)
    celery_overrides: dict[str, Any] = field(default_factory=dict)
    _client: Celery | None = None
    _instances: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.tmp / "unity.yaml"

    @property
    def plugins_dir(self) -> Path:
        return self.tmp / "plugins"

    def configure(
        self,
        *,
        database_url: str | None = None,
        visibility_timeout: int = 900,
        collection: dict[str, Any] | None = None,
        plugins: list[dict[str, Any]] | None = None,
        embedded_broker: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> Settings:
        """Write unity.yaml (rewritable between worker runs) and return its settings.

        `embedded_broker` leaves the broker URL out: kombu's filesystem transport under
        data_dir, as `unity up` runs with nothing configured.
        """
        self._instances.clear()
        broker: dict[str, Any] = {"visibility_timeout": visibility_timeout}
        if embedded_broker:
            self.broker_url = "filesystem://localhost//"
        else:
            broker["url"] = self.broker_url
        config = {
            "data_dir": str(self.tmp / "data"),
            "database": {"url": database_url or self.database_url},
            "broker": broker,
            "collection": {
                "plugins_dir": str(self.plugins_dir),
                "collection_timeout": 5,
                "batch_size": 100,
                "batch_timeout": 0.5,
                **(collection or {}),
            },
            "plugins": plugins or [],
            **(extra or {}),
        }
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return load_settings(self.config_path, environ={})

    def add_plugin(self, folder: str, source: str) -> None:
        """A plugin folder `<plugins_dir>/<folder>/plugin.py` with `source` (dedented)."""
        path = self.plugins_dir / folder
        path.mkdir(parents=True, exist_ok=True)
        (path / "plugin.py").write_text(textwrap.dedent(source), encoding="utf-8")

    def sync_registry(self, url: str | None = None) -> None:
        settings = load_settings(self.config_path, environ={})
        engine = make_engine(url or self.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                report = sync_registry(session, settings, discover(self.plugins_dir))
                assert not report.problems, report.problems
                session.commit()
        finally:
            engine.dispose()

    def instance(self, plugin_id: str) -> Any:
        """The registry entry as a worker would load it (cached; reset by configure())."""
        if plugin_id in self._instances:
            return self._instances[plugin_id]
        settings = load_settings(self.config_path, environ={})
        engine = make_engine(self.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                found = self._instances[plugin_id] = get_instance(session, plugin_id, settings)
                return found
        finally:
            engine.dispose()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNITY_")}
        env["UNITY_CONFIG"] = str(self.config_path)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        if self.celery_overrides:
            module = self.tmp / "celeryconfig_test.py"
            lines = ["from celeryconfig import *  # noqa: F403"]
            lines += [f"{key} = {value!r}" for key, value in self.celery_overrides.items()]
            module.write_text("\n".join(lines) + "\n", encoding="utf-8")
            env["PYTHONPATH"] = os.pathsep.join([str(self.tmp), env["PYTHONPATH"]])
            env["CELERY_CONFIG_MODULE"] = "celeryconfig_test"
        return env

    def start(self, *roles: str, concurrency: int = 2) -> list[WorkerProcess]:
        """Start `collect` (collect + maintenance queues) and/or `persist` workers, in
        parallel, with the command lines `unity worker` uses; return once all are ready."""
        settings = load_settings(self.config_path, environ={})
        started = []
        for role in roles:
            queues = ["collect", "maintenance"] if role == "collect" else ["persist"]
            (command,) = worker_commands(
                queues,
                concurrency=concurrency,
                batch_size=settings.collection.batch_size,
                name=f"t{os.getpid()}-{len(self.workers)}",
            )
            log = self.tmp / f"{role}-{len(self.workers)}.log"
            worker = WorkerProcess(role, [sys.executable, *command.argv[1:]], self.env(), log)
            self.workers.append(worker)
            started.append(worker.spawn())
        return [worker.wait_ready() for worker in started]

    def kill_all(self) -> None:
        """SIGKILL every worker started (teardown: a warm shutdown of an idle Celery
        worker takes ~5 s, and the broker database is flushed before the next test)."""
        for worker in self.workers:
            worker.kill()

    @property
    def client(self) -> Celery:
        if self._client is None:
            self._client = Celery("unity-test", broker=self.broker_url)
            self._client.conf.update(task_serializer="json", accept_content=["json"])
            if self.broker_url.startswith("filesystem"):
                queue = str(self.tmp / "data" / "broker" / "queue")
                self._client.conf.broker_transport_options = {
                    "data_folder_in": queue,
                    "data_folder_out": queue,
                    "control_folder": str(self.tmp / "data" / "broker" / "control"),
                }
        return self._client

    def send_collect(
        self, plugin_id: str, slot: datetime | None = None, *, snapshot: bool = True, **options: Any
    ) -> str:
        """Publish unity.collect as beat would (snapshot + slot) or as `celery call` (id only)."""
        kwargs: dict[str, Any] = {}
        if snapshot:
            kwargs = {
                "slot": (slot or datetime.now(UTC)).isoformat(),
                "instance": self.instance(plugin_id).to_dict(),
            }
        result = self.client.send_task(
            "unity.collect", args=[plugin_id], kwargs=kwargs, queue="collect", **options
        )
        return str(result.id)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.broker_url)

    def drained(self) -> bool:
        """No message queued or unacknowledged on the broker, no outcome left on the stream."""
        client = self.redis()
        try:
            queued = sum(client.llen(queue) for queue in QUEUE_KEYS)
            queued += client.xlen(OUTCOME_STREAM)
            return queued == 0 and client.hlen("unacked") == 0
        finally:
            client.close()

    def logs(self) -> str:
        return "\n\n".join(f"--- {w.role} ({w.log.name})\n{w.tail()}" for w in self.workers)


def scalar(url: str, sql: str, **params: Any) -> Any:
    """One value from the database at `url` (a fresh connection each time)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params))
    finally:
        engine.dispose()


def metric_names_at(url: str, plugin_id: str, moment: datetime) -> list[str]:
    """The metric names stored for `plugin_id` at exactly `moment`, sorted.

    Compared in Python on the aware datetimes the model returns, so the check does not
    depend on how a dialect renders a bound datetime.
    """
    query = select(PluginMetric.metric_name, PluginMetric.time).where(
        PluginMetric.plugin_id == plugin_id
    )
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return sorted(name for name, time in session.execute(query) if time == moment)
    finally:
        engine.dispose()


def collected_payload(deployment: Deployment, plugin_id: str, slot: datetime) -> dict[str, Any]:
    """An encoded outcome of one real run of `plugin_id`, made in this process (no worker)."""
    instance = deployment.instance(plugin_id)
    settings = load_settings(deployment.config_path, environ={})
    plugin = instantiate(instance, discover(deployment.plugins_dir))
    outcome = collect_once(instance, plugin, slot, worker_host="test", settings=settings)
    assert outcome.ok, outcome.error
    return encode_outcome(outcome)


#: `python -c UNITY_SCRIPT ARGS` = `unity ARGS`, with unity_workers' commands added when the
#: `unity.commands` entry points are not installed (an editable checkout before reinstalling).
UNITY_SCRIPT = (
    "import sys\n"
    "from unity_core.cli import main\n"
    "from unity_workers import cli\n"
    "for name in ('worker', 'flower', 'dlq'):\n"
    "    main.commands.setdefault(name, getattr(cli, name))\n"
    "main(sys.argv[1:])\n"
)


def run_unity(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    """`unity ARGS` in a subprocess with the deployment's configuration."""
    return subprocess.run(
        [sys.executable, "-c", UNITY_SCRIPT, *args],
        cwd=ROOT, env=deployment.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip


#: A plugin reporting three gauges; every collection gives 3 metric rows + 1 summary row.
THREE_GAUGES = """
    from unity_core.plugins.sdk import MetricSpec, Plugin


    class ThreeGauges(Plugin):
        id = "three"
        name = "Three gauges"
        metrics = (MetricSpec("a"), MetricSpec("b"), MetricSpec("c", unit="percent"))

        def collect_data(self, acc):
            acc.add_gauge("a", 1.0)
            acc.add_gauge("b", 2)
            acc.add_gauge("c", 42.5, {"disk": "sda"})
"""
ROWS_PER_RUN = 4
