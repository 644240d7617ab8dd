"""The `postgres` plugin: connections, sizes, cache hits, transactions, locks, replication lag."""

from __future__ import annotations

import math
from typing import Any

import psycopg
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy.engine import make_url
from unity_plugins.postgres import queries

from unity_core.config import load_settings
from unity_core.errors import CollectionFailed, PluginConfigError
from unity_core.plugins.filters import NameFilter
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

GAUGE, COUNTER = MetricType.GAUGE, MetricType.COUNTER
#: URL schemes this plugin reads; a SQLAlchemy driver suffix (+psycopg) is allowed and dropped.
SCHEMES = ("postgresql", "postgres")
APPLICATION_NAME = "unity-postgres-plugin"


#: A metric that cannot go below 0; a percent one stops at 100, a boolean one at 1.
_spec = MetricSpec.non_negative


_DB = ("database",)
_REPLICA = ("replica",)

METRICS = (
    _spec("connections", "count", GAUGE, "client connections in this state", "state"),
    _spec("connections_total", "count", GAUGE, "client connections, all states"),
    _spec("connections_max", "count", GAUGE, "the server's max_connections"),
    _spec("connections_percent", "percent", GAUGE, "client connections, of max_connections"),
    _spec("locks_waiting", "count", GAUGE, "lock requests not granted yet"),
    _spec("longest_transaction_seconds", "seconds", GAUGE, "age of the oldest open transaction"),
    _spec("is_replica", "boolean", GAUGE, "1 on a standby, 0 on a primary", maximum=1),
    _spec("replication_lag_seconds", "seconds", GAUGE, "standby only: time behind the primary"),
    _spec("replication_lag_bytes", "bytes", GAUGE, "standby only: WAL received, not replayed"),
    _spec("replicas", "count", GAUGE, "primary only: standbys streaming from it"),
    _spec("replica_lag_bytes", "bytes", GAUGE, "primary only: WAL not replayed", *_REPLICA),
    _spec("replica_lag_seconds", "seconds", GAUGE, "primary only: replay lag", *_REPLICA),
    _spec("database_size_bytes", "bytes", GAUGE, "disk space a database takes", *_DB),
    _spec("database_connections", "count", GAUGE, "connections to a database", *_DB),
    _spec("cache_hit_ratio", "percent", GAUGE, "blocks found in shared buffers, of all read", *_DB),
    _spec("blocks_read", "blocks", COUNTER, "blocks read from disk (or the OS cache)", *_DB),
    _spec("blocks_hit", "blocks", COUNTER, "blocks found in shared buffers", *_DB),
    _spec("transactions_committed", "count", COUNTER, "transactions committed", *_DB),
    _spec("transactions_rolled_back", "count", COUNTER, "transactions rolled back", *_DB),
    _spec("deadlocks", "count", COUNTER, "deadlocks detected", *_DB),
)  # fmt: skip


def _postgres_url(value: str) -> None:
    scheme = value.partition("://")[0].partition("+")[0].lower()
    if "://" not in value or scheme not in SCHEMES:
        raise ValidationError("expected a postgresql://user:password@host:port/database URL")


class PostgresConfig(Schema):
    url = fields.String(
        load_default=None,
        allow_none=True,
        validate=_postgres_url,
        metadata={"description": "Server to watch; empty = Unity's own database if PostgreSQL."},
    )
    timeout = fields.Float(
        load_default=5.0,
        validate=validate.Range(min=1, max=60),
        metadata={"description": "Seconds to connect, and for each statement."},
    )
    databases = fields.List(
        fields.String(),
        load_default=list,
        metadata={"description": "Only these databases (shell patterns); empty = all."},
    )


class PostgresPlugin(Plugin):
    """A PostgreSQL server's health, read from its statistics views with one connection."""

    id = "postgres"
    name = "PostgreSQL"
    version = "1.0.0"
    description = (
        "PostgreSQL: connections by state, database sizes, cache hit ratio, transactions, "
        "deadlocks, waiting locks, the longest transaction, replication lag."
    )
    config_schema = PostgresConfig
    metrics = METRICS

    _url: str = ""

    def setup(self) -> None:
        self._url = _libpq_url(self.config.get("url") or self._unity_database_url())

    def collect_data(self, acc: Accumulator) -> None:
        timeout = float(self.config.get("timeout", 5.0))
        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=max(2, math.ceil(timeout)),
                application_name=APPLICATION_NAME,
                options=f"-c statement_timeout={int(timeout * 1000)}",
            )
        except psycopg.Error as error:
            where = _safe(self._url)
            raise CollectionFailed(
                self.instance_id, f"cannot connect to PostgreSQL at {where}: {error}".strip()
            ) from error
        with conn:
            try:  # without these there is no run worth keeping
                server = queries.server(conn)
                self._connections(acc, conn, server)
            except psycopg.Error as error:
                raise CollectionFailed(
                    self.instance_id,
                    f"reading server settings and pg_stat_activity at {_safe(self._url)}: {error}",
                ) from error
            for section in (self._activity, self._replication, self._databases):
                try:
                    section(acc, conn, server)
                except psycopg.Error as error:  # a view this role may not read: carry on
                    acc.error(str(error).strip(), item=section.__name__.strip("_"))

    def summary(self, collection: Collection) -> str:
        total, limit = collection.first("connections_total"), collection.first("connections_max")
        if total is None:
            return "no PostgreSQL figures collected"
        role = "replica" if collection.first("is_replica") else "primary"
        lag = collection.first("replication_lag_seconds")
        if role == "replica" and lag is not None:
            role += f" {lag:.1f} s behind"
        active = sum(
            m.value
            for m in collection.metrics
            if m.name == "connections" and m.tags == {"state": "active"}
        )
        parts = [f"PostgreSQL {role}: {total} of {limit} connections ({active} active)"]
        sizes = collection.values("database_size_bytes")
        if sizes:
            count = len(sizes)
            parts.append(f"{count} database{'s' if count != 1 else ''} {_size(sum(sizes))}")
        hit, read = sum(collection.values("blocks_hit")), sum(collection.values("blocks_read"))
        if hit + read:
            parts.append(f"cache hit {hit / (hit + read) * 100:.1f}%")
        waiting = collection.first("locks_waiting")
        if waiting is not None:
            parts.append(
                f"{waiting} lock{'s' if waiting != 1 else ''} waiting"
                if waiting
                else "no locks waiting"
            )
        oldest = collection.first("longest_transaction_seconds")
        if oldest:
            parts.append(f"longest transaction {oldest:.0f} s")
        return ", ".join(parts)

    def _unity_database_url(self) -> str:
        url = load_settings().database.url
        backend = make_url(url).get_backend_name()
        if backend != "postgresql":
            raise PluginConfigError(
                self.instance_id,
                f"config.url: not set, and Unity's own database is {backend}, not PostgreSQL;"
                f" set one with `unity plugins set {self.instance_id}"
                " config.url=postgresql://user:password@host:5432/dbname`",
            )
        return url

    def _connections(
        self, acc: Accumulator, conn: psycopg.Connection[Any], server: queries.Server
    ) -> None:
        states = queries.connections_by_state(conn)
        for state, count in states.items():
            acc.add_gauge("connections", count, {"state": state}, unit="count")
        total = sum(states.values())
        acc.add_gauge("connections_total", total, unit="count")
        acc.add_gauge("connections_max", server.max_connections, unit="count")
        percent = round(total / server.max_connections * 100, 2) if server.max_connections else 0.0
        acc.add_gauge("connections_percent", min(100.0, percent), unit="percent")

    def _activity(
        self, acc: Accumulator, conn: psycopg.Connection[Any], server: queries.Server
    ) -> None:
        acc.add_gauge("locks_waiting", queries.locks_waiting(conn), unit="count")
        oldest = queries.longest_transaction_seconds(conn)
        acc.add_gauge("longest_transaction_seconds", oldest, unit="seconds")

    def _replication(
        self, acc: Accumulator, conn: psycopg.Connection[Any], server: queries.Server
    ) -> None:
        acc.add_gauge("is_replica", 1 if server.in_recovery else 0, unit="boolean")
        if server.in_recovery:
            seconds, pending = queries.standby_lag(conn)
            acc.add_gauge("replication_lag_seconds", seconds, unit="seconds")
            acc.add_gauge("replication_lag_bytes", pending, unit="bytes")
            return
        standbys = queries.replicas(conn)
        acc.add_gauge("replicas", len(standbys), unit="count")
        for standby in standbys:
            tags = {"replica": standby.name}
            if standby.lag_bytes is not None:
                acc.add_gauge("replica_lag_bytes", standby.lag_bytes, tags, unit="bytes")
            if standby.lag_seconds is not None:
                acc.add_gauge("replica_lag_seconds", standby.lag_seconds, tags, unit="seconds")

    def _databases(
        self, acc: Accumulator, conn: psycopg.Connection[Any], server: queries.Server
    ) -> None:
        wanted = NameFilter(include=tuple(self.config.get("databases") or ()))
        for db in queries.databases(conn):
            if not wanted.admits(db.name):
                continue
            tags = {"database": db.name}
            if db.size_bytes is None:
                acc.error("no CONNECT privilege: size not readable", item=f"database {db.name}")
            else:
                acc.add_gauge("database_size_bytes", db.size_bytes, tags, unit="bytes")
            acc.add_gauge("database_connections", db.backends, tags, unit="count")
            reads = db.blocks_hit + db.blocks_read
            if reads:  # no ratio before the first block is read
                ratio = round(db.blocks_hit / reads * 100, 3)
                acc.add_gauge("cache_hit_ratio", ratio, tags, unit="percent")
            acc.add_counter("blocks_read", db.blocks_read, tags, unit="blocks")
            acc.add_counter("blocks_hit", db.blocks_hit, tags, unit="blocks")
            acc.add_counter("transactions_committed", db.commits, tags, unit="count")
            acc.add_counter("transactions_rolled_back", db.rollbacks, tags, unit="count")
            acc.add_counter("deadlocks", db.deadlocks, tags, unit="count")


def _libpq_url(url: str) -> str:
    """The URL as libpq reads it: postgresql://…, a SQLAlchemy +driver suffix dropped."""
    return "postgresql://" + url.partition("://")[2]


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # unparsable to SQLAlchemy but maybe not to libpq: name no part of it
        return "the configured url"


def _size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
