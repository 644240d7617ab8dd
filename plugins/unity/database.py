"""What the database says about Unity itself: each enabled plugin's health and lateness, and
the persist stage's recent batch writes.

Lateness is the scheduler's own view (unity_core.storage.schedule.plan_schedule), not a
stored timestamp: a plugin is late when beat should already have dispatched it, by how long
ago it became due. The stored `schedule_state.next_due` is not used because it is written at
dispatch, before the run's outcome: a plugin that then fails is backed off, and its old
`next_due` would read as lateness while the scheduler is deliberately waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from unity_core.config.settings import CollectionSettings
from unity_core.presence import UNREACHABLE, WorkerPresence, unreachable_plugins, worker_presence
from unity_core.scheduling import due_after, latest_slot_at_or_before, schedule_for, slot_length
from unity_core.storage import translate_errors
from unity_core.storage.models import MetricSeries, Plugin, PluginMetric, PluginStatus
from unity_core.storage.schedule import DueEntry, plan_schedule

#: plugin_status.health_status values under which a plugin counts as up.
UP_HEALTH = frozenset({"ok", "degraded"})
FAILING, PAUSED, UNKNOWN = "failing", "paused", "unknown"
#: Rows the persist stage may write under the built-in instance's id, one per committed batch.
BATCH_WRITE_MS, BATCH_ROWS = "batch_write_ms", "batch_rows"


@dataclass(frozen=True)
class PluginFigures:
    """One enabled plugin instance as its status row and the scheduler see it."""

    plugin_id: str
    #: plugin_status.health_status, or "unknown" before its first run.
    health: str
    consecutive_failures: int
    error_count: int
    rejected_count: int
    last_duration_ms: float | None
    #: Seconds since it became due without being dispatched; 0 when not due (or paused).
    lateness: float

    @property
    def up(self) -> bool:
        return self.health in UP_HEALTH


@dataclass
class PluginReport:
    """Every enabled plugin, the queues they are routed to, and rows with unusable timing."""

    plugins: list[PluginFigures] = field(default_factory=list)
    queues: set[str] = field(default_factory=set)
    #: Every worker that announced itself (unity_core.presence), alive or silent.
    workers: list[WorkerPresence] = field(default_factory=list)
    #: plugin_id -> why its interval, cron expression or time zone cannot be scheduled.
    invalid: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchFigures:
    """The persist stage's batch writes in a window: how many, how slow, how full."""

    batches: int
    write_ms_avg: float | None
    write_ms_max: float | None
    rows_avg: float | None


def plugin_report(session: Session, now: datetime, collection: CollectionSettings) -> PluginReport:
    """Health, counters and lateness of every enabled plugin, ordered by id. Read only."""
    with translate_errors("reading plugin status"):
        rows = session.execute(
            select(Plugin.plugin_id, Plugin.queue, PluginStatus)
            .outerjoin(PluginStatus, PluginStatus.plugin_id == Plugin.plugin_id)
            .where(Plugin.enabled == true())
            .order_by(Plugin.plugin_id)
        ).all()
        plan = plan_schedule(session, now, collection)
        workers = worker_presence(session, now)
        unreachable = unreachable_plugins(session, workers)
    late = {entry.plugin_id: _lateness(entry, now, collection) for entry in plan.due}
    report = PluginReport(invalid=dict(plan.invalid), workers=workers)
    for plugin_id, queue, status in rows:
        if queue:
            report.queues.add(str(queue))
        report.plugins.append(
            PluginFigures(
                plugin_id=plugin_id,
                health=UNREACHABLE
                if plugin_id in unreachable
                else (status.health_status if status else None) or UNKNOWN,
                consecutive_failures=(status.consecutive_failures if status else 0) or 0,
                error_count=(status.error_count if status else 0) or 0,
                rejected_count=(status.rejected_count if status else 0) or 0,
                last_duration_ms=status.last_duration_ms if status else None,
                lateness=late.get(plugin_id, 0.0),
            )
        )
    return report


def _lateness(entry: DueEntry, now: datetime, collection: CollectionSettings) -> float:
    """How long `entry` has been due: since its backed-off next slot, or since the slot it is
    due for when it was never dispatched (a lower bound: when it was enabled is not known)."""
    if entry.last_slot is None:
        became_due = entry.slot
    else:
        backoff = entry.plugin.retry_backoff or collection.retry_backoff
        became_due = due_after(entry.schedule, entry.last_slot, entry.consecutive_failures, backoff)
    return round(max(0.0, (now - became_due).total_seconds()), 3)


def own_window(
    session: Session, plugin_id: str, now: datetime, collection: CollectionSettings
) -> timedelta:
    """The length of one slot of instance `plugin_id` (its interval, or its cron gap now).

    Batch figures cover this window, so consecutive runs cover time once. Falls back to the
    default interval when the row is missing or its timing is unusable.
    """
    default = timedelta(seconds=collection.default_interval)
    with translate_errors("reading the unity plugin's schedule"):
        row = session.execute(
            select(Plugin.interval_seconds, Plugin.cron, Plugin.timezone).where(
                Plugin.plugin_id == plugin_id
            )
        ).first()
    if row is None:
        return default
    try:
        schedule = schedule_for(
            plugin_id,
            interval=row.interval_seconds,
            cron=row.cron,
            timezone=row.timezone,
            default_interval=collection.default_interval,
        )
        slot = latest_slot_at_or_before(schedule, now)
    except ValueError:
        return default
    return default if slot is None else slot_length(schedule, slot)


def batch_figures(session: Session, owner: str, since: datetime) -> BatchFigures | None:
    """The persist stage's `batch_write_ms` / `batch_rows` rows of `owner` after `since`.

    None when the persist stage has never written any (it may not record them at all);
    zero batches when it has, but none in the window.
    """
    with translate_errors("reading batch write figures"):
        found = session.execute(
            select(
                PluginMetric.metric_name,
                func.count(PluginMetric.numeric_value),
                func.avg(PluginMetric.numeric_value),
                func.max(PluginMetric.numeric_value),
            )
            .where(
                PluginMetric.plugin_id == owner,
                PluginMetric.metric_name.in_((BATCH_WRITE_MS, BATCH_ROWS)),
                PluginMetric.time > since,
            )
            .group_by(PluginMetric.metric_name)
        ).all()
        stats = {name: (int(count), _float(avg), _float(top)) for name, count, avg, top in found}
        if BATCH_WRITE_MS not in stats:
            known = session.execute(
                select(MetricSeries.series_key)
                .where(MetricSeries.plugin_id == owner, MetricSeries.metric_name == BATCH_WRITE_MS)
                .limit(1)
            ).first()
            return None if known is None else BatchFigures(0, None, None, None)
    batches, write_avg, write_max = stats[BATCH_WRITE_MS]
    rows_avg = stats[BATCH_ROWS][1] if BATCH_ROWS in stats else None
    return BatchFigures(batches, write_avg, write_max, rows_avg)


def _float(value: Any) -> float | None:
    # MariaDB returns AVG() as a Decimal.
    return None if value is None else round(float(value), 3)
