"""collect_once: one run of one plugin instance through the runner and the pipeline."""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from unity_core.collection.outcome import (
    MAX_ITEM_ERRORS,
    MAX_REJECTS,
    InstanceLike,
    Outcome,
    failure_outcome,
    utc,
)
from unity_core.config.settings import Settings
from unity_core.pipeline import CounterMemory, EnrichContext, Pipeline
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.sdk import Collection, Plugin

log = logging.getLogger("unity.collection")

MAX_SUMMARY = 1000
_default_pipeline = Pipeline()


class RunPlugin(Protocol):
    """The runner's signature: run_plugin, or a stand-in for tests and dry runs."""

    def __call__(self, plugin: Plugin, slot_time: datetime, *, timeout: float) -> Collection: ...


def collect_once(
    instance: InstanceLike,
    plugin: Plugin,
    slot_time: datetime,
    *,
    worker_host: str | None,
    settings: Settings,
    attempt: int = 0,
    run: RunPlugin = run_plugin,
    pipeline: Pipeline | None = None,
    counters: CounterMemory | None = None,
) -> Outcome:
    """Run `plugin` for `slot_time` and process what it reported; never raises for a bad plugin.

    The slot time is the sample time of every metric without its own, so running the same
    slot twice (redelivery, retry, a doubled dispatch) yields the same rows. A failed or
    timed-out run becomes a failure Outcome; a failing `summary()` gets a plain fallback.
    Persisting is a separate step. The only other I/O is `counters` (SharedCounters in
    the workers), where Rates exchanges counters' previous samples, once per run that has
    counters; without it no rates are derived.
    """
    slot = utc(slot_time)
    started = time.perf_counter()
    try:
        collection = run(plugin, slot, timeout=instance.timeout)
    except Exception as error:  # the runner wraps plugin errors; anything else is a bug there
        elapsed = (time.perf_counter() - started) * 1000
        log.warning("%s: collection for %s failed: %s", instance.plugin_id, slot, error)
        return failure_outcome(
            instance, slot, error, worker_host=worker_host, attempt=attempt, duration_ms=elapsed
        )
    if collection.plugin_id != instance.plugin_id:
        collection = replace(collection, plugin_id=instance.plugin_id)
    collection_settings = settings.collection
    context = EnrichContext(
        host=collection_settings.host or socket.gethostname(),
        environment=collection_settings.environment,
        worker_host=worker_host,
        tags={**collection_settings.tags, **instance.tags},
        summary=summarise(plugin, collection),
        collector_version=str(getattr(plugin, "version", "")),
    )
    try:
        result = (pipeline or _default_pipeline).process(
            collection, type(plugin), context, counters=counters
        )
    except Exception as error:  # CollectionFailed from a broken stage: record, don't crash
        return failure_outcome(
            instance,
            slot,
            error,
            worker_host=worker_host,
            attempt=attempt,
            duration_ms=collection.duration_ms,
        )
    errors = [str(error)[:500] for error in collection.errors[:MAX_ITEM_ERRORS]]
    return Outcome(
        plugin_id=instance.plugin_id,
        slot_time=slot,
        ok=True,
        rows=result.rows,
        rejects=result.rejects[:MAX_REJECTS],
        rejected=len(result.rejects),
        errors=errors,
        summary=context.summary or "",
        duration_ms=float(collection.duration_ms),
        worker_host=worker_host,
        attempt=attempt,
    )


def summarise(plugin: Plugin, collection: Collection) -> str:
    """The plugin's one-line summary, or a plain count when summary() fails or returns junk."""
    fallback = f"{len(collection.metrics)} metrics collected"
    try:
        text = plugin.summary(collection)
    except Exception as error:
        log.warning("%s: summary() failed, using a fallback: %s", collection.plugin_id, error)
        return fallback
    if not isinstance(text, str) or not text.strip():
        return fallback
    return text[:MAX_SUMMARY]
