"""Prometheus text exposition → typed samples, shared by the prometheus and exec plugins.

Parsing is prometheus_client's (`prometheus_client.parser`); this module decides what a
sample becomes in Unity: counters stay counters, histograms and summaries are split into
their `_sum`/`_count` counters (plus `_bucket` counters tagged `le` when asked, and summary
quantiles as gauges tagged `quantile`), everything else is a gauge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from unity_core.plugins.sdk import Accumulator, MetricType

__all__ = ["ExpositionError", "Sample", "emit", "parse_exposition"]

GAUGE, COUNTER = MetricType.GAUGE, MetricType.COUNTER
#: Name suffixes (Prometheus naming conventions) -> the unit Unity records.
_UNIT_SUFFIXES = {
    "_seconds": "seconds",
    "_bytes": "bytes",
    "_celsius": "celsius",
    "_volts": "volts",
    "_amperes": "amperes",
    "_joules": "joules",
    "_watts": "watts",
    "_hertz": "hertz",
    "_ratio": "ratio",
    "_percent": "percent",
    "_packets": "packets",
}
#: Families whose `<name>_created` companion is only a creation timestamp, not a reading.
_HAS_CREATED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})


class ExpositionError(ValueError):
    """The text is not Prometheus exposition format; the message quotes what broke."""


@dataclass(frozen=True)
class Sample:
    """One finite value of one series, typed for Unity."""

    name: str
    family: str
    value: float | int
    labels: dict[str, str]
    type: MetricType
    unit: str | None
    time: datetime | None


def parse_exposition(text: str, *, buckets: bool = False) -> list[Sample]:
    """Every finite sample in `text`; ExpositionError when the text cannot be parsed.

    NaN and ±Inf values are skipped: Unity stores finite numbers only (an idle summary's
    quantiles are NaN). Histogram buckets are kept only with `buckets=True`, since each one
    is a series of its own and an application may expose hundreds.
    """
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError, TypeError) as error:
        raise ExpositionError(f"not Prometheus text format: {error}") from None
    with_created = {f.name for f in families if f.type in _HAS_CREATED}
    samples: list[Sample] = []
    for family in families:
        if family.name.endswith("_created") and family.name[: -len("_created")] in with_created:
            continue
        for raw in family.samples:
            number = float(raw.value)
            if not math.isfinite(number) or raw.name == f"{family.name}_created":
                continue
            if not buckets and raw.name == f"{family.name}_bucket":
                continue
            samples.append(
                Sample(
                    name=raw.name,
                    family=family.name,
                    value=int(number) if number.is_integer() else number,
                    labels=dict(raw.labels),
                    type=_sample_type(family.type, family.name, raw.name),
                    unit=_unit(family.name, family.unit, raw.name),
                    time=_time(raw.timestamp),
                )
            )
    return samples


def emit(acc: Accumulator, sample: Sample, tags: dict[str, str]) -> None:
    """Add `sample` to `acc` as its type says, under `tags`."""
    if sample.type is COUNTER:
        acc.add_counter(sample.name, sample.value, tags, unit=sample.unit, time=sample.time)
    else:
        acc.add_gauge(sample.name, sample.value, tags, unit=sample.unit, time=sample.time)


def _sample_type(family_type: str, family: str, name: str) -> MetricType:
    if family_type == "counter":
        return COUNTER
    if family_type in ("histogram", "gaugehistogram", "summary"):
        # _sum, _count and _bucket only grow (gauge histograms aside); quantiles are readings.
        if name in (f"{family}_sum", f"{family}_count", f"{family}_bucket"):
            return GAUGE if family_type == "gaugehistogram" else COUNTER
        return GAUGE
    return GAUGE


def _unit(family: str, declared: str, name: str) -> str | None:
    if name.endswith(("_count", "_bucket")) and name != family:
        return "count"
    if declared:
        return declared
    base = family.removesuffix("_total")
    for suffix, unit in _UNIT_SUFFIXES.items():
        if base.endswith(suffix):
            return unit
    return None


def _time(timestamp: object) -> datetime | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(float(timestamp), UTC)  # type: ignore[arg-type]
