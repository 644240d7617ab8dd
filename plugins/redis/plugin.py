"""The `redis` plugin: memory, clients, ops, keyspace, evictions, replication, persistence."""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from marshmallow import Schema, ValidationError, fields, validate
from unity_plugins.redis import info as reading

from unity_core.config import Settings, load_settings
from unity_core.config.urls import CACHE_SCHEMES
from unity_core.errors import CollectionFailed, PluginConfigError
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

GAUGE, COUNTER = MetricType.GAUGE, MetricType.COUNTER


#: A metric that cannot go below 0; a percent one stops at 100, a boolean one at 1.
_spec = MetricSpec.non_negative


METRICS = (
    _spec("uptime_seconds", "seconds", GAUGE, "time since the server started"),
    _spec("connected_clients", "count", GAUGE, "client connections"),
    _spec("blocked_clients", "count", GAUGE, "clients waiting in a blocking call (BRPOP…)"),
    _spec("used_memory", "bytes", GAUGE, "memory Redis allocated for its data"),
    _spec("used_memory_rss", "bytes", GAUGE, "memory the operating system gave the process"),
    _spec("maxmemory", "bytes", GAUGE, "the memory limit; 0 = none"),
    _spec("memory_fragmentation_ratio", "ratio", GAUGE, "used_memory_rss / used_memory"),
    _spec("ops_per_second", "per_second", GAUGE, "commands per second, the server's own sample"),
    _spec("commands_processed", "count", COUNTER, "commands processed"),
    _spec("keyspace_hits", "count", COUNTER, "key lookups that found the key"),
    _spec("keyspace_misses", "count", COUNTER, "key lookups that did not"),
    _spec("keyspace_hit_ratio", "percent", GAUGE, "hits, of all lookups since start"),
    _spec("keys", "count", GAUGE, "keys in a database", "db"),
    _spec("expiring_keys", "count", GAUGE, "keys with an expiry in a database", "db"),
    _spec("evicted_keys", "count", COUNTER, "keys evicted to stay under maxmemory"),
    _spec("expired_keys", "count", COUNTER, "keys removed when their expiry passed"),
    _spec("is_replica", "boolean", GAUGE, "1 on a replica, 0 on a master"),
    _spec("connected_replicas", "count", GAUGE, "replicas attached to this server"),
    _spec("replication_offset", "bytes", GAUGE, "this server's replication stream offset"),
    _spec("replica_lag_bytes", "bytes", GAUGE, "master only: not acked by a replica", "replica"),
    _spec("replica_lag_seconds", "seconds", GAUGE, "master only: since its last ack", "replica"),
    _spec("master_link_up", "boolean", GAUGE, "replica only: 1 while linked to its master"),
    _spec("master_last_io_seconds", "seconds", GAUGE, "replica only: since its master last spoke"),
    _spec("aof_enabled", "boolean", GAUGE, "1 when the append-only file is on"),
    _spec("aof_last_write_ok", "boolean", GAUGE, "0 when the last AOF write failed"),
    _spec("rdb_save_configured", "boolean", GAUGE, "1 when RDB save points are set"),
    _spec("rdb_last_bgsave_ok", "boolean", GAUGE, "0 when the last RDB snapshot failed"),
    _spec("rdb_changes_since_save", "count", GAUGE, "writes not yet in an RDB snapshot"),
    _spec("rdb_last_save_age_seconds", "seconds", GAUGE, "since the last RDB snapshot"),
    _spec("eviction_possible", "boolean", GAUGE, "1 when maxmemory is set with an evicting policy"),
    _spec("persistent", "boolean", GAUGE, "1 when data survives a restart (AOF or RDB)"),
    _spec("broker_safe", "boolean", GAUGE, "1 when persistent and never evicting"),
)  # fmt: skip

_SCHEMES = tuple(CACHE_SCHEMES)  # redis, rediss, valkey, valkeys
#: INFO field -> (metric, unit) reported as they are, when the server has them.
_GAUGES = {
    "uptime_in_seconds": ("uptime_seconds", "seconds"),
    "connected_clients": ("connected_clients", "count"),
    "blocked_clients": ("blocked_clients", "count"),
    "used_memory": ("used_memory", "bytes"),
    "used_memory_rss": ("used_memory_rss", "bytes"),
    "maxmemory": ("maxmemory", "bytes"),
    "mem_fragmentation_ratio": ("memory_fragmentation_ratio", "ratio"),
    "instantaneous_ops_per_sec": ("ops_per_second", "per_second"),
    "connected_slaves": ("connected_replicas", "count"),
    "master_repl_offset": ("replication_offset", "bytes"),
    "rdb_changes_since_last_save": ("rdb_changes_since_save", "count"),
}
_COUNTERS = {
    "total_commands_processed": "commands_processed",
    "keyspace_hits": "keyspace_hits",
    "keyspace_misses": "keyspace_misses",
    "evicted_keys": "evicted_keys",
    "expired_keys": "expired_keys",
}


def _redis_url(value: str) -> None:
    if urlsplit(value).scheme.lower() not in _SCHEMES:
        raise ValidationError("expected a redis://[:password@]host:port/db URL (or rediss://)")


class RedisConfig(Schema):
    url = fields.String(
        load_default=None,
        allow_none=True,
        validate=_redis_url,
        metadata={"description": "Server to watch; empty = Unity's broker, else its cache."},
    )
    timeout = fields.Float(
        load_default=2.0,
        validate=validate.Range(min=0.1, max=30),
        metadata={"description": "Seconds to connect, and for each command."},
    )


class RedisPlugin(Plugin):
    """A Redis (or Valkey) server's health from INFO, and whether it is safe as a broker."""

    id = "redis"
    name = "Redis"
    version = "1.0.0"
    description = (
        "Redis/Valkey: clients, memory and fragmentation, ops/s, commands, keyspace hits and "
        "keys, evictions and expiries, replication, AOF/RDB state (is the broker safe?)."
    )
    config_schema = RedisConfig
    metrics = METRICS

    _url: str = ""

    def setup(self) -> None:
        url = self.config.get("url") or self._unity_redis_url(load_settings())
        scheme, rest = url.split("://", 1)
        self._url = f"{CACHE_SCHEMES[scheme.lower()]}://{rest}"

    def collect_data(self, acc: Accumulator) -> None:
        timeout = float(self.config.get("timeout", 2.0))
        client = redis.Redis.from_url(
            self._url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry_on_timeout=False,
        )
        try:
            try:
                server: dict[str, Any] = client.info("all")
            except redis.RedisError as error:
                raise CollectionFailed(
                    self.instance_id, f"cannot read INFO from Redis at {_safe(self._url)}: {error}"
                ) from error
            self._report(acc, server, self._save_points(acc, client))
        finally:
            with contextlib.suppress(redis.RedisError):
                client.close()

    def summary(self, collection: Collection) -> str:
        clients = collection.first("connected_clients")
        if clients is None:
            return "no Redis figures collected"
        role = "replica" if collection.first("is_replica") else "master"
        if role == "replica" and collection.first("master_link_up") == 0:
            role += " (link to master down)"
        limit = collection.first("maxmemory") or 0
        parts = [
            f"Redis {role}, {clients} client{'s' if clients != 1 else ''}",
            f"{_size(collection.first('used_memory', 0))} used"
            + (f" of {_size(limit)}" if limit else ", no limit"),
            f"{collection.first('ops_per_second', 0)} ops/s",
        ]
        ratio = collection.first("keyspace_hit_ratio")
        if ratio is not None:
            parts.append(f"hit ratio {ratio:.1f}%")
        keys = sum(collection.values("keys"))
        parts.append(f"{keys} key{'s' if keys != 1 else ''}")
        sentence = ", ".join(parts)
        safe = collection.first("broker_safe")
        if safe == 1:
            return sentence + "; safe as a broker"
        if safe == 0:
            problems = _persistence_of(collection).problems()
            return sentence + "; NOT safe as a broker: " + ", ".join(problems)
        return sentence

    def _unity_redis_url(self, settings: Settings) -> str:
        """The broker's Redis, else the cache's; PluginConfigError naming what to set."""
        for url in (settings.broker.url, settings.cache.url if settings.cache.enabled else None):
            if url and urlsplit(url).scheme.lower() in _SCHEMES:
                return url
        raise PluginConfigError(
            self.instance_id,
            "config.url: not set, and Unity uses no Redis (neither broker.url nor cache.url is a"
            f" redis:// URL); set one with `unity plugins set {self.instance_id}"
            " config.url=redis://host:6379/0`",
        )

    def _save_points(self, acc: Accumulator, client: redis.Redis) -> str | None:
        try:
            reply: Any = client.config_get("save")
        except redis.ResponseError as error:  # CONFIG renamed or refused (managed services)
            acc.error(f"CONFIG GET save refused ({error}): RDB save points unknown", item="rdb")
            return None
        value = reply.get("save", "")
        return value.decode() if isinstance(value, bytes) else str(value)

    def _report(self, acc: Accumulator, server: dict[str, Any], save_points: str | None) -> None:
        for field_name, (metric, unit) in _GAUGES.items():
            if field_name in server:
                acc.add_gauge(metric, server[field_name], unit=unit)
        for field_name, metric in _COUNTERS.items():
            if field_name in server:
                acc.add_counter(metric, server[field_name], unit="count")
        hits, misses = int(server.get("keyspace_hits", 0)), int(server.get("keyspace_misses", 0))
        ratio = reading.hit_ratio(hits, misses)
        if ratio is not None:
            acc.add_gauge("keyspace_hit_ratio", ratio, unit="percent")
        for db, (keys, expiring) in reading.keyspace(server).items():
            acc.add_gauge("keys", keys, {"db": db}, unit="count")
            acc.add_gauge("expiring_keys", expiring, {"db": db}, unit="count")
        self._replication(acc, server)
        self._persistence(acc, server, save_points)

    def _replication(self, acc: Accumulator, server: dict[str, Any]) -> None:
        replica = server.get("role") == "slave"
        acc.add_gauge("is_replica", 1 if replica else 0, unit="boolean")
        if replica:
            acc.add_gauge(
                "master_link_up", int(server.get("master_link_status") == "up"), unit="boolean"
            )
            last_io = server.get("master_last_io_seconds_ago", -1)
            if int(last_io) >= 0:  # -1 while never linked
                acc.add_gauge("master_last_io_seconds", last_io, unit="seconds")
            return
        for found in reading.replicas(server):
            tags = {"replica": found.name}
            acc.add_gauge("replica_lag_bytes", found.lag_bytes, tags, unit="bytes")
            acc.add_gauge("replica_lag_seconds", found.lag_seconds, tags, unit="seconds")

    def _persistence(
        self, acc: Accumulator, server: dict[str, Any], save_points: str | None
    ) -> None:
        state = reading.persistence(server, save_points)
        acc.add_gauge("aof_enabled", int(state.aof_enabled), unit="boolean")
        acc.add_gauge("aof_last_write_ok", int(state.aof_last_write_ok), unit="boolean")
        if state.rdb_configured is not None:
            acc.add_gauge("rdb_save_configured", int(state.rdb_configured), unit="boolean")
        acc.add_gauge("rdb_last_bgsave_ok", int(state.rdb_last_bgsave_ok), unit="boolean")
        if "rdb_last_save_time" in server:
            age = max(0, int(time.time()) - int(server["rdb_last_save_time"]))
            acc.add_gauge("rdb_last_save_age_seconds", age, unit="seconds")
        acc.add_gauge("eviction_possible", int(state.eviction_possible), unit="boolean")
        if state.persistent is not None:
            acc.add_gauge("persistent", int(state.persistent), unit="boolean")
        if state.broker_safe is not None:
            acc.add_gauge("broker_safe", int(state.broker_safe), unit="boolean")


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, parts.query, ""))


def _persistence_of(collection: Collection) -> reading.Persistence:
    """The persistence state a collection's boolean metrics describe (for the summary)."""
    configured = collection.first("rdb_save_configured")
    return reading.Persistence(
        aof_enabled=bool(collection.first("aof_enabled", 0)),
        aof_last_write_ok=bool(collection.first("aof_last_write_ok", 1)),
        rdb_configured=None if configured is None else bool(configured),
        rdb_last_bgsave_ok=bool(collection.first("rdb_last_bgsave_ok", 1)),
        eviction_possible=bool(collection.first("eviction_possible", 0)),
    )


def _size(size: float) -> str:
    step = min(4, int(math.log(size, 1024))) if size >= 1 else 0
    return f"{size / 1024**step:.1f} {('B', 'KiB', 'MiB', 'GiB', 'TiB')[step]}"
