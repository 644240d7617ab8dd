"""`unity export`: stream every table (or a time/plugin slice) to a json or jsonl file.

Rows are read with a server-side cursor (SQLite: a deferred read transaction) in one
snapshot, so the file is consistent and memory stays flat whatever the database holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select

from unity_core.lifecycle.transfer.progress import progress
from unity_core.lifecycle.transfer.records import TABLES, VERSION, Writer, encode_row, table
from unity_core.storage.engine import translate_errors
from unity_core.storage.types import utcnow

CHUNK = 5_000
_TIME_COLUMNS = {
    "alert_history": "time",
    "plugin_metrics": "time",
    "plugin_metrics_hourly": "bucket",
    "plugin_metrics_daily": "bucket",
}


@dataclass(frozen=True)
class ExportFilter:
    """Which rows to export: times in [start, end) and/or some plugins (empty: all)."""

    start: datetime | None = None
    end: datetime | None = None
    plugins: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "plugins": list(self.plugins),
        }


@dataclass
class ExportReport:
    path: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def export_data(
    engine: Engine,
    path: str | Path,
    fmt: str = "jsonl",
    filters: ExportFilter | None = None,
    *,
    show_progress: bool | None = None,
) -> ExportReport:
    """Write the export file at `path`; returns the rows written per table."""
    filters = filters or ExportFilter()
    report = ExportReport(str(path))
    with translate_errors("exporting"), _snapshot(engine) as connection:
        totals = _totals(connection, filters) if show_progress is not False else {}
        with (
            open(path, "w", encoding="utf-8") as stream,
            progress(
                f"export {Path(path).name}", sum(totals.values()) or None, show_progress
            ) as advance,
        ):
            writer = Writer(stream, fmt)
            writer.record(
                {
                    "unity_export": VERSION,
                    "format": fmt,
                    "created_at": utcnow().isoformat(),
                    "tables": list(TABLES),
                    "filters": filters.as_dict(),
                }
            )
            for name in TABLES:
                report.counts[name] = _export_table(connection, writer, name, filters, advance)
            writer.close({"counts": report.counts})
    return report


def _export_table(
    connection: Connection, writer: Writer, name: str, filters: ExportFilter, advance: Any
) -> int:
    columns = list(table(name).c.keys())
    written = 0
    result = connection.execute(_select(name, filters))
    for chunk in result.partitions(CHUNK):
        for values in chunk:
            writer.record({"table": name, "row": encode_row(columns, tuple(values))})
        written += len(chunk)
        advance(len(chunk))
    return written


def _select(name: str, filters: ExportFilter) -> Select[Any]:
    source = table(name)
    return select(source).where(*_conditions(name, filters))


def _conditions(name: str, filters: ExportFilter) -> list[ColumnElement[bool]]:
    source = table(name)
    where: list[ColumnElement[bool]] = []
    time = _TIME_COLUMNS.get(name)
    if time is not None and filters.start is not None:
        where.append(source.c[time] >= filters.start)
    if time is not None and filters.end is not None:
        where.append(source.c[time] < filters.end)
    if filters.plugins:
        if "plugin_id" in source.c:
            where.append(source.c.plugin_id.in_(filters.plugins))
        elif name == "alert_history":
            alerts = table("alerts")
            owned = select(alerts.c.id).where(alerts.c.plugin_id.in_(filters.plugins))
            where.append(source.c.alert_id.in_(owned))
    return where


def _totals(connection: Connection, filters: ExportFilter) -> dict[str, int]:
    return {
        name: int(
            connection.execute(
                select(func.count()).select_from(table(name)).where(*_conditions(name, filters))
            ).scalar_one()
        )
        for name in TABLES
    }


class _snapshot:
    """A read-only connection in one snapshot: REPEATABLE READ on servers, a deferred read
    transaction on SQLite (WAL keeps writers going), rows streamed from the server."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None

    def __enter__(self) -> Connection:
        options: dict[str, Any] = {"stream_results": True, "max_row_buffer": CHUNK}
        if self.engine.dialect.name == "sqlite":
            options["sqlite_deferred"] = True
        else:
            options["isolation_level"] = "REPEATABLE READ"
        self.connection = self.engine.connect().execution_options(**options)
        self.connection.begin()
        return self.connection

    def __exit__(self, *exc: object) -> None:
        assert self.connection is not None
        self.connection.rollback()
        self.connection.close()


__all__: Sequence[str] = ("ExportFilter", "ExportReport", "export_data")
