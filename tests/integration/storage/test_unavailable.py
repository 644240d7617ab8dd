"""A database that is down or drops the connection: StorageUnavailable, nothing half-written."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from unity_core.errors import StorageUnavailable
from unity_core.storage.engine import make_engine
from unity_core.storage.partitions import ensure_partitions
from unity_core.storage.write import write_batch

from .write_helpers import (
    T0,
    admin_connection,
    backend_id,
    count,
    kill_backend,
    kill_session_connection,
    kind,
    open_session,
    sample_rows,
    wait_until_blocked,
)


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe is closed


def _unreachable_url(engine: Engine, tmp_path: Path) -> str:
    if kind(engine) == "sqlite":
        # A directory where the database file should be: SQLite cannot open it.
        return f"sqlite:///{tmp_path}"
    return engine.url.set(host="127.0.0.1", port=_closed_port()).render_as_string(
        hide_password=False
    )


def test_a_database_nobody_listens_for_is_reported_unavailable(
    engine: Engine, tmp_path: Path
) -> None:
    # Given an engine pointing at a closed port (SQLite: a path it cannot open)
    down = make_engine(_unreachable_url(engine, tmp_path), connect_timeout=2)
    try:
        # When a batch is written through it
        with open_session(down) as session, pytest.raises(StorageUnavailable) as raised:
            write_batch(session, sample_rows(10))
    finally:
        down.dispose()
    # Then the error says the database is unavailable, and the real database got nothing
    assert "unavailable" in str(raised.value)
    assert count(engine) == 0


def test_a_connection_killed_mid_transaction_loses_the_whole_transaction(engine: Engine) -> None:
    # Given 10 committed rows, and a new transaction that has already written 10 more
    committed = sample_rows(10)
    pending = sample_rows(10, start=T0 + timedelta(hours=1))
    with open_session(engine) as session:
        write_batch(session, committed)
        session.commit()
    with open_session(engine) as session:
        assert write_batch(session, pending) == 10
        # When the server kills the connection and the next batch is written
        kill_session_connection(engine, session)
        with pytest.raises(StorageUnavailable):
            write_batch(session, sample_rows(10, start=T0 + timedelta(hours=2)))
        session.rollback()
        # Then after reconnecting the same session sees only the committed rows and series
        assert write_batch(session, committed) == 0
    assert count(engine) == 10
    assert count(engine, "metric_series") == 4


@pytest.mark.timeout(60)
def test_a_connection_killed_while_write_batch_waits_leaves_nothing_behind(
    engine: Engine,
) -> None:
    if kind(engine) == "sqlite":
        pytest.skip("SQLite has no server process whose connection could be killed")
    # Given another client holding an uncommitted row that our batch also contains
    rows = sample_rows(200)
    with admin_connection(engine) as blocker, open_session(engine) as session:
        ensure_partitions(blocker, {T0.date()})  # no-op unless PostgreSQL-partitioned
        blocker.execute(text("BEGIN"))
        _insert_directly(blocker, rows[150])
        target = backend_id(session)
        # When write_batch blocks on that row and the server kills its connection meanwhile
        saw_wait: list[bool] = []
        killer = threading.Thread(target=_kill_once_waiting, args=(engine, target, saw_wait))
        killer.start()
        try:
            with pytest.raises(StorageUnavailable):
                write_batch(session, rows)
        finally:
            killer.join()
            blocker.execute(text("ROLLBACK"))
        session.rollback()
    # Then it was killed while blocked, and nothing of the batch, nor its series, was stored
    assert saw_wait == [True]
    assert count(engine) == 0
    assert count(engine, "metric_series") == 0


def _insert_directly(conn: Any, row: Any) -> None:
    conn.execute(
        text(
            "INSERT INTO plugin_metrics (time, series_key, plugin_id, metric_name, value) "
            "VALUES (:time, :key, :plugin, :metric, :value)"
        ),
        {
            "time": row.time.replace(tzinfo=None) if conn.dialect.name == "mysql" else row.time,
            "key": row.series_key,
            "plugin": row.plugin_id,
            "metric": row.metric_name,
            "value": "{}",
        },
    )


def _kill_once_waiting(engine: Engine, target: int, saw_wait: list[bool]) -> None:
    """Wait (at most 30 s) until `target` is blocked on the held row, then kill it either way."""
    saw_wait.append(wait_until_blocked(engine, target))
    kill_backend(engine, target)
