"""Engines and sessions for the configured database, with each dialect's safety settings."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from unity_core.config.settings import DatabaseSettings
from unity_core.errors import IntegrityViolation, StorageError, StorageUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000


def dialect_of(url: str | URL) -> str:
    """'postgresql', 'mysql' (MariaDB too) or 'sqlite' for a SQLAlchemy URL."""
    name = make_url(url).get_backend_name()
    return "mysql" if name == "mariadb" else name


def make_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    pool_timeout: float = 30,
    pool_recycle: int = 1800,
    connect_timeout: int = 10,
    echo: bool = False,
) -> Engine:
    """An engine with pre-ping, bounded connect time and, on SQLite, WAL + busy timeout.

    Several worker processes write at once, so SQLite gets WAL (readers never block the
    writer) and a busy timeout (writers queue instead of failing with 'database is locked').
    """
    url = make_url(url)
    kind = dialect_of(url)
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    if kind == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        kwargs["poolclass"] = NullPool if database in ("", ":memory:") else None
        if kwargs["poolclass"] is None:
            del kwargs["poolclass"]
    else:
        kwargs.update(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=pool_recycle,
            connect_args={"connect_timeout": connect_timeout},
        )
        if kind == "mysql":
            kwargs["connect_args"].update(charset="utf8mb4")
    engine = create_engine(url, **kwargs)
    if kind == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    elif kind == "mysql":
        event.listen(engine, "connect", _mysql_on_connect)
    return engine


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_on_begin) instead of pysqlite's
    # deferred implicit transactions, which make SAVEPOINT and locking unreliable.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages of a growing table
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue on busy_timeout instead
    # of one failing with SQLITE_BUSY when it upgrades a read lock mid-transaction. Long
    # read-only work (exports) opts out with execution_options(sqlite_deferred=True).
    if conn.get_execution_options().get("sqlite_deferred"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _mysql_on_connect(dbapi_conn: Any, _record: object) -> None:
    cursor = dbapi_conn.cursor()
    # Strict mode: a bad value is an error, never a silent coercion; UTC session zone so
    # NOW() and friends agree with the UTC we store in DATETIME(6) columns.
    cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')")
    cursor.execute("SET time_zone = '+00:00'")
    cursor.close()


def engine_for(database: DatabaseSettings) -> Engine:
    """make_engine with the configured pool settings (the way every process should open one)."""
    return make_engine(
        database.url,
        pool_size=database.pool_size,
        max_overflow=database.max_overflow,
        pool_timeout=database.pool_timeout,
        pool_recycle=database.pool_recycle,
        connect_timeout=database.connect_timeout,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views read them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn driver errors into the storage layer's typed errors, naming `what` failed.

    Connection-level failures (refused, reset, timed out, pool exhausted) become
    StorageUnavailable so callers know a retry may succeed; constraint failures become
    IntegrityViolation; anything else from the database is a StorageError.
    """
    try:
        yield
    except exc.IntegrityError as error:
        raise IntegrityViolation(f"{what}: {_first_line(error)}") from error
    except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as error:
        raise StorageUnavailable(f"{what}: database unavailable: {_first_line(error)}") from error
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise StorageUnavailable(f"{what}: connection lost: {_first_line(error)}") from error
        raise StorageError(f"{what}: {_first_line(error)}") from error
    except exc.SQLAlchemyError as error:
        raise StorageError(f"{what}: {_first_line(error)}") from error


def _first_line(error: BaseException) -> str:
    detail = getattr(error, "orig", None) or error
    return str(detail).strip().splitlines()[0] if str(detail).strip() else type(detail).__name__
