"""data_format: prometheus — Prometheus text exposition, as the prometheus plugin reads it."""

from __future__ import annotations

from unity_plugins.exec.parsers.result import Parsed, ParseError
from unity_plugins.prometheus.exposition import ExpositionError, parse_exposition

from unity_core.plugins.sdk import Metric

__all__ = ["parse"]


def parse(text: str) -> Parsed:
    """Every finite sample; counters stay counters, histograms give their _sum and _count."""
    try:
        samples = parse_exposition(text)
    except ExpositionError as error:
        raise ParseError(str(error)) from None
    metrics = [Metric(s.name, s.value, dict(s.labels), s.time, s.type, s.unit) for s in samples]
    return Parsed(metrics)
