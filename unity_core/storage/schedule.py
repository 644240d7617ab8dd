"""The scheduler's database side: the beat lease, and which plugins are due for which slot.

Like the rest of storage, nothing here commits: the caller ends each unit of work. The
lease is atomic on PostgreSQL, MariaDB/MySQL and SQLite alike; what is due is computed
afresh from the registry on every call, so enabling, disabling or retiming a plugin is seen
at the next tick without any cache to invalidate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exc, insert, select, true, update
from sqlalchemy.orm import Session

from unity_core.config.settings import CollectionSettings
from unity_core.scheduling import (
    Schedule,
    due_after,
    latest_slot_at_or_before,
    next_slot_after,
    schedule_for,
    slot_length,
)
from unity_core.storage.models import Plugin, PluginStatus, SchedulerLock, ScheduleState

__all__ = [
    "PAUSED",
    "DueEntry",
    "SchedulePlan",
    "acquire_lease",
    "due_plugins",
    "lease_owner",
    "mark_dispatched",
    "plan_schedule",
    "release_lease",
]

log = logging.getLogger(__name__)

#: The health status under which a plugin is not scheduled until re-enabled or run by hand.
PAUSED = "paused"

# A released lease is left in place, expired, so the next acquirer updates instead of
# inserting (inserts are where concurrent acquirers could deadlock on InnoDB gap locks).
_RELEASED = datetime(1970, 1, 1, tzinfo=UTC)


def acquire_lease(session: Session, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease `name` until `now + ttl`; True when `owner` holds it.

    Succeeds when the lease is free, expired, or already `owner`'s. Of concurrent callers
    exactly one wins; a lost race returns False and never raises IntegrityError (the insert
    runs in a SAVEPOINT). Leases compare the callers' clocks, so hosts need NTP and `ttl`
    must exceed their skew. Never commits: the lease is held once the caller commits.
    """
    expires = now + ttl
    exists = session.execute(
        select(SchedulerLock.name).where(SchedulerLock.name == name)
    ).scalar_one_or_none()
    if exists is not None:
        # The row lock makes concurrent updaters queue; each re-reads the committed row
        # (PostgreSQL's EvalPlanQual, InnoDB's current read, SQLite's single writer), so
        # only the first sees it expired.
        result = session.execute(
            update(SchedulerLock)
            .where(
                SchedulerLock.name == name,
                (SchedulerLock.owner == owner) | (SchedulerLock.expires_at < now),
            )
            .values(owner=owner, expires_at=expires)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
    try:
        with session.begin_nested():
            session.execute(
                insert(SchedulerLock).values(name=name, owner=owner, expires_at=expires)
            )
    except exc.IntegrityError:
        return False  # someone inserted it first; the savepoint rollback kept our transaction
    return True


def release_lease(session: Session, name: str, owner: str) -> bool:
    """Give the lease up now if `owner` holds it, so a standby can take over at once."""
    result = session.execute(
        update(SchedulerLock)
        .where(SchedulerLock.name == name, SchedulerLock.owner == owner)
        .values(expires_at=_RELEASED)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def lease_owner(session: Session, name: str, now: datetime) -> str | None:
    """Who holds the lease at `now`, or None when nobody does (never taken, expired, released)."""
    row = session.execute(
        select(SchedulerLock.owner, SchedulerLock.expires_at).where(SchedulerLock.name == name)
    ).one_or_none()
    if row is None or row.expires_at < now:
        return None
    return str(row.owner)


@dataclass(frozen=True)
class DueEntry:
    """One plugin to dispatch now, for `slot`: its registry row and the schedule's view of it.

    `expires` is when the slot ends (the next regular slot): a collection still queued then
    is stale. `next_due` is when the plugin should run after this slot, backoff included.
    """

    plugin: Plugin
    schedule: Schedule
    slot: datetime
    expires: datetime
    next_due: datetime
    last_slot: datetime | None
    consecutive_failures: int
    health_status: str | None

    @property
    def plugin_id(self) -> str:
        return self.plugin.plugin_id


@dataclass(frozen=True)
class SchedulePlan:
    """What is due now, when anything else becomes due, and rows whose timing is unusable."""

    due: list[DueEntry]
    next_wakeup: datetime | None
    invalid: dict[str, str]


def plan_schedule(session: Session, now: datetime, collection: CollectionSettings) -> SchedulePlan:
    """Every enabled, unpaused plugin's position in its schedule at `now`.

    A plugin is due when the latest slot ≤ now is later than the last slot dispatched and
    not earlier than its backoff allows. After downtime that is one dispatch for the latest
    slot, never one per missed slot. A plugin never dispatched is due for the latest slot.
    """
    rows = session.execute(
        select(
            Plugin,
            PluginStatus.consecutive_failures,
            PluginStatus.health_status,
            ScheduleState.last_slot,
        )
        .outerjoin(PluginStatus, PluginStatus.plugin_id == Plugin.plugin_id)
        .outerjoin(ScheduleState, ScheduleState.plugin_id == Plugin.plugin_id)
        .where(Plugin.enabled == true())
        .order_by(Plugin.plugin_id)
    ).all()
    due: list[DueEntry] = []
    wakeups: list[datetime] = []
    invalid: dict[str, str] = {}
    for plugin, failures, health, last_slot in rows:
        if health == PAUSED:
            continue
        try:
            position = _position(plugin, failures or 0, health, last_slot, now, collection)
        except ValueError as error:  # one bad row must not stop every other plugin
            invalid[plugin.plugin_id] = str(error)
            continue
        if isinstance(position, DueEntry):
            due.append(position)
            wakeups.append(position.next_due)
        else:
            wakeups.append(position)
    return SchedulePlan(due=due, next_wakeup=min(wakeups, default=None), invalid=invalid)


def _position(
    plugin: Plugin,
    failures: int,
    health: str | None,
    last_slot: datetime | None,
    now: datetime,
    collection: CollectionSettings,
) -> DueEntry | datetime:
    """The entry to dispatch now, or when the plugin becomes due. ValueError: bad timing."""
    schedule = schedule_for(
        plugin.plugin_id,
        interval=plugin.interval_seconds,
        cron=plugin.cron,
        timezone=plugin.timezone,
        default_interval=collection.default_interval,
    )
    backoff = plugin.retry_backoff or collection.retry_backoff
    slot = latest_slot_at_or_before(schedule, now)
    earliest = None if last_slot is None else due_after(schedule, last_slot, failures, backoff)
    if slot is None or (earliest is not None and slot < earliest):
        return earliest or next_slot_after(schedule, now)
    return DueEntry(
        plugin=plugin,
        schedule=schedule,
        slot=slot,
        expires=slot + slot_length(schedule, slot),
        next_due=due_after(schedule, slot, failures, backoff),
        last_slot=last_slot,
        consecutive_failures=failures,
        health_status=health,
    )


def due_plugins(session: Session, now: datetime, collection: CollectionSettings) -> list[DueEntry]:
    """The plugins to dispatch at `now`, each with the one slot to run (see plan_schedule)."""
    return plan_schedule(session, now, collection).due


def mark_dispatched(session: Session, plugin_id: str, slot: datetime, next_due: datetime) -> None:
    """Record that `slot` was sent, so no beat sends it again; upserts schedule_state.

    A plugin deleted in the meantime is ignored (its state row would have no parent).
    """
    values = {"last_slot": slot, "next_due": next_due}
    if _update_state(session, plugin_id, values):
        return
    try:
        with session.begin_nested():
            session.execute(insert(ScheduleState).values(plugin_id=plugin_id, **values))
    except exc.IntegrityError:
        # Either a concurrent insert won (update it) or the plugin is gone (nothing to do).
        _update_state(session, plugin_id, values)


def _update_state(session: Session, plugin_id: str, values: dict[str, datetime]) -> bool:
    result = session.execute(
        update(ScheduleState)
        .where(ScheduleState.plugin_id == plugin_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
