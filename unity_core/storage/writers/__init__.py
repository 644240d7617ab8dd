"""Per-dialect writers of metric batches, and the dispatch from a session's dialect to one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from unity_core.storage.batch import MetricRow

#: (session, prepared rows, the series among them to add to the catalog) -> rows inserted
Writer = Callable[[Session, Sequence[MetricRow], Sequence[MetricRow]], int]

__all__ = [
    "Writer",
    "write_metrics",
    "writer_for",
]


def writer_for(dialect_name: str) -> Writer:
    """The writer for a SQLAlchemy dialect name ('postgresql', 'mysql', 'mariadb', 'sqlite').

    Imported lazily so a SQLite-only install never needs psycopg. Raises ValueError for a
    dialect Unity does not support.
    """
    if dialect_name == "postgresql":
        from unity_core.storage.writers import postgresql

        return postgresql.write
    if dialect_name in ("mysql", "mariadb"):
        from unity_core.storage.writers import mysql

        return mysql.write
    if dialect_name == "sqlite":
        from unity_core.storage.writers import sqlite

        return sqlite.write
    raise ValueError(f"no metric writer for database dialect {dialect_name!r}")


def write_metrics(session: Session, rows: Sequence[MetricRow], series: Sequence[MetricRow]) -> int:
    """Write prepared rows (see `batch.prepare`) with the session's dialect; rows inserted.

    Idempotent and never commits. Errors are the driver's, wrapped by SQLAlchemy; the
    public `write.write_batch` translates them into Unity's storage errors.
    """
    return writer_for(session.get_bind().dialect.name)(session, rows, series)
