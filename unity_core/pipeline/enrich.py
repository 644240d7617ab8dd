"""Enrich: context tags on every row, and the run's summary row with its collection metadata."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from unity_core.pipeline.stage import Batch, Stage
from unity_core.pipeline.validate import SUMMARY_METRIC
from unity_core.storage.batch import MetricRow

log = logging.getLogger("unity.pipeline")

#: Per-item errors copied into the summary row; the rest are counted only.
MAX_SUMMARY_ERRORS = 20
MAX_ERROR_TEXT = 500


@dataclass(frozen=True)
class EnrichContext:
    """Where and how a run happened: what Enrich adds to its rows.

    Tags, lowest precedence first: host, environment, then `tags` (the global
    `collection.tags` already overlaid with the instance's tags), then each metric's own.
    When `summary` is not None, Enrich adds one row named "collection" at the slot time
    holding the summary and the run's metadata, `worker_host` included.

    `worker_host` goes on every row (`MetricRow.worker_host`, its own column), not into
    the tags: tags are part of a series' identity, so a worker tag would give a task
    redelivered to another worker (or a doubled dispatch) a second series, and a second
    sample of the same slot. Queries show it next to the tags.
    `now` pins the wall clock for the time checks (tests); None means the real one.
    """

    host: str
    environment: str = ""
    worker_host: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    summary: str | None = None
    collector_version: str = ""
    now: datetime | None = None

    def base_tags(self) -> dict[str, str]:
        """The tags every row of the run carries unless the metric overrides them."""
        base: dict[str, str] = {"host": self.host}
        if self.environment:
            base["environment"] = self.environment
        base.update(self.tags)
        return base


class Enrich(Stage):
    """Builds the storage rows: context tags merged under each metric's own, plus the summary."""

    name = "Enrich"

    def process(self, batch: Batch) -> Batch:
        context = batch.context
        base = context.base_tags()
        plugin_id = batch.collection.plugin_id
        worker = context.worker_host
        rows = batch.rows
        for draft in batch.drafts:
            try:
                tags = {**base, **draft.tags} if draft.tags else base
                assert draft.time is not None and draft.payload is not None
                rows.append(
                    MetricRow(
                        draft.time,
                        plugin_id,
                        draft.name,
                        draft.payload,
                        draft.numeric,
                        tags,
                        worker,
                    )
                )
            except Exception as error:
                log.exception("%s: stage Enrich failed on metric %r", plugin_id, draft.name)
                batch.reject(draft, f"Enrich failed: {type(error).__name__}: {error}")
        batch.drafts = []
        if context.summary is not None:
            rows.append(
                MetricRow(
                    batch.slot_time,
                    plugin_id,
                    SUMMARY_METRIC,
                    summary_value(batch),
                    None,
                    base,
                    worker,
                )
            )
        return batch


def summary_value(batch: Batch) -> dict[str, Any]:
    """The summary row's value: the design's AI metadata plus what the run produced."""
    collection, context = batch.collection, batch.context
    errors = [str(error)[:MAX_ERROR_TEXT] for error in collection.errors[:MAX_SUMMARY_ERRORS]]
    value: dict[str, Any] = {
        "summary": context.summary,
        "collection_duration_ms": round(float(collection.duration_ms), 3),
        "collector_version": context.collector_version,
        "metrics": len(batch.rows),
        "rejected": len(batch.rejects),
        "errors": errors,
    }
    if len(collection.errors) > MAX_SUMMARY_ERRORS:
        value["errors_total"] = len(collection.errors)
    if context.worker_host:
        value["worker_host"] = context.worker_host
    return value
