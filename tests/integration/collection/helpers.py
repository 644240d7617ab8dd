"""Shared by the collection tests: a small plugin, its instance, outcomes built without a worker."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from unity_core.collection import Outcome, collect_once, failure_outcome
from unity_core.config.settings import CollectionSettings, DatabaseSettings, Settings
from unity_core.plugins.registry import PluginInstance
from unity_core.plugins.sdk import Accumulator, Collection, Metric, MetricSpec, MetricType, Plugin
from unity_core.storage.engine import make_sessionmaker
from unity_core.storage.models import PluginMetric

#: A recent slot: explicit metric times are checked against the wall clock.
SLOT = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
MINUTE = timedelta(minutes=1)


class Sensors(Plugin):
    """Reports what its config says: {"readings": [[name, value, tags], ...], "fail": bool}."""

    id = "sensors"
    name = "Sensors"
    version = "2.0.1"
    metrics = (
        MetricSpec("temperature", unit="celsius", minimum=-50, maximum=150),
        MetricSpec("rx_bytes", unit="B", type=MetricType.COUNTER),
    )

    def collect_data(self, acc: Accumulator) -> None:
        if self.config.get("fail"):
            raise OSError("sensor bus unplugged")
        for name, value, tags in self.config.get("readings", []):
            acc.add_gauge(name, value, tags)

    def summary(self, collection: Collection) -> str:
        return f"{len(collection.values('temperature'))} temperatures read"


def instance(plugin_id: str = "sensors", **changes: Any) -> PluginInstance:
    fields: dict[str, Any] = {
        "plugin_id": plugin_id,
        "plugin": "sensors",
        "name": "Sensors",
        "enabled": True,
        "config": {},
        "interval": 60,
        "cron": None,
        "timezone": "UTC",
        "timeout": 5.0,
        "retry_count": 0,
        "retry_delay": 1.0,
        "retry_backoff": 2.0,
        "queue": None,
        "tags": {},
    }
    fields.update(changes)
    return PluginInstance(**fields)


def settings(**collection: Any) -> Settings:
    return Settings(
        data_dir=Path("data"),
        database=DatabaseSettings(url="sqlite://"),
        collection=CollectionSettings(**{"host": "box", "environment": "test", **collection}),
    )


def stub_run(metrics: Sequence[Metric], errors: Sequence[str] = ()) -> Any:
    """A run function returning a fixed collection (what run_plugin would have produced)."""

    def run(plugin: Plugin, slot_time: datetime, *, timeout: float) -> Collection:
        return Collection(plugin.instance_id, slot_time, list(metrics), list(errors), 3.0)

    return run


def good(
    slot: datetime = SLOT,
    plugin_id: str = "sensors",
    *,
    temps: Sequence[float] = (20.0,),
    bad: int = 0,
    errors: Sequence[str] = (),
    worker: str = "w1",
    attempt: int = 0,
) -> Outcome:
    """A successful outcome: one temperature per value (tag i), `bad` out-of-range readings."""
    metrics = [Metric("temperature", t, {"i": str(i)}) for i, t in enumerate(temps)]
    metrics += [Metric("temperature", 999.0, {"bad": str(i)}) for i in range(bad)]
    return collect_once(
        instance(plugin_id),
        Sensors(instance_id=plugin_id),
        slot,
        worker_host=worker,
        settings=settings(),
        attempt=attempt,
        run=stub_run(metrics, errors),
    )


def failed(
    slot: datetime = SLOT, plugin_id: str = "sensors", *, error: str = "boom", attempt: int = 0
) -> Outcome:
    return failure_outcome(
        instance(plugin_id), slot, OSError(error), worker_host="w1", attempt=attempt
    )


@contextmanager
def session_on(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        yield session


def metric_count(engine: Engine, **where: Any) -> int:
    query = select(func.count()).select_from(PluginMetric)
    for name, value in where.items():
        query = query.where(getattr(PluginMetric, name) == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
