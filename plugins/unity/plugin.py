"""The `unity` plugin: Unity's own health as metrics — plugins, schedule, queues, dead letters."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from unity_plugins.unity import broker, database

from unity_core.config import Settings, load_settings
from unity_core.errors import StorageError
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin
from unity_core.storage import make_engine, translate_errors

GAUGE, COUNTER = MetricType.GAUGE, MetricType.COUNTER


#: A metric that cannot go below 0; a percent one stops at 100, a boolean one at 1.
_spec = MetricSpec.non_negative


_PLUGIN = ("plugin",)
_WORKER = ("worker", "worker_host")

METRICS = (
    _spec("lateness_seconds", "seconds", GAUGE, "how long a due plugin waits for beat", *_PLUGIN),
    _spec("consecutive_failures", "count", GAUGE, "failed slots since the last success", *_PLUGIN),
    _spec("errors_total", "count", COUNTER, "failed runs since registration", *_PLUGIN),
    _spec("rejected_total", "count", COUNTER, "metrics refused by validation", *_PLUGIN),
    _spec("collection_duration_ms", "ms", GAUGE, "how long its last run took", *_PLUGIN),
    _spec("up", "boolean", GAUGE, "1 when healthy (ok, degraded), else 0", *_PLUGIN, maximum=1),
    _spec("plugins_enabled", "count", GAUGE, "enabled plugin instances"),
    _spec("plugins_failing", "count", GAUGE, "enabled instances whose last run failed"),
    _spec("plugins_paused", "count", GAUGE, "enabled instances paused after repeated failures"),
    _spec("reachable", "boolean", GAUGE, "0: no live worker takes its queue", *_PLUGIN, maximum=1),
    _spec("plugins_unreachable", "count", GAUGE, "enabled pinned instances no live worker serves"),
    _spec("workers_alive", "count", GAUGE, "workers whose heartbeat is recent"),
    _spec("workers_silent", "count", GAUGE, "workers whose heartbeat stopped"),
    _spec("worker_heartbeat_age_seconds", "seconds", GAUGE, "since its last heartbeat", *_WORKER),
    _spec("queue_depth", "messages", GAUGE, "messages waiting in a broker queue", "queue"),
    _spec("dlq_depth", "messages", GAUGE, "outcomes waiting in the dead-letter store"),
    _spec("batches_written", "count", GAUGE, "persist batches committed in the last interval"),
    _spec("batch_write_ms_avg", "ms", GAUGE, "average time to write and commit a batch"),
    _spec("batch_write_ms_max", "ms", GAUGE, "slowest batch write in the last interval"),
    _spec("batch_rows_avg", "rows", GAUGE, "average rows per persist batch"),
)


class UnityConfig(Schema):
    broker_timeout = fields.Float(
        load_default=2.0,
        validate=validate.Range(min=0.1, max=10),
        metadata={"description": "Seconds to wait for the broker's Redis before giving up."},
    )
    late_after = fields.Float(
        load_default=60.0,
        validate=validate.Range(min=0),
        metadata={"description": "Seconds behind schedule before the summary calls a plugin late."},
    )


def _now() -> datetime:
    return datetime.now(UTC)


class UnityPlugin(Plugin):
    """Monitors the monitor: reads Unity's own database and broker. Enabled by default."""

    id = "unity"
    name = "Unity"
    version = "1.0.0"
    description = (
        "Unity's own health: per-plugin lateness, failures, rejects and run time; queue and "
        "dead-letter depth; persist batch write latency."
    )
    config_schema = UnityConfig
    metrics = METRICS

    _settings: Settings | None = None
    _engine: Engine | None = None

    def setup(self) -> None:
        # The configuration the process runs with (UNITY_CONFIG): a ConfigError fails the run,
        # since without it there is nothing to look at.
        settings = load_settings()
        db = settings.database
        self._settings = settings
        self._engine = make_engine(
            db.url, pool_size=1, max_overflow=0, connect_timeout=min(db.connect_timeout, 10)
        )

    def teardown(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def collect_data(self, acc: Accumulator) -> None:
        now = _now()
        queues = set(broker.DEFAULT_QUEUES)
        try:
            self._database(acc, now, queues)
        except StorageError as error:
            # Down, or not Unity's schema: one error, and the broker is still measured.
            acc.error(error, item="database")
        self._broker(acc, queues)

    def summary(self, collection: Collection) -> str:
        totals = {
            m.name: int(m.value)
            for m in collection.metrics
            if m.name.startswith("plugins_") and isinstance(m.value, int | float)
        }
        parts = []
        if "plugins_enabled" in totals:
            enabled = totals["plugins_enabled"]
            health = f"{enabled} plugin{'s' if enabled != 1 else ''} enabled"
            health += f", {totals.get('plugins_failing', 0)} failing"
            health += f", {totals.get('plugins_paused', 0)} paused"
            late_after = float(self.config.get("late_after", 60.0))
            late = sum(
                1
                for m in collection.metrics
                if m.name == "lateness_seconds" and _number(m.value) > late_after
            )
            parts.append(health + (f", {late} late" if late else ""))
        depths = {
            m.tags.get("queue", "?"): int(m.value)
            for m in collection.metrics
            if m.name == "queue_depth" and isinstance(m.value, int | float)
        }
        if depths:
            ordered = [q for q in broker.DEFAULT_QUEUES if q in depths]
            ordered += sorted(q for q in depths if q not in broker.DEFAULT_QUEUES)
            parts.append("queues: " + ", ".join(f"{q} {depths[q]}" for q in ordered))
        dlq = collection.first("dlq_depth")
        if isinstance(dlq, int | float):
            parts.append("DLQ empty" if dlq == 0 else f"DLQ {int(dlq)}")
        written = collection.first("batches_written")
        average = collection.first("batch_write_ms_avg")
        if isinstance(written, int | float) and isinstance(average, int | float):
            parts.append(f"{int(written)} batches written, {average:.0f} ms average")
        return "; ".join(parts) or "no Unity figures collected"

    def _database(self, acc: Accumulator, now: datetime, queues: set[str]) -> None:
        """Report plugin and batch figures; add the queues plugins are routed to to `queues`.

        Stops at the first failure (StorageError): what was read before it is kept.
        """
        assert self._engine is not None and self._settings is not None, "setup() not run"
        collection = self._settings.collection
        with translate_errors("connecting to the database"), self._engine.connect() as connection:
            # A plain BEGIN on SQLite: these are reads and must not queue behind writers.
            connection.execution_options(sqlite_deferred=True)
            with Session(bind=connection) as session:
                report = database.plugin_report(session, now, collection)
                self._plugins(acc, report)
                queues |= report.queues
                window = database.own_window(session, self.instance_id, now, collection)
                batches = database.batch_figures(session, self.id, now - window)
                if batches is not None:
                    self._batches(acc, batches)

    def _plugins(self, acc: Accumulator, report: database.PluginReport) -> None:
        for plugin_id, problem in sorted(report.invalid.items()):
            acc.error(f"cannot schedule: {problem}", item=f"plugin {plugin_id}")
        for figures in report.plugins:
            tags = {"plugin": figures.plugin_id}
            acc.add_gauge("lateness_seconds", figures.lateness, tags, unit="seconds")
            acc.add_gauge("consecutive_failures", figures.consecutive_failures, tags, unit="count")
            acc.add_counter("errors_total", figures.error_count, tags, unit="count")
            acc.add_counter("rejected_total", figures.rejected_count, tags, unit="count")
            if figures.last_duration_ms is not None:
                duration = round(figures.last_duration_ms, 3)
                acc.add_gauge("collection_duration_ms", duration, tags, unit="ms")
            acc.add_gauge("up", 1 if figures.up else 0, tags, unit="boolean")
            reachable = figures.health != database.UNREACHABLE
            acc.add_gauge("reachable", 1 if reachable else 0, tags, unit="boolean")
        health = [figures.health for figures in report.plugins]
        acc.add_gauge("plugins_enabled", len(health), unit="count")
        acc.add_gauge("plugins_failing", health.count(database.FAILING), unit="count")
        acc.add_gauge("plugins_paused", health.count(database.PAUSED), unit="count")
        acc.add_gauge("plugins_unreachable", health.count(database.UNREACHABLE), unit="count")
        self._workers(acc, report.workers)

    def _workers(self, acc: Accumulator, workers: list[database.WorkerPresence]) -> None:
        for worker in workers:
            tags = {"worker": worker.name, "worker_host": worker.host}
            age = round(worker.age_seconds, 3)
            acc.add_gauge("worker_heartbeat_age_seconds", age, tags, unit="seconds")
        alive = sum(1 for worker in workers if worker.alive)
        acc.add_gauge("workers_alive", alive, unit="count")
        acc.add_gauge("workers_silent", len(workers) - alive, unit="count")

    def _batches(self, acc: Accumulator, figures: database.BatchFigures) -> None:
        acc.add_gauge("batches_written", figures.batches, unit="count")
        if figures.write_ms_avg is not None:
            acc.add_gauge("batch_write_ms_avg", figures.write_ms_avg, unit="ms")
        if figures.write_ms_max is not None:
            acc.add_gauge("batch_write_ms_max", figures.write_ms_max, unit="ms")
        if figures.rows_avg is not None:
            acc.add_gauge("batch_rows_avg", figures.rows_avg, unit="rows")

    def _broker(self, acc: Accumulator, queues: set[str]) -> None:
        assert self._settings is not None, "setup() not run"
        where = broker.broker_of(self._settings)
        if where.kind == "redis" and where.redis_url is not None:
            self._redis(acc, where.redis_url, queues)
            return
        try:
            if where.kind == "filesystem":
                depths = broker.file_queue_depths(where.queue_folder, queues)
                for queue, depth in sorted(depths.items()):
                    acc.add_gauge("queue_depth", depth, {"queue": queue}, unit="messages")
            else:
                acc.error(f"queue depth is not measured on {where.kind}:// brokers", item="broker")
            # Dead letters go to the spool whenever the broker is not Redis (dlq_for).
            acc.add_gauge("dlq_depth", broker.spool_dlq_depth(where.dlq_folder), unit="messages")
        except OSError as error:  # a folder this user may not read
            acc.error(error, item="broker")

    def _redis(self, acc: Accumulator, url: str, queues: set[str]) -> None:
        import redis

        client = broker.redis_client(url, float(self.config.get("broker_timeout", 2.0)))
        doing = "reading queue depths"
        try:
            depths = broker.redis_queue_depths(client, queues | broker.redis_host_queues(client))
            for queue, depth in sorted(depths.items()):
                acc.add_gauge("queue_depth", depth, {"queue": queue}, unit="messages")
            doing = f"reading the dead-letter stream {broker.DLQ_STREAM}"
            acc.add_gauge("dlq_depth", broker.redis_dlq_depth(client), unit="messages")
        except redis.RedisError as error:
            acc.error(f"{doing}: {error}", item="broker")
        finally:
            with contextlib.suppress(redis.RedisError):
                client.close()


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
