"""The storage write API: metric batches, plugin registration and status, all idempotent.

Every function takes the caller's Session, runs in its transaction and never commits or
closes it (STYLE 9.10). Database failures surface as Unity's storage errors:
StorageUnavailable (retry later), IntegrityViolation (the data breaks a constraint) or
StorageError; invalid input is a ValueError raised before any SQL is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, null, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from unity_core.storage.batch import MetricRow, prepare
from unity_core.storage.catalog import remember_on_commit, series_to_register
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Plugin, PluginStatus
from unity_core.storage.types import utcnow
from unity_core.storage.writers import write_metrics

__all__ = [
    "get_status",
    "register_plugin",
    "upsert_status",
    "write_batch",
]


def write_batch(session: Session, rows: Sequence[MetricRow]) -> int:
    """Store `rows` and their series in the caller's transaction; return how many are new.

    Idempotent: a row whose (series_key, time) is already stored, or that repeats an
    earlier row of the same batch, is neither stored again nor counted, so a redelivered
    batch returns 0. The distinct series are added to `metric_series` (existing ones are
    left alone). Never commits; if it raises, nothing of the batch is visible once the
    caller rolls back.

    Raises ValueError naming plugin/metric for a naive time or a non-finite or non-numeric
    `numeric_value` (before any SQL), or for a value that is not JSON (found while encoding;
    nothing of the batch is left in the transaction, which stays usable). Raises
    StorageUnavailable, IntegrityViolation or StorageError when the database fails.
    """
    prepared = prepare(rows)
    if not prepared:
        return 0
    with translate_errors(f"writing a batch of {len(prepared)} metric rows"):
        series = series_to_register(session, prepared)
        inserted = write_metrics(session, prepared, series)
    remember_on_commit(session, series)
    return inserted


def register_plugin(
    session: Session,
    plugin_id: str,
    name: str,
    *,
    enabled: bool = False,
    config: dict[str, Any] | None = None,
    plugin: str | None = None,
) -> Plugin:
    """Create or update the plugin `plugin_id` so it has exactly the given name, flag, config.

    Idempotent: repeating a call changes nothing (the row's `id` and `created_at` are kept;
    only `updated_at` moves). Safe when two processes register the same plugin at once.
    Never commits. Returns the row as now stored in this transaction.
    """
    now = utcnow()
    fields: dict[str, Any] = {
        "name": name,
        "enabled": enabled,
        "config": null() if config is None else config,
        "updated_at": now,
    }
    with translate_errors(f"registering plugin {plugin_id!r}"):
        statement = _upsert(
            session,
            Plugin.__table__,
            {"plugin_id": plugin_id, "plugin": plugin or plugin_id, "created_at": now, **fields},
            key="plugin_id",
            update={**fields, "plugin": plugin} if plugin else fields,
        )
        session.execute(statement)
        found = select(Plugin).where(Plugin.plugin_id == plugin_id)
        return session.scalars(found.execution_options(populate_existing=True)).one()


def ensure_plugin(session: Session, plugin_id: str, *, plugin: str | None = None) -> None:
    """Create `plugin_id` (disabled, named by its id) only if it does not exist yet.

    Unlike register_plugin this never changes an existing row, so a status write racing
    with a user enabling or configuring the plugin cannot undo their change. Never commits.
    """
    now = utcnow()
    values = {
        "plugin_id": plugin_id,
        "plugin": plugin or plugin_id,
        "name": plugin_id,
        "enabled": False,
        "created_at": now,
        "updated_at": now,
    }
    with translate_errors(f"registering plugin {plugin_id!r}"):
        # A no-op "update" on conflict: the row stays exactly as it was.
        statement = _upsert(
            session, Plugin.__table__, values, key="plugin_id", update={"plugin_id": plugin_id}
        )
        session.execute(statement)


def upsert_status(
    session: Session,
    plugin_id: str,
    *,
    last_run: datetime | None = None,
    last_success: datetime | None = None,
    last_error: str | None = None,
    error_count: int | None = None,
    health_status: str | None = None,
) -> None:
    """Create or update the status row of `plugin_id`; only the fields given (not None) change.

    A field left as None keeps its stored value (so this cannot reset a field to NULL); a
    new row starts with error_count 0. `updated_at` is always set. Times must be aware.
    Never commits. The plugin must be registered: otherwise IntegrityViolation.
    """
    given: dict[str, Any] = {
        name: value
        for name, value in {
            "last_run": last_run,
            "last_success": last_success,
            "last_error": last_error,
            "error_count": error_count,
            "health_status": health_status,
        }.items()
        if value is not None
    }
    for name in ("last_run", "last_success"):
        moment = given.get(name)
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"plugin {plugin_id!r}: {name} must be an aware datetime")
    given["updated_at"] = utcnow()
    with translate_errors(f"updating the status of plugin {plugin_id!r}"):
        statement = _upsert(
            session,
            PluginStatus.__table__,
            {"plugin_id": plugin_id, "error_count": 0, **given},
            key="plugin_id",
            update=given,
        )
        session.execute(statement)


def get_status(session: Session, plugin_id: str) -> PluginStatus | None:
    """The stored status of `plugin_id` as seen by this transaction, or None if there is none."""
    with translate_errors(f"reading the status of plugin {plugin_id!r}"):
        return session.get(PluginStatus, plugin_id, populate_existing=True)


def _upsert(
    session: Session, table: Any, values: dict[str, Any], *, key: str, update: dict[str, Any]
) -> Insert:
    """INSERT `values`, or on a clash of the unique column `key` set `update` (per dialect)."""
    assert isinstance(table, Table)
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(values)
        return pg.on_conflict_do_update(index_elements=[key], set_=update)
    if dialect == "sqlite":
        lite = sqlite.insert(table).values(values)
        return lite.on_conflict_do_update(index_elements=[key], set_=update)
    if dialect in ("mysql", "mariadb"):
        # Matches any unique key; `plugins.id` is a fresh UUID, so only `key` can clash.
        return mysql.insert(table).values(values).on_duplicate_key_update(update)
    raise ValueError(f"no upsert for database dialect {dialect!r}")
