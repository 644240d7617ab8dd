"""The Prometheus text exposition: latest values as gauges, and Unity's own counters.

Built per scrape from the database with prometheus_client's families (so the text is what
its parser and a Prometheus server accept). Each stored metric becomes the family
`unity_<metric_name>` with labels `plugin_id` plus the series' tags; names and label names
are sanitised to Prometheus' alphabet. Unity's own figures: failures and rejected metrics
per plugin (counters since registration, from plugin_status), health and last duration,
runs in the last hour (each run stores one `collection` row; there is no lifetime run
counter to expose), and the persist stage's `unity/batch_write_ms` samples of the last
hour as a gauge histogram of write latency.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from sqlalchemy import select
from sqlalchemy.orm import Session

from unity_core.pipeline.validate import SUMMARY_METRIC
from unity_core.status import plugin_health
from unity_core.storage import latest
from unity_core.storage.models import PluginStatus
from unity_core.storage.queries.recent import count_since, recent_values

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WRITE_LATENCY_WINDOW = timedelta(hours=1)
RUN_WINDOW = timedelta(hours=1)
#: Upper bounds of the write-latency buckets, in seconds.
WRITE_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_OWN = "unity_plugin_"
_BAD = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    cleaned = _BAD.sub("_", name)
    return f"unity_{cleaned}"


def label_name(name: str) -> str:
    cleaned = _BAD.sub("_", name)
    if not cleaned or cleaned[0].isdigit() or cleaned.startswith("__") or cleaned == "plugin_id":
        cleaned = f"tag_{cleaned}"
    return cleaned


class _Snapshot(Collector):
    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now

    def collect(self) -> Iterator[Metric]:
        yield from self._latest()
        yield from self._plugins()
        yield self._write_latency()

    def _latest(self) -> Iterable[Metric]:
        grouped: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for sample in latest(self.session):
            if sample.numeric_value is None:
                continue
            labels = {"plugin_id": sample.plugin_id}
            for key, value in sample.tags.items():
                labels.setdefault(label_name(key), str(value))
            name = metric_name(sample.metric_name)
            if name.startswith(_OWN) or name == "unity_batch_write_seconds":
                name += "_value"  # never collide with Unity's own families below
            grouped[name].append((labels, float(sample.numeric_value)))
        for name, samples in sorted(grouped.items()):
            family = GaugeMetricFamily(name, f"latest stored value of {name[6:]}")
            for labels, value in samples:
                family.samples.append(_sample(name, labels, value))
            yield family

    def _plugins(self) -> Iterable[Metric]:
        failures = CounterMetricFamily(
            "unity_plugin_failures", "failed collections per plugin", labels=["plugin_id"]
        )
        rejected = CounterMetricFamily(
            "unity_plugin_rejected_metrics", "metrics refused by validation", labels=["plugin_id"]
        )
        up = GaugeMetricFamily(
            "unity_plugin_up", "1 when enabled and healthy (ok or degraded)", labels=["plugin_id"]
        )
        duration = GaugeMetricFamily(
            "unity_plugin_last_duration_seconds", "duration of the last run", labels=["plugin_id"]
        )
        collections = CounterMetricFamily(
            "unity_plugin_collections",
            "collections stored per plugin, successful or not (since the plugin was added)",
            labels=["plugin_id"],
        )
        runs = GaugeMetricFamily(
            "unity_plugin_collections_last_hour",
            "runs stored in the last hour (each run stores one `collection` row)",
            labels=["plugin_id"],
        )
        last_success = GaugeMetricFamily(
            "unity_plugin_last_success_timestamp_seconds",
            "when the last successful run was scheduled",
            labels=["plugin_id"],
        )
        statuses = {s.plugin_id: s for s in self.session.scalars(select(PluginStatus))}
        for health in plugin_health(self.session):
            pid = health.plugin_id
            status = statuses.get(pid)
            failures.add_metric([pid], float(status.error_count if status else 0))
            collections.add_metric([pid], float(status.run_count if status else 0))
            rejected.add_metric([pid], float(status.rejected_count if status else 0))
            up.add_metric([pid], 1.0 if health.health in ("ok", "degraded") else 0.0)
            if status is not None and status.last_duration_ms is not None:
                duration.add_metric([pid], status.last_duration_ms / 1000)
            if health.last_success is not None:
                last_success.add_metric([pid], health.last_success.timestamp())
            since = self.now - RUN_WINDOW
            runs.add_metric([pid], float(count_since(self.session, pid, SUMMARY_METRIC, since)))
        return (collections, failures, rejected, up, duration, last_success, runs)

    def _write_latency(self) -> Metric:
        values = recent_values(
            self.session, "unity", "batch_write_ms", self.now - WRITE_LATENCY_WINDOW
        )
        seconds = sorted(v / 1000 for v in values)
        buckets: list[tuple[str, float]] = []
        index = 0
        for bound in WRITE_LATENCY_BUCKETS:
            while index < len(seconds) and seconds[index] <= bound:
                index += 1
            buckets.append((_bound(bound), float(index)))
        buckets.append(("+Inf", float(len(seconds))))
        return GaugeHistogramMetricFamily(
            "unity_batch_write_seconds",
            "persist batch write+commit latency over the last hour",
            buckets=buckets,
            gsum_value=sum(seconds),
        )


def _bound(value: float) -> str:
    return repr(value)


def _sample(name: str, labels: dict[str, str], value: float) -> Any:
    return Sample(name, labels, value)


def exposition(session: Session, *, now: datetime | None = None) -> bytes:
    """The whole scrape as Prometheus text format 0.0.4."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(session, now or datetime.now(UTC)))
    return generate_latest(registry)
