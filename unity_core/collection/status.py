"""Plugin health bookkeeping: how outcomes change a plugin_status row, and reading/writing it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from unity_core.collection.outcome import Outcome
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Plugin, PluginStatus
from unity_core.storage.types import utcnow
from unity_core.storage.write import ensure_plugin

MAX_LAST_ERROR = 2000


class Health(StrEnum):
    """plugin_status.health_status values."""

    OK = "ok"
    DEGRADED = "degraded"  # the last run succeeded but refused metrics or lost items
    FAILING = "failing"
    PAUSED = "paused"  # pause_after consecutive failures: not scheduled until a success


@dataclass
class StatusState:
    """The fields of one plugin_status row that outcomes change."""

    plugin_id: str
    last_run: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    error_count: int = 0
    health_status: str | None = None
    consecutive_failures: int = 0
    rejected_count: int = 0
    run_count: int = 0
    last_duration_ms: float | None = None
    worker_host: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-safe copy (times as ISO strings), as the cache stores it."""
        data = asdict(self)
        for name in ("last_run", "last_success"):
            if data[name] is not None:
                data[name] = data[name].isoformat()
        return data


def apply_outcome(state: StatusState, outcome: Outcome, *, pause_after: int) -> None:
    """Fold one outcome into `state`. Call in slot order; outcomes may still arrive late.

    Counters (run_count, error_count, rejected_count) count every outcome. The health fields follow
    only an outcome at or after the newest slot seen, so a late outcome of an older slot
    cannot undo a newer one. consecutive_failures counts failing slots, not attempts:
    another failed attempt at a slot already counted does not count again, and a failure
    of a slot that already succeeded changes nothing but error_count.
    """
    slot = outcome.slot_time
    current = state.last_run is None or slot >= state.last_run
    state.run_count += 1
    if outcome.ok:
        state.rejected_count += outcome.rejected
        if state.last_success is None or slot > state.last_success:
            state.last_success = slot
        if current:
            state.consecutive_failures = 0
            state.health_status = (Health.DEGRADED if outcome.degraded else Health.OK).value
            if outcome.rejected:
                first = outcome.rejects[0].reason if outcome.rejects else "see metric_rejects"
                state.last_error = _bounded(f"{outcome.rejected} metrics rejected; first: {first}")
            elif outcome.errors:
                state.last_error = _bounded(outcome.errors[0])
    else:
        state.error_count += 1
        if current and state.last_success != slot:
            repeat = state.last_run == slot and state.consecutive_failures > 0
            if not repeat:
                state.consecutive_failures += 1
            state.last_error = _bounded(outcome.error or "collection failed")
            paused = state.health_status == Health.PAUSED or (
                pause_after > 0 and state.consecutive_failures >= pause_after
            )
            state.health_status = (Health.PAUSED if paused else Health.FAILING).value
    if current:
        state.last_run = slot
        state.last_duration_ms = outcome.duration_ms
        if outcome.worker_host:
            state.worker_host = outcome.worker_host[:255]


def lock_states(session: Session, plugin_ids: Sequence[str]) -> dict[str, StatusState]:
    """Current status of each plugin, its row created if needed and locked to this transaction.

    Plugins missing from `plugins` are registered first (disabled, named by their id) so
    the foreign key holds. Rows are created with a no-op upsert, which also takes the row
    lock on PostgreSQL and MariaDB, in sorted order so concurrent writers cannot deadlock;
    a second persist of the same plugin waits here until the first commits.
    """
    ids = sorted(set(plugin_ids))
    if not ids:
        return {}
    with translate_errors("locking plugin status rows"):
        known = set(session.scalars(select(Plugin.plugin_id).where(Plugin.plugin_id.in_(ids))))
        for plugin_id in ids:
            if plugin_id not in known:
                ensure_plugin(session, plugin_id)
        table = PluginStatus.__table__
        assert isinstance(table, Table)
        now = utcnow()
        fresh = [
            {
                "plugin_id": plugin_id,
                "error_count": 0,
                "consecutive_failures": 0,
                "rejected_count": 0,
                "run_count": 0,
                "updated_at": now,
            }
            for plugin_id in ids
        ]
        session.execute(_insert_or_touch(session, table), fresh)
        found = session.execute(
            select(table).where(table.c.plugin_id.in_(ids)).order_by("plugin_id").with_for_update()
        )
        return {row.plugin_id: _state(row._mapping) for row in found}


def save_states(session: Session, states: Iterable[StatusState]) -> None:
    """Write the states back (one executemany UPDATE by primary key). Never commits."""
    now = utcnow()
    params = [{**asdict(state), "updated_at": now} for state in states]
    if params:
        with translate_errors("updating plugin status rows"):
            session.execute(update(PluginStatus), params)


def _insert_or_touch(session: Session, table: Table) -> Any:
    """INSERT a row per plugin, or on a clash set plugin_id to itself (locks, changes nothing)."""
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=["plugin_id"], set_={"plugin_id": pg.excluded.plugin_id}
        )
    if dialect == "sqlite":
        # SQLite's writer holds the whole database (BEGIN IMMEDIATE): nothing to lock per row.
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=["plugin_id"])
    if dialect in ("mysql", "mariadb"):
        my = mysql.insert(table)
        return my.on_duplicate_key_update(plugin_id=my.inserted.plugin_id)
    raise ValueError(f"no upsert for database dialect {dialect!r}")


def _state(row: Any) -> StatusState:
    return StatusState(
        plugin_id=row["plugin_id"],
        last_run=row["last_run"],
        last_success=row["last_success"],
        last_error=row["last_error"],
        error_count=row["error_count"] or 0,
        health_status=row["health_status"],
        consecutive_failures=row["consecutive_failures"] or 0,
        rejected_count=row["rejected_count"] or 0,
        run_count=row["run_count"] or 0,
        last_duration_ms=row["last_duration_ms"],
        worker_host=row["worker_host"],
    )


def _bounded(text: str) -> str:
    return text[:MAX_LAST_ERROR]
