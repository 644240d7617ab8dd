"""Metric JSON: the newest sample of each series as the design's AI ingestion document.

One document per series: timestamp, plugin_id, plugin_name, metric_name, value (the stored
JSON), tags, `summary` (the plugin's own one-sentence summary, e.g. "12 containers running,
3 stopped") and `metadata` (collection_duration_ms, collector_version, the unit).

Summary and metadata come from the plugin's newest `collection` row, which the pipeline
stores with every run (Enrich); for data without one (imported, or written by other
tools) the plugin's summary() is asked about its latest samples instead. The `collection`
rows themselves are not documents: they are what the documents' summaries say.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from unity_core.pipeline.validate import SUMMARY_METRIC
from unity_core.plugins.registry import Discovery
from unity_core.plugins.sdk import Collection, Metric
from unity_core.storage import Sample, latest
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Plugin as PluginRow
from unity_core.storage.models import PluginStatus

log = logging.getLogger("unity.ai")

#: A plugin summary longer than this is cut (it goes into prompts).
MAX_SUMMARY = 300


@dataclass(frozen=True)
class PluginFacts:
    """What the documents say about a plugin besides its samples."""

    name: str
    version: str | None
    duration_ms: float | None
    summary: str


def metric_documents(
    session: Session,
    discovery: Discovery | None,
    *,
    plugin_id: str | None = None,
    metric_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Metric JSON for the newest sample of every matching series; reads only, never commits."""
    samples = latest(session, plugin_id=plugin_id, metric_name=metric_name, tags=tags)
    everything = samples
    if metric_name is not None or tags:
        # A plugin's summary speaks of all its latest values, not only the filtered ones.
        everything = [
            s
            for pid in sorted({s.plugin_id for s in samples})
            for s in latest(session, plugin_id=pid)
        ]
    facts = plugin_summaries(session, discovery, everything)
    return [
        _document(sample, facts[sample.plugin_id])
        for sample in samples
        if sample.metric_name != SUMMARY_METRIC
    ]


def plugin_summaries(
    session: Session, discovery: Discovery | None, samples: Iterable[Sample]
) -> dict[str, PluginFacts]:
    """Name, version, last duration and summary sentence of each plugin among `samples`."""
    by_plugin: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_plugin[sample.plugin_id].append(sample)
    if not by_plugin:
        return {}
    ids = sorted(by_plugin)
    with translate_errors("reading plugin names"):
        rows = {
            r.plugin_id: r
            for r in session.scalars(select(PluginRow).where(PluginRow.plugin_id.in_(ids)))
        }
        durations = {
            pid: duration
            for pid, duration in session.execute(
                select(PluginStatus.plugin_id, PluginStatus.last_duration_ms).where(
                    PluginStatus.plugin_id.in_(ids)
                )
            )
        }
    found = {}
    for pid, group in by_plugin.items():
        row = rows.get(pid)
        name = (row.name if row else None) or pid
        stored = _stored_summary(group)
        if stored is not None:
            found[pid] = PluginFacts(
                name=name,
                version=_text(stored.get("collector_version")),
                duration_ms=_number(stored.get("collection_duration_ms")),
                summary=str(stored["summary"])[:MAX_SUMMARY],
            )
            continue
        cls = None
        if discovery is not None:
            cls = discovery.classes.get((row.plugin if row else None) or pid)
        metrics = [s for s in group if s.metric_name != SUMMARY_METRIC] or group
        found[pid] = PluginFacts(
            name=name,
            version=getattr(cls, "version", None),
            duration_ms=durations.get(pid),
            summary=_summary(cls, pid, row.config if row else None, metrics),
        )
    return found


def _stored_summary(samples: list[Sample]) -> dict[str, Any] | None:
    """The value of the newest `collection` row among `samples`, if it carries a summary."""
    rows = [s for s in samples if s.metric_name == SUMMARY_METRIC]
    if not rows:
        return None
    value = max(rows, key=lambda s: s.time).value
    if isinstance(value, dict) and isinstance(value.get("summary"), str) and value["summary"]:
        return value
    return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _summary(cls: Any, plugin_id: str, config: Any, samples: list[Sample]) -> str:
    """The plugin's own summary() of a Collection rebuilt from its latest samples."""
    newest = max(s.time for s in samples)
    collection = Collection(
        plugin_id=plugin_id,
        slot_time=newest,
        metrics=[
            Metric(
                name=s.metric_name,
                value=s.numeric_value if s.numeric_value is not None else s.value.get("value"),
                tags=dict(s.tags),
                time=s.time,
                unit=s.value.get("unit") if isinstance(s.value, dict) else None,
            )
            for s in samples
        ],
    )
    if cls is not None:
        try:
            text = str(cls(dict(config or {}), instance_id=plugin_id).summary(collection))
            return text[:MAX_SUMMARY]
        except Exception:  # a plugin's summary must never break the document
            log.debug("summary() of %s failed; using the generic one", plugin_id, exc_info=True)
    names = sorted({s.metric_name for s in samples})
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    return f"{len(samples)} series of {len(names)} metrics ({shown})"[:MAX_SUMMARY]


def _document(sample: Sample, facts: PluginFacts) -> dict[str, Any]:
    value = sample.value if isinstance(sample.value, dict) else {"value": sample.value}
    return {
        "timestamp": sample.time.isoformat(),
        "plugin_id": sample.plugin_id,
        "plugin_name": facts.name,
        "metric_name": sample.metric_name,
        "value": value,
        "tags": dict(sample.tags),
        "summary": facts.summary,
        "metadata": {
            "collection_duration_ms": facts.duration_ms,
            "collector_version": facts.version,
            "unit": value.get("unit"),
            "series_key": sample.series_key,
        },
    }
