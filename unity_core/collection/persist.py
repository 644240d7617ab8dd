"""persist_outcomes and after_commit: many outcomes into one transaction, then into the cache."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from unity_core.cache import Cache, NullCache, latest_entry
from unity_core.collection.outcome import Outcome
from unity_core.collection.status import StatusState, apply_outcome, lock_states, save_states
from unity_core.config import defaults
from unity_core.pipeline.validate import MAX_NAME, SUMMARY_METRIC
from unity_core.storage.batch import MetricRow
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import MetricReject, PluginMetric
from unity_core.storage.write import write_batch

log = logging.getLogger("unity.collection")

#: Rejects stored per plugin per call; the rest are only counted (a plugin gone haywire
#: must not turn one batch into a thousand-row insert of the same complaint).
MAX_REJECTS_PER_PLUGIN = 100
_SLACK = timedelta(seconds=1)


@dataclass
class PersistReport:
    """What one persist_outcomes call did; `statuses` are the plugin_status rows as written."""

    outcomes: int = 0
    #: Outcomes whose summary row was already stored: a redelivered batch, a doubled dispatch.
    duplicates: int = 0
    rows_offered: int = 0
    rows_written: int = 0
    rejects_stored: int = 0
    rejects_dropped: int = 0
    statuses: dict[str, StatusState] = field(default_factory=dict)


def persist_outcomes(
    session: Session,
    outcomes: Sequence[Outcome],
    *,
    pause_after: int = defaults.PAUSE_AFTER,
    max_rejects: int = MAX_REJECTS_PER_PLUGIN,
) -> PersistReport:
    """Write the rows, rejects and plugin statuses of `outcomes` in the caller's transaction.

    Never commits. Safe to repeat: rows are idempotent, and an outcome whose summary row
    is already stored counts as a duplicate whose rows are offered again (storage keeps
    the first of each key) but which adds no reject and changes no status. Status rows
    are locked first (sorted), so concurrent persists of one plugin apply one after the
    other; outcomes of a plugin are applied in slot order. `pause_after` (the setting
    collection.pause_after; 0 = never) turns failing into paused. Raises
    StorageUnavailable / IntegrityViolation / StorageError; the caller rolls back.
    """
    ordered = sorted(outcomes, key=lambda o: (o.plugin_id, o.slot_time, o.attempt))
    report = PersistReport(outcomes=len(ordered))
    if not ordered:
        return report
    states = lock_states(session, [outcome.plugin_id for outcome in ordered])
    fresh = _not_yet_persisted(session, ordered)
    report.duplicates = len(ordered) - len(fresh)
    rows = [row for outcome in ordered for row in outcome.rows]
    report.rows_offered = len(rows)
    report.rows_written = write_batch(session, rows)
    report.rejects_stored, report.rejects_dropped = _store_rejects(session, fresh, max_rejects)
    for outcome in fresh:
        apply_outcome(states[outcome.plugin_id], outcome, pause_after=pause_after)
    save_states(session, states.values())
    report.statuses = states
    return report


def after_commit(
    cache: Cache, outcomes: Iterable[Outcome], report: PersistReport | None = None
) -> None:
    """Put the newest sample of each series and each plugin's status into the cache.

    Call only after the transaction of persist_outcomes committed. Without `report` the
    cached statuses are dropped instead (the next read goes to the database). Never
    raises: the data is safe in the database whatever the cache does.
    """
    if isinstance(cache, NullCache):
        return  # nothing would be kept: skip building an entry per written row
    try:
        latest: dict[str, dict[str, dict[str, Any]]] = {}
        newest: dict[str, datetime] = {}
        plugin_ids: set[str] = set()
        for outcome in outcomes:
            plugin_ids.add(outcome.plugin_id)
            entries = latest.setdefault(outcome.plugin_id, {})
            for row in outcome.rows:
                seen = newest.get(row.series_key)
                if seen is None or row.time > seen:
                    newest[row.series_key] = row.time
                    entries[row.series_key] = latest_entry(row)
        statuses: dict[str, dict[str, Any] | None] = {
            plugin_id: report.statuses[plugin_id].as_json()
            if report is not None and plugin_id in report.statuses
            else None
            for plugin_id in plugin_ids
        }
        cache.record_write({k: v for k, v in latest.items() if v}, statuses)
    except Exception:  # the cache facade should not raise; this is the last guard
        log.exception("updating the cache after a write failed; the data is stored")


def _summary_row(outcome: Outcome) -> MetricRow | None:
    for row in reversed(outcome.rows):  # Enrich appends it last
        if row.metric_name == SUMMARY_METRIC:
            return row
    return None


def _not_yet_persisted(session: Session, outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes whose summary row is not stored yet, each run counted once.

    A run's rows commit together, so a stored summary row means the whole outcome was
    persisted before. Failure outcomes carry no rows and are always applied.
    """
    keyed: dict[int, tuple[str, datetime]] = {}
    for index, outcome in enumerate(outcomes):
        row = _summary_row(outcome) if outcome.ok else None
        if row is not None:
            keyed[index] = row.key
    stored: set[tuple[str, datetime]] = set()
    if keyed:
        series = {key[0] for key in keyed.values()}
        times = [key[1] for key in keyed.values()]
        # A second of slack each side: on SQLite times are text, and rows written by the
        # bulk writer need not share SQLAlchemy's text format; keys are compared exactly below.
        query = select(PluginMetric.series_key, PluginMetric.time).where(
            PluginMetric.series_key.in_(series),
            PluginMetric.time >= min(times) - _SLACK,
            PluginMetric.time <= max(times) + _SLACK,
        )
        with translate_errors("checking for outcomes already persisted"):
            stored = {(key, moment) for key, moment in session.execute(query)}
    fresh: list[Outcome] = []
    for index, outcome in enumerate(outcomes):
        key = keyed.get(index)
        if key is not None:
            if key in stored:
                continue
            stored.add(key)  # a second copy in this same call is a duplicate too
        fresh.append(outcome)
    return fresh


def _store_rejects(
    session: Session, outcomes: Iterable[Outcome], max_rejects: int
) -> tuple[int, int]:
    """Insert at most `max_rejects` rejects per plugin; return (stored, dropped)."""
    taken: Counter[str] = Counter()
    dropped = 0
    params: list[dict[str, Any]] = []
    for outcome in outcomes:
        dropped += max(outcome.rejected - len(outcome.rejects), 0)
        for reject in outcome.rejects:
            if taken[outcome.plugin_id] >= max_rejects:
                dropped += 1
                continue
            taken[outcome.plugin_id] += 1
            params.append(
                {
                    "time": outcome.slot_time,
                    "plugin_id": outcome.plugin_id,
                    "metric_name": reject.metric_name[:MAX_NAME] if reject.metric_name else None,
                    "reason": reject.reason,
                    "value": _reject_value(reject.value),
                }
            )
    if params:
        with translate_errors(f"storing {len(params)} rejected metrics"):
            session.execute(insert(MetricReject), params)
    return len(params), dropped


def _reject_value(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"value": value}
