"""What the postgres plugin asks the server, one function per statistics view it reads.

Each reader runs one or two statements on an autocommit psycopg connection and returns
plain Python values, so the plugin can report a failed section as one item error and go on
with the next (a failed statement in autocommit mode leaves the connection usable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

#: pg_stat_activity.state values, as tag values (spaces and parentheses made snake_case).
STATES = {
    "active": "active",
    "idle": "idle",
    "idle in transaction": "idle_in_transaction",
    "idle in transaction (aborted)": "idle_in_transaction_aborted",
    "fastpath function call": "fastpath",
    "disabled": "disabled",
}


@dataclass(frozen=True)
class Server:
    version: str
    max_connections: int
    in_recovery: bool


@dataclass(frozen=True)
class DatabaseStats:
    name: str
    #: None when this user may not connect to the database (its size cannot be read).
    size_bytes: int | None
    backends: int
    commits: int
    rollbacks: int
    blocks_read: int
    blocks_hit: int
    deadlocks: int


@dataclass(frozen=True)
class ReplicaLag:
    """A standby as its primary sees it (pg_stat_replication)."""

    name: str
    lag_bytes: float | None
    lag_seconds: float | None


def _rows(conn: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = conn.execute(sql).fetchall()
    return rows


def _one(conn: psycopg.Connection[Any], sql: str) -> tuple[Any, ...]:
    row: tuple[Any, ...] | None = conn.execute(sql).fetchone()
    assert row is not None, sql  # every statement here is an aggregate or a SELECT of settings
    return row


def server(conn: psycopg.Connection[Any]) -> Server:
    version, limit, recovery = _one(
        conn,
        "SELECT current_setting('server_version'), current_setting('max_connections')::int,"
        " pg_is_in_recovery()",
    )
    return Server(str(version).split()[0], int(limit), bool(recovery))


def connections_by_state(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Client connections per state, every known state present (0 when none)."""
    counts = dict.fromkeys(STATES.values(), 0)
    for state, count in _rows(
        conn,
        "SELECT state, count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        # Another role's session, seen without pg_monitor: every detail hidden but these two.
        " OR (backend_type IS NULL AND datid IS NOT NULL AND usesysid IS NOT NULL)"
        " GROUP BY state",
    ):
        # NULL: a session of another role whose state this role may not see.
        key = STATES.get(state, "unknown") if state is not None else "unknown"
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def databases(conn: psycopg.Connection[Any]) -> list[DatabaseStats]:
    """Every database one can connect to (templates excluded), with its cumulative statistics."""
    return [
        DatabaseStats(str(row[0]), None if row[1] is None else int(row[1]), *map(int, row[2:]))
        for row in _rows(
            conn,
            "SELECT d.datname,"
            " CASE WHEN has_database_privilege(d.oid, 'CONNECT')"
            "  THEN pg_database_size(d.oid) END,"
            " s.numbackends, s.xact_commit, s.xact_rollback, s.blks_read, s.blks_hit,"
            " s.deadlocks"
            " FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid"
            " WHERE NOT d.datistemplate AND d.datallowconn ORDER BY d.datname",
        )
    ]


def locks_waiting(conn: psycopg.Connection[Any]) -> int:
    return int(_one(conn, "SELECT count(*) FROM pg_locks WHERE NOT granted")[0])


def longest_transaction_seconds(conn: psycopg.Connection[Any]) -> float:
    """Age of the oldest open transaction of any other client; 0 when none is open."""
    (age,) = _one(
        conn,
        "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)"
        " FROM pg_stat_activity WHERE xact_start IS NOT NULL"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    )
    return round(float(age), 3)


def standby_lag(conn: psycopg.Connection[Any]) -> tuple[float, float]:
    """On a standby: (seconds behind the primary, received WAL bytes not yet replayed).

    The seconds are 0 while everything received is replayed: an idle primary sends nothing,
    and the age of the last replayed transaction would otherwise grow for no reason.
    """
    seconds, pending = _one(
        conn,
        "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
        " ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END,"
        " coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)",
    )
    return max(0.0, round(float(seconds), 3)), max(0.0, float(pending))


def replicas(conn: psycopg.Connection[Any]) -> list[ReplicaLag]:
    """On a primary: each connected standby and how far its replay is behind."""
    return [
        ReplicaLag(
            str(name),
            None if lag_bytes is None else max(0.0, float(lag_bytes)),
            None if lag_seconds is None else round(float(lag_seconds), 3),
        )
        for name, lag_bytes, lag_seconds in _rows(
            conn,
            "SELECT coalesce(nullif(application_name, ''), host(client_addr), pid::text),"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn),"
            " coalesce(extract(epoch FROM replay_lag), 0)"
            " FROM pg_stat_replication ORDER BY 1",
        )
    ]
