"""Shared by the write-path tests: sample rows, counting with plain SQL, killing a connection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy import table as sql_table
from sqlalchemy.orm import Session

from unity_core.storage.batch import MetricRow
from unity_core.storage.engine import make_sessionmaker

#: Far from "today", so PostgreSQL has no pre-created partition for these days.
T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def sample_rows(
    count: int,
    *,
    start: datetime = T0,
    step: timedelta = timedelta(seconds=10),
    plugin_id: str = "system",
    series: int = 4,
) -> list[MetricRow]:
    """`count` rows over `series` series (cpu_percent per core), one sample per step per series."""
    rows = []
    for i in range(count):
        core = i % series
        value = float(i % 97)
        rows.append(
            MetricRow(
                time=start + step * (i // series),
                plugin_id=plugin_id,
                metric_name="cpu_percent",
                value={"value": value, "unit": "percent"},
                numeric_value=value,
                tags={"host": "nas", "core": str(core)},
            )
        )
    return rows


def open_session(engine: Engine) -> Session:
    """A session as the application makes them (`make_sessionmaker`: no expiry on commit)."""
    return make_sessionmaker(engine)()


def count(engine: Engine, table: str = "plugin_metrics") -> int:
    """SELECT count(*) on a fresh connection, i.e. what other transactions can see."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sql_table(table))).scalar_one())


def kind(engine: Engine) -> str:
    """'postgresql', 'mariadb' or 'sqlite'."""
    if engine.dialect.name == "mysql":
        return "mariadb"
    return engine.dialect.name


def backend_id(session: Session) -> Any:
    """The server-side id of the session's connection (PostgreSQL pid, MariaDB thread id)."""
    if kind(session.get_bind().engine) == "postgresql":
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return session.execute(text("SELECT CONNECTION_ID()")).scalar_one()


@contextmanager
def admin_connection(engine: Engine) -> Iterator[Any]:
    """A second, autocommit connection to the same database (the 'other client')."""
    other = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    try:
        with other.connect() as conn:
            yield conn
    finally:
        other.dispose()


def kill_session_connection(engine: Engine, session: Session) -> None:
    """Make the session's connection die mid-transaction, as a crashed server would.

    PostgreSQL: pg_terminate_backend from a second connection; MariaDB: KILL from a second
    connection; SQLite (no server): the driver connection is closed under the session.
    """
    if kind(engine) == "sqlite":
        raw = session.connection().connection.driver_connection
        assert raw is not None
        raw.close()
        return
    kill_backend(engine, backend_id(session))


def wait_until_blocked(engine: Engine, target: Any, timeout: float = 30) -> bool:
    """Poll the server until connection `target` waits on a row lock; False after `timeout` s.

    There is no event to await for "another session is blocked on my lock", so this polls
    the server's own view of it (pg_stat_activity, information_schema.innodb_trx).
    """
    if kind(engine) == "postgresql":
        probe = text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p")
    else:
        probe = text(
            "SELECT count(*) > 0 FROM information_schema.innodb_trx "
            "WHERE trx_mysql_thread_id = :p AND trx_state = 'LOCK WAIT'"
        )
    deadline = time.monotonic() + timeout
    # MariaDB refreshes its INNODB_TRX view only when it was not read for 0.1 s: polling it
    # faster keeps returning the stale copy and can miss the lock wait.
    pause = 0.0 if kind(engine) == "postgresql" else 0.15
    with admin_connection(engine) as admin:
        while time.monotonic() < deadline:
            if admin.execute(probe, {"p": target}).scalar():
                return True
            time.sleep(pause)
    return False


def kill_backend(engine: Engine, target: Any) -> None:
    """Kill server connection `target` from a second connection (PostgreSQL, MariaDB)."""
    with admin_connection(engine) as admin:
        if kind(engine) == "postgresql":
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": target})
        else:
            admin.execute(text(f"KILL CONNECTION {int(target)}"))
