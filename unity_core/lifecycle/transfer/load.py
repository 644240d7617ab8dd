"""`unity import`: load an export file into the configured database, in batches, idempotently.

Each batch of rows of one table is one transaction. Samples, series and rollups are
inserted unless their key is already there (DO NOTHING); plugins, their status and alert
rules are upserted by key so the file's configuration wins over a default registration.
Importing the same file twice therefore changes nothing. A damaged or truncated file
stops the import at the bad line with an ExportFileError naming it; the batches before
it are committed, and since tables come parents-first they are consistent. Into
TimescaleDB the rollups are skipped: its continuous aggregates compute them from the
imported samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Insert
from sqlalchemy.dialects import mysql, postgresql, sqlite

from unity_core.lifecycle.transfer.progress import progress
from unity_core.lifecycle.transfer.records import (
    ExportFileError,
    Record,
    decode_row,
    read_records,
    table,
)
from unity_core.storage.engine import translate_errors
from unity_core.storage.partitions import ensure_partitions
from unity_core.storage.timescale import has_continuous_aggregates

DEFAULT_BATCH = 2_000
#: Tables whose rows are replaced by the file's (key columns), the rest are insert-only.
_UPSERT_KEYS = {"plugins": ("plugin_id",), "plugin_status": ("plugin_id",), "alerts": ("id",)}
_ROLLUPS = ("plugin_metrics_hourly", "plugin_metrics_daily")


@dataclass
class ImportReport:
    path: str
    #: Rows read from the file, per table.
    read: dict[str, int] = field(default_factory=dict)
    #: Rows the database reports as new or changed, per table (insert-only tables count
    #: new rows exactly; empty on MariaDB/MySQL, whose driver reports matched rows).
    written: dict[str, int] = field(default_factory=dict)
    skipped_tables: list[str] = field(default_factory=list)


def import_data(
    engine: Engine,
    path: str | Path,
    *,
    batch_size: int = DEFAULT_BATCH,
    show_progress: bool | None = None,
) -> ImportReport:
    """Load `path` (json or jsonl export) into `engine`'s database; see the module doc."""
    report = ImportReport(str(path))
    with engine.connect() as connection:
        if has_continuous_aggregates(connection):
            report.skipped_tables = list(_ROLLUPS)
    pending: list[Record] = []
    size = os.path.getsize(path)
    with (
        open(path, encoding="utf-8") as stream,
        progress(f"import {Path(path).name}", size, show_progress, "bytes") as advance,
    ):
        position = 0
        try:
            for item in read_records(stream, str(path)):
                if not isinstance(item, Record):
                    continue
                if pending and (item.table != pending[0].table or len(pending) >= batch_size):
                    _flush(engine, pending, report)
                    pending = []
                    now = _tell(stream, position)
                    advance(max(0, now - position))
                    position = now
                report.read[item.table] = report.read.get(item.table, 0) + 1
                if item.table not in report.skipped_tables:
                    pending.append(item)
        except ExportFileError:
            _flush(engine, pending, report)
            raise
        _flush(engine, pending, report)
        advance(max(0, size - position))
    return report


def _tell(stream: Any, fallback: int) -> int:
    try:
        return int(stream.buffer.tell())
    except (OSError, AttributeError):
        return fallback


def _flush(engine: Engine, records: list[Record], report: ImportReport) -> None:
    if not records:
        return
    name = records[0].table
    rows = [_complete(name, decode_row(name, r.row)) for r in records]
    where = f"importing {name} (file lines {records[0].line}-{records[-1].line})"
    with translate_errors(where), engine.begin() as connection:
        if name == "plugin_metrics":  # native PostgreSQL partitions for the rows' days
            ensure_partitions(connection, {row["time"].astimezone(UTC).date() for row in rows})
        result = connection.execute(_statement(connection, name), rows)
    if connection.dialect.name in ("mysql", "mariadb"):
        # The MySQL dialect connects with FOUND_ROWS: rowcount counts matched rows, so
        # new rows cannot be told from existing ones; leave `written` out rather than lie.
        return
    report.written[name] = report.written.get(name, 0) + max(result.rowcount, 0)


def _complete(name: str, row: dict[str, Any]) -> dict[str, Any]:
    """Every column present (executemany needs one shape); missing nullable ones are None."""
    return {column: row.get(column) for column in table(name).c.keys()}


def _statement(connection: Connection, name: str) -> Insert:
    target = table(name)
    keys = _UPSERT_KEYS.get(name)
    dialect = connection.dialect.name
    if dialect in ("mysql", "mariadb"):
        my = mysql.insert(target)
        if keys is None:
            first = next(iter(target.primary_key.columns)).name
            return my.on_duplicate_key_update({first: my.inserted[first]})
        changed = [c.name for c in target.c if c.name not in keys and not c.primary_key]
        return my.on_duplicate_key_update({c: my.inserted[c] for c in changed})
    insert = postgresql.insert(target) if dialect == "postgresql" else sqlite.insert(target)
    if keys is None:
        return insert.on_conflict_do_nothing()
    changed = [c.name for c in target.c if c.name not in keys and not c.primary_key]
    return insert.on_conflict_do_update(
        index_elements=list(keys), set_={c: insert.excluded[c] for c in changed}
    )
