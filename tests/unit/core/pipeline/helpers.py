"""Shared by the pipeline tests: a plugin with declared metrics and a one-call pipeline run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from unity_core.pipeline import EnrichContext, Pipeline, PipelineResult
from unity_core.plugins.sdk import Accumulator, Collection, Metric, MetricSpec, MetricType, Plugin

SLOT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NOW = SLOT


class Declared(Plugin):
    """Declares a gauge with a range, a counter, a percent gauge, a text gauge and a mapping."""

    id = "declared"
    name = "Declared"
    metrics = (
        MetricSpec("temperature", unit="celsius", minimum=-50, maximum=150),
        MetricSpec("bytes_sent", unit="B", type=MetricType.COUNTER),
        MetricSpec("cpu_percent", unit="%", minimum=0, maximum=100),
        MetricSpec("state"),
        MetricSpec("containers"),
        MetricSpec("latency", unit="ms"),
        MetricSpec("up"),
    )

    def collect_data(self, acc: Accumulator) -> None:
        raise AssertionError("the pipeline tests build their collections directly")


class Dynamic(Declared):
    id = "dynamic"
    dynamic_metrics = True


def context(**changes: Any) -> EnrichContext:
    fields: dict[str, Any] = {"host": "box", "environment": "test", "now": NOW}
    fields.update(changes)
    return EnrichContext(**fields)


def run(
    metrics: Sequence[object],
    *,
    plugin: type[Plugin] = Declared,
    ctx: EnrichContext | None = None,
    errors: Sequence[str] = (),
    pipeline: Pipeline | None = None,
) -> PipelineResult:
    """The default pipeline over a collection of `metrics` at SLOT (no summary row unless asked)."""
    collection = Collection(plugin.id, SLOT, list(metrics), list(errors), 12.5)  # type: ignore[arg-type]
    return (pipeline or Pipeline()).process(collection, plugin, ctx or context())


def gauge(name: str, value: Any, **fields: Any) -> Metric:
    return Metric(name, value, **fields)


def counter(name: str, value: Any, **fields: Any) -> Metric:
    return Metric(name, value, type=MetricType.COUNTER, **fields)
