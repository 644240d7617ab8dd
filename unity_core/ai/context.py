"""The LLM context query: the series relevant to a question, summarised, within a size budget.

Relevance is lexical and cheap: words of the question (3+ letters) matched against plugin
ids and names, metric names and tag values; the plugins the caller names are always in
scope. Each chosen series is summarised over the timeframe (last, min, max, avg, samples,
trend from a least-squares fit) from the range query's auto resolution, so work per series
is bounded (≤ 2,000 points). Items are added in relevance order until the JSON of the
context would exceed `budget` characters; `truncated` then says some were left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from unity_core.ai.metric_json import PluginFacts, plugin_summaries
from unity_core.alerts.trend import classify
from unity_core.pipeline.validate import SUMMARY_METRIC
from unity_core.plugins.registry import Discovery
from unity_core.storage import Sample, latest, range_query

#: The most series one context request summarises, whatever the budget.
MAX_SERIES = 200
MIN_BUDGET = 200
MAX_BUDGET = 200_000
_WORD = re.compile(r"[a-z0-9]{3,}")
_STOP = frozenset(
    {"the", "and", "what", "whats", "how", "are", "was", "with", "for", "status", "my", "of"}
)


@dataclass(frozen=True)
class ContextQuery:
    """What the caller asks: the question, the window, optional plugins, a size budget."""

    query: str
    timeframe: timedelta
    timeframe_label: str
    plugins: tuple[str, ...] = field(default_factory=tuple)
    budget: int = 8_000

    def __post_init__(self) -> None:
        if not MIN_BUDGET <= self.budget <= MAX_BUDGET:
            raise ValueError(f"budget must be between {MIN_BUDGET} and {MAX_BUDGET} characters")
        if self.timeframe <= timedelta(0):
            raise ValueError("timeframe must be positive")


def build_context(
    session: Session, discovery: Discovery | None, ask: ContextQuery, now: datetime
) -> dict[str, Any]:
    """The design's LLM context for `ask`; reads only, never commits."""
    candidates = _candidates(session, ask)
    facts = plugin_summaries(session, discovery, candidates)
    words = set(_WORD.findall(ask.query.lower())) - _STOP
    series = [s for s in candidates if s.metric_name != SUMMARY_METRIC]
    ranked = sorted(series, key=lambda s: (-_score(s, facts, words), s.plugin_id, s.metric_name))
    context: dict[str, Any] = {
        "timeframe": ask.timeframe_label,
        "plugins": sorted({s.plugin_id for s in candidates})
        if not ask.plugins
        else list(ask.plugins),
        "relevant_metrics": [],
    }
    result = {"query": ask.query, "context": context, "truncated": False}
    size = _size(result)
    start = now - ask.timeframe
    series_stats: dict[str, dict[str, Any]] = {}
    done: set[tuple[str, str]] = set()
    for sample in ranked[:MAX_SERIES]:
        pair = (sample.plugin_id, sample.metric_name)
        if pair not in done:  # one range query per metric, only for metrics that get in
            done.add(pair)
            series_stats.update(_metric_stats(session, *pair, start, now))
        item = _item(sample, facts[sample.plugin_id], series_stats.get(sample.series_key))
        cost = _size(item) + 1
        if size + cost > ask.budget:
            result["truncated"] = True
            break
        context["relevant_metrics"].append(item)
        size += cost
    if len(ranked) > MAX_SERIES and not result["truncated"]:
        result["truncated"] = True
    return result


def _candidates(session: Session, ask: ContextQuery) -> list[Sample]:
    """The latest sample of every series in scope, `collection` rows included (for summaries)."""
    if not ask.plugins:
        return latest(session)
    found: list[Sample] = []
    for plugin_id in ask.plugins:
        found.extend(latest(session, plugin_id=plugin_id))
    return found


def _score(sample: Sample, facts: dict[str, PluginFacts], words: set[str]) -> int:
    if not words:
        return 0
    fact = facts.get(sample.plugin_id)
    haystack = " ".join(
        [
            sample.plugin_id,
            fact.name if fact else "",
            sample.metric_name,
            " ".join(f"{k} {v}" for k, v in sample.tags.items()),
        ]
    ).lower()
    return sum(1 for word in words if word in haystack)


def _metric_stats(
    session: Session, plugin_id: str, metric_name: str, start: datetime, end: datetime
) -> dict[str, dict[str, Any]]:
    """Stats over [start, end) of each series of one metric, by series_key."""
    result = range_query(
        session, plugin_id=plugin_id, metric_name=metric_name, start=start, end=end
    )
    stats: dict[str, dict[str, Any]] = {}
    for series in result.series:
        points = [(p.time, p.value) for p in series.points if p.value is not None]
        if not points:
            continue
        values = [v for _, v in points]
        stats[series.series_key] = {
            "min": round(min(values), 4),
            "max": round(max(values), 4),
            "avg": round(sum(values) / len(values), 4),
            "points": len(values),
            "resolution": result.resolution.value,
            "trend": classify(points).value,
        }
    return stats


def _item(sample: Sample, fact: PluginFacts, stats: dict[str, Any] | None) -> dict[str, Any]:
    unit = sample.value.get("unit") if isinstance(sample.value, dict) else None
    last = sample.numeric_value
    where = ", ".join(f"{k}={v}" for k, v in sample.tags.items())
    text = f"{sample.plugin_id}/{sample.metric_name}"
    if where:
        text += f" ({where})"
    if last is not None:
        text += f": {last:g}{' ' + unit if unit else ''}"
    if stats:
        text += (
            f", {stats['trend']} (min {stats['min']:g}, avg {stats['avg']:g}, max {stats['max']:g})"
        )
    details: dict[str, Any] = {"last": last if last is not None else sample.value}
    if unit:
        details["unit"] = unit
    if stats:
        details.update(stats)
    return {
        "time": sample.time.isoformat(),
        "plugin_id": sample.plugin_id,
        "metric_name": sample.metric_name,
        "tags": dict(sample.tags),
        "summary": text,
        "plugin_summary": fact.summary,
        "details": details,
    }


def _size(data: Any) -> int:
    return len(json.dumps(data, separators=(",", ":"), default=str))
