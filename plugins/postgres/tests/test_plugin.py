"""The postgres plugin collecting from the real PostgreSQL on loopback, in a database of its own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from unity_plugins.postgres import PostgresPlugin
from unity_plugins.postgres.tests.cluster import (
    STANDBY_NAME,
    ClusterUnavailable,
    Replicated,
    primary_with_standby,
)

from tests.services import service_unreachable
from unity_core.errors import CollectionFailed, PluginConfigError
from unity_core.plugins.registry import check_plugin_class, validate_config
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.sdk import Collection, Metric, MetricType
from unity_core.plugins.testing import RecordingAccumulator, collect

SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: Reported only on a standby, or per standby on a primary: the shared server has none.
REPLICATION_ONLY = {
    "replication_lag_seconds",
    "replication_lag_bytes",
    "replica_lag_bytes",
    "replica_lag_seconds",
}


@pytest.fixture
def db_url(server_databases: dict[str, Any]) -> str:
    """A brand-new database of the loopback PostgreSQL (its SQLAlchemy URL, +psycopg)."""
    return str(server_databases["postgresql"].new_database())


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(_libpq(url), autocommit=autocommit, connect_timeout=5)


def _flush_stats(conn: psycopg.Connection[Any]) -> None:
    """Make this backend publish its pending statistics now (PostgreSQL 15+), not in ~1-10 s."""
    conn.execute("SELECT pg_stat_force_next_flush()")


def _for_db(acc: RecordingAccumulator, name: str, url: str) -> Any:
    database = url.rsplit("/", 1)[1]
    return acc.assert_metric(name, {"database": database}).value


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll the server for a state another connection is putting it in (no event to await)."""
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_metric_of_a_primary_is_collected_with_its_declared_unit_and_type(
    db_url: str,
) -> None:
    # Given the loopback server (a primary without standbys) and a database of our own
    # When collecting
    acc = collect(PostgresPlugin, {"url": db_url})
    # Then every declared metric but the standby ones appears, as declared
    acc.assert_as_declared(PostgresPlugin, absent=REPLICATION_ONLY)
    acc.assert_no_errors()
    # And it is a primary with no standbys, and our database is among the databases
    acc.assert_metric("is_replica", value=0)
    acc.assert_metric("replicas", value=0)
    assert _for_db(acc, "database_size_bytes", db_url) > 0


def test_connections_match_pg_stat_activity_and_the_server_limit(db_url: str) -> None:
    # Given two idle connections of ours and one inside a transaction
    with _connect(db_url) as idle_one, _connect(db_url) as idle_two:
        with _connect(db_url, autocommit=False) as in_transaction:
            in_transaction.execute("SELECT 1")
            # When collecting
            acc = collect(PostgresPlugin, {"url": db_url})
            limit = int(idle_one.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
        idle_two.execute("SELECT 1")
    # Then each state is counted, ours among them, and the limit is the server's
    assert acc.assert_metric("connections", {"state": "idle"}).value >= 2
    assert acc.assert_metric("connections", {"state": "idle_in_transaction"}).value >= 1
    assert acc.assert_metric("connections", {"state": "active"}).value >= 1  # the plugin itself
    total = acc.assert_metric("connections_total").value
    assert total == sum(m.value for m in acc.find("connections"))
    acc.assert_metric("connections_max", value=limit)
    acc.assert_metric("connections_percent", value=round(total / limit * 100, 2))
    assert _for_db(acc, "database_connections", db_url) >= 4


def test_commits_and_rollbacks_are_raw_counters_that_grow_by_what_happened(db_url: str) -> None:
    # Given a first collection
    before = collect(PostgresPlugin, {"url": db_url})
    # When 5 transactions commit and 3 roll back in that database
    with _connect(db_url, autocommit=False) as conn:
        for _ in range(5):
            conn.execute("SELECT 1")
            conn.commit()
        for _ in range(3):
            conn.execute("SELECT 1")
            conn.rollback()
        conn.autocommit = True
        _flush_stats(conn)
    after = collect(PostgresPlugin, {"url": db_url})
    # Then both counters grew by at least that (the plugin's own connections commit too)
    committed = _for_db(after, "transactions_committed", db_url)
    rolled_back = _for_db(after, "transactions_rolled_back", db_url)
    assert committed - _for_db(before, "transactions_committed", db_url) >= 5
    assert rolled_back - _for_db(before, "transactions_rolled_back", db_url) == 3
    # And they are counters, so the pipeline derives rates from them
    assert after.assert_metric("deadlocks", {"database": db_url.rsplit("/", 1)[1]}).type == (
        MetricType.COUNTER
    )


def test_a_waiting_lock_and_the_open_transaction_holding_it_are_seen(db_url: str) -> None:
    # Given a transaction holding an exclusive lock and a second connection queued behind it
    with _connect(db_url) as setup:
        setup.execute("CREATE TABLE held (id int)")
    holder = _connect(db_url, autocommit=False)
    holder.execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
    started = holder.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    waiter = _connect(db_url)
    blocked = threading.Thread(
        target=waiter.execute, args=("SELECT count(*) FROM held",), daemon=True
    )
    blocked.start()
    try:
        with _connect(db_url) as watcher:

            def queued() -> bool:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_locks"
                    " WHERE NOT granted AND relation = 'held'::regclass"
                ).fetchone()
                return bool(row and row[0])

            _wait_until(queued, "the second LOCK to queue")
            # When collecting
            acc = collect(PostgresPlugin, {"url": db_url})
            age = watcher.execute("SELECT extract(epoch FROM clock_timestamp() - %s)", [started])
            holder_age = float(age.fetchone()[0])  # type: ignore[index]
    finally:
        holder.rollback()
        blocked.join(10)
        holder.close()
        waiter.close()
    # Then the waiting lock is counted and the holder's transaction is at least that old
    assert acc.assert_metric("locks_waiting").value >= 1
    assert acc.assert_metric("longest_transaction_seconds").value >= holder_age - 0.5


def test_a_real_deadlock_is_counted_for_its_database(db_url: str) -> None:
    # Given two sessions that will each wait for the other's row
    with _connect(db_url) as setup:
        setup.execute("CREATE TABLE pair (id int PRIMARY KEY, n int)")
        setup.execute("INSERT INTO pair VALUES (1, 0), (2, 0)")
    before = _for_db(collect(PostgresPlugin, {"url": db_url}), "deadlocks", db_url)
    first, second = _connect(db_url, autocommit=False), _connect(db_url, autocommit=False)
    failures: list[BaseException] = []

    def update(conn: psycopg.Connection[Any], row: int) -> None:
        try:
            conn.execute("UPDATE pair SET n = n + 1 WHERE id = %s", [row])
        except psycopg.errors.DeadlockDetected as error:
            failures.append(error)

    try:
        for conn in (first, second):
            conn.execute("SET deadlock_timeout = '50ms'")
        first.execute("UPDATE pair SET n = 1 WHERE id = 1")
        second.execute("UPDATE pair SET n = 1 WHERE id = 2")
        # When each then asks for the other's row (one in a thread, since it blocks)
        crossing = threading.Thread(target=update, args=(first, 2), daemon=True)
        crossing.start()
        with _connect(db_url) as watcher:
            _wait_until(
                lambda: bool(
                    watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]  # type: ignore[index]
                ),
                "the first session to wait",
            )
        update(second, 1)
        crossing.join(10)
    finally:
        for conn in (first, second):
            conn.rollback()
            conn.autocommit = True
            _flush_stats(conn)
            conn.close()
    # Then PostgreSQL broke the deadlock, and the plugin counts exactly one more
    assert len(failures) == 1
    after = collect(PostgresPlugin, {"url": db_url})
    assert _for_db(after, "deadlocks", db_url) == before + 1


def test_databases_filter_keeps_only_matching_databases(db_url: str) -> None:
    # Given a filter naming only our database
    name = db_url.rsplit("/", 1)[1]
    # When collecting / Then only it is reported, server-wide figures still are
    acc = collect(PostgresPlugin, {"url": db_url, "databases": [name]})
    assert {m.tags["database"] for m in acc.metrics if "database" in m.tags} == {name}
    acc.assert_metric("connections_total")


def test_the_default_instance_watches_unitys_own_postgresql_database(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Unity configured on PostgreSQL and the instance given no url
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNITY_CONFIG", raising=False)
    monkeypatch.setenv("UNITY_DATABASE_URL", db_url)
    # When collecting with the default configuration / Then Unity's database is read
    acc = collect(PostgresPlugin)
    assert _for_db(acc, "database_size_bytes", db_url) > 0


def test_without_a_url_on_a_sqlite_unity_the_error_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Unity on its embedded SQLite default and no url
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNITY_CONFIG", raising=False)
    monkeypatch.delenv("UNITY_DATABASE_URL", raising=False)
    monkeypatch.setenv("UNITY_DATA_DIR", str(tmp_path))
    # When collecting / Then the configuration error names the key and the command
    with pytest.raises(PluginConfigError, match=r"config\.url: not set.*sqlite") as error:
        collect(PostgresPlugin)
    assert "unity plugins set postgres config.url=postgresql://" in str(error.value)


def test_an_unreachable_server_fails_the_run_naming_it_without_the_password(
    unused_tcp_port: int,
) -> None:
    # Given a URL to a port nothing listens on, with a password
    url = f"postgresql://watcher:s3cret@127.0.0.1:{unused_tcp_port}/app"
    plugin = PostgresPlugin(validate_config(PostgresPlugin, "pg", {"url": url}), instance_id="pg")
    # When run by the runner / Then the run fails, naming where, never the password
    with pytest.raises(
        CollectionFailed, match=f"cannot connect to PostgreSQL at .*:{unused_tcp_port}/app"
    ) as error:
        run_plugin(plugin, SLOT, timeout=20)
    assert "s3cret" not in str(error.value)


def test_bad_options_are_refused_by_the_schema() -> None:
    # Given options of the wrong kinds / When validated / Then each is named
    with pytest.raises(PluginConfigError, match=r"config\.url: expected a postgresql://") as error:
        validate_config(PostgresPlugin, "pg", {"url": "mysql://x@h/db", "timeout": 0})
    assert "config.timeout" in str(error.value)
    assert validate_config(PostgresPlugin, "pg", {"url": "postgres://h/db"})["timeout"] == 5.0


def test_summary_is_one_human_sentence() -> None:
    # Given a collection with the headline figures
    metrics = [
        Metric("connections", 3, {"state": "active"}),
        Metric("connections", 9, {"state": "idle"}),
        Metric("connections_total", 12),
        Metric("connections_max", 100),
        Metric("is_replica", 1),
        Metric("replication_lag_seconds", 2.04),
        Metric("database_size_bytes", 3 * 2**30, {"database": "unity"}),
        Metric("database_size_bytes", 2**29, {"database": "app"}),
        Metric("blocks_hit", 990, {"database": "unity"}),
        Metric("blocks_read", 10, {"database": "unity"}),
        Metric("locks_waiting", 2),
        Metric("longest_transaction_seconds", 75.2),
    ]
    # When summarised / Then it reads as one sentence
    summary = PostgresPlugin().summary(Collection("postgres", SLOT, metrics))
    assert summary == (
        "PostgreSQL replica 2.0 s behind: 12 of 100 connections (3 active), 2 databases 3.5 GiB,"
        " cache hit 99.0%, 2 locks waiting, longest transaction 75 s"
    )
    empty = PostgresPlugin().summary(Collection("postgres", SLOT))
    assert empty == "no PostgreSQL figures collected"


def test_the_plugin_class_passes_discovery_checks() -> None:
    assert check_plugin_class(PostgresPlugin) is None
    assert (PostgresPlugin.id, PostgresPlugin.name) == ("postgres", "PostgreSQL")


@pytest.fixture
def unused_tcp_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    yield port


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    """A private primary with one streaming standby (see cluster.py)."""
    try:
        with primary_with_standby() as pair:
            yield pair
    except ClusterUnavailable as error:
        service_unreachable("PostgreSQL replication pair", "initdb + pg_basebackup", error)


def test_a_standby_reports_its_lag_and_its_primary_reports_the_standby(
    replicated: Replicated,
) -> None:
    # Given a standby that has replayed a first write, then paused replay, and a second write
    with _connect(replicated.primary_url) as primary, _connect(replicated.standby_url) as standby:
        primary.execute("CREATE TABLE IF NOT EXISTS ticks (n int)")
        primary.execute("INSERT INTO ticks VALUES (1)")
        sent = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]

        def replayed(lsn: Any) -> Callable[[], bool]:
            query = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
            return lambda: bool(standby.execute(query, [lsn]).fetchone()[0])  # type: ignore[index]

        _wait_until(replayed(sent), "the standby to replay the first write")
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            primary.execute("INSERT INTO ticks SELECT generate_series(1, 1000)")
            sent = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
            received = "SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn"
            _wait_until(
                lambda: bool(standby.execute(received, [sent]).fetchone()[0]),  # type: ignore[index]
                "the standby to receive the second write",
            )
            # When collecting from both
            on_standby = collect(PostgresPlugin, {"url": replicated.standby_url})
            on_primary = collect(PostgresPlugin, {"url": replicated.primary_url})
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
        # Then the standby says it is one, behind by the WAL it holds unreplayed
        on_standby.assert_metric("is_replica", value=1)
        assert _value_of(on_standby, "replication_lag_bytes") > 0
        assert _value_of(on_standby, "replication_lag_seconds") > 0
        on_standby.assert_no_metric("replicas")
        # And the primary counts its standby, tagged by its application_name
        on_primary.assert_metric("is_replica", value=0)
        on_primary.assert_metric("replicas", value=1)
        tags = {"replica": STANDBY_NAME}
        assert _value_of(on_primary, "replica_lag_bytes", tags) >= 0
        assert _value_of(on_primary, "replica_lag_seconds", tags) >= 0
        on_primary.assert_no_metric("replication_lag_seconds")
        # And once replay resumes the standby catches up to no lag at all
        _wait_until(replayed(sent), "the standby to catch up")
        caught_up = collect(PostgresPlugin, {"url": replicated.standby_url})
        caught_up.assert_metric("replication_lag_seconds", value=0)
        caught_up.assert_metric("replication_lag_bytes", value=0)
        summary = PostgresPlugin().summary(Collection("pg", SLOT, caught_up.metrics))
        assert summary.startswith("PostgreSQL replica 0.0 s behind: ")


def _value_of(acc: RecordingAccumulator, name: str, tags: dict[str, str] | None = None) -> float:
    value = acc.assert_metric(name, tags).value
    assert isinstance(value, int | float)
    return float(value)


def test_a_role_without_privileges_gets_what_it_may_read_and_errors_naming_the_rest(
    db_url: str,
) -> None:
    # Given a plain login role (no pg_monitor) and our database closed to it
    role = f"unity_watch_{uuid.uuid4().hex[:8]}"
    database = db_url.rsplit("/", 1)[1]
    with _connect(db_url) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"REVOKE CONNECT ON DATABASE {database} FROM PUBLIC")
        try:
            # When collecting as that role, connected to another database
            url = f"postgresql://{role}@127.0.0.1:5432/postgres"
            acc = collect(PostgresPlugin, {"url": url})
        finally:
            admin.execute(f"DROP ROLE {role}")
    # Then our database is reported without its size, and an error names it
    assert f"database {database}: no CONNECT privilege: size not readable" in acc.errors
    acc.assert_no_metric("database_size_bytes", {"database": database})
    acc.assert_metric("transactions_committed", {"database": database})
    # And sessions of other roles, whose state it may not see, count as unknown
    assert acc.assert_metric("connections", {"state": "unknown"}).value >= 1
    acc.assert_metric("connections_total")
