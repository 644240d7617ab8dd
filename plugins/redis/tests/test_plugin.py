"""The redis plugin collecting from real redis-server processes: the loopback one (read-only)
and private ones on free ports for everything that changes a server's state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from unity_plugins.redis import RedisPlugin
from unity_plugins.redis import info as reading
from unity_plugins.redis.tests.servers import RedisServer, redis_server, until

from tests.services import REDIS_URL, service_unreachable
from unity_core.errors import CollectionFailed, PluginConfigError
from unity_core.plugins.registry import check_plugin_class, validate_config
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.sdk import Collection, Metric
from unity_core.plugins.testing import RecordingAccumulator, collect

SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: Reported on a replica only, or per replica on a master.
REPLICATION_ONLY = {
    "master_link_up",
    "master_last_io_seconds",
    "replica_lag_bytes",
    "replica_lag_seconds",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server: no persistence, nothing stored, ours to change."""
    try:
        with redis_server(tmp_path / "redis") as running:
            yield running
    except FileNotFoundError as error:
        service_unreachable("redis-server", "redis-server binary", error)


def _collect(url: str) -> RecordingAccumulator:
    return collect(RedisPlugin, {"url": url})


def _value(acc: RecordingAccumulator, name: str, **tags: str) -> float:
    value = acc.assert_metric(name, tags or None).value
    assert isinstance(value, int | float)
    return value


def test_every_metric_of_a_master_is_collected_with_its_declared_unit_and_type(
    server: RedisServer,
) -> None:
    # Given a master without replicas holding a key that was looked up once
    server.client().set("k", "v")
    assert server.client().get("k") == "v"
    # When collecting
    acc = _collect(server.url)
    # Then every declared metric but the replication ones appears, as declared and in range
    acc.assert_as_declared(RedisPlugin, absent=REPLICATION_ONLY)
    acc.assert_no_errors()
    acc.assert_metric("is_replica", value=0)
    acc.assert_metric("connected_replicas", value=0)


def test_the_shared_loopback_redis_is_read_without_changing_it() -> None:
    # Given the loopback Redis the other tests share (read only: INFO and CONFIG GET)
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        service_unreachable("Redis", REDIS_URL, error)
    # When collecting / Then it answers with its figures and no errors
    acc = _collect(REDIS_URL)
    acc.assert_no_errors()
    assert _value(acc, "uptime_seconds") > 0
    assert _value(acc, "connected_clients") >= 1


def test_keys_per_database_and_hits_and_misses_follow_what_clients_did(
    server: RedisServer,
) -> None:
    # Given 3 keys in db 0 (one expiring) and 2 in db 4
    zero, four = server.client(0), server.client(4)
    zero.mset({"a": 1, "b": 2})
    zero.set("c", 3, ex=3600)
    four.mset({"x": 1, "y": 2})
    before = _collect(server.url)
    # When 4 lookups find their key and 3 do not
    for key in ("a", "b", "c", "a"):
        assert zero.get(key) is not None
    for key in ("nope", "none", "nada"):
        assert zero.get(key) is None
    after = _collect(server.url)
    # Then keys are per database, and the counters grew by exactly those lookups
    assert (_value(after, "keys", db="0"), _value(after, "expiring_keys", db="0")) == (3, 1)
    assert (_value(after, "keys", db="4"), _value(after, "expiring_keys", db="4")) == (2, 0)
    assert _value(after, "keyspace_hits") - _value(before, "keyspace_hits") == 4
    assert _value(after, "keyspace_misses") - _value(before, "keyspace_misses") == 3
    hits, misses = _value(after, "keyspace_hits"), _value(after, "keyspace_misses")
    after.assert_metric("keyspace_hit_ratio", value=round(hits / (hits + misses) * 100, 3))
    assert _value(after, "commands_processed") > _value(before, "commands_processed") + 7


def test_evictions_and_expiries_are_counted(server: RedisServer) -> None:
    # Given a key that expires at once, looked up until that removes it
    client = server.client()
    client.set("brief", "x", px=1)
    until(lambda: client.exists("brief") == 0, "the key to expire")
    # When the server must then evict to stay under 2 MiB, as more is written than fits
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory", 2 * 2**20)
    for n in range(200):
        client.set(f"big:{n}", "x" * 50_000)
    acc = _collect(server.url)
    # Then keys were evicted and one expired, and eviction is flagged as possible
    assert _value(acc, "evicted_keys") > 0
    assert _value(acc, "expired_keys") == 1
    acc.assert_metric("maxmemory", value=2 * 2**20)
    acc.assert_metric("eviction_possible", value=1)
    acc.assert_metric("broker_safe", value=0)


def test_a_server_without_persistence_is_not_safe_as_a_broker_until_aof_is_on(
    server: RedisServer,
) -> None:
    # Given a server started with no save points and no AOF
    acc = _collect(server.url)
    for name in ("aof_enabled", "rdb_save_configured", "persistent", "broker_safe"):
        acc.assert_metric(name, value=0)
    summary = RedisPlugin().summary(Collection("redis", SLOT, acc.metrics))
    assert summary.endswith("NOT safe as a broker: no persistence (AOF off, no RDB save points)")
    # When the append-only file is switched on (and its first rewrite has finished)
    client = server.client()
    client.config_set("appendonly", "yes")
    until(lambda: not client.info("persistence")["aof_rewrite_in_progress"], "the AOF rewrite")
    acc = _collect(server.url)
    # Then data survives a restart and the broker is safe
    for name in ("aof_enabled", "aof_last_write_ok", "persistent", "broker_safe"):
        acc.assert_metric(name, value=1)
    assert (
        RedisPlugin().summary(Collection("redis", SLOT, acc.metrics)).endswith("; safe as a broker")
    )


def test_rdb_save_points_make_it_persistent(tmp_path: Path) -> None:
    # Given a server with an RDB save point and a snapshot taken
    try:
        with redis_server(tmp_path / "rdb", "--save", "3600 1") as rdb:
            client = rdb.client()
            client.set("k", "v")
            client.save()
            acc = _collect(rdb.url)
    except FileNotFoundError as error:
        service_unreachable("redis-server", "redis-server binary", error)
    # Then it counts as persistent, with nothing left unsaved
    for name in ("rdb_save_configured", "rdb_last_bgsave_ok", "persistent", "broker_safe"):
        acc.assert_metric(name, value=1)
    acc.assert_metric("rdb_changes_since_save", value=0)
    assert _value(acc, "rdb_last_save_age_seconds") < 60


def test_replication_is_seen_from_both_the_master_and_the_replica(
    server: RedisServer, tmp_path: Path
) -> None:
    # Given a replica of the private master, linked and in sync
    server.client().set("k", "v")
    with redis_server(tmp_path / "replica", "--replicaof", "127.0.0.1", str(server.port)) as copy:
        until(
            lambda: copy.client().info("replication").get("master_link_status") == "up",
            "the replica to link",
        )
        until(lambda: copy.client().get("k") == "v", "the key to reach the replica")
        # When collecting from each
        master, replica = _collect(server.url), _collect(copy.url)
    # Then the master counts the replica and its lag, tagged with its address
    master.assert_metric("connected_replicas", value=1)
    name = f"127.0.0.1:{copy.port}"
    assert _value(master, "replica_lag_bytes", replica=name) >= 0
    assert _value(master, "replica_lag_seconds", replica=name) >= 0
    # And the replica says it is one, linked, and has heard from its master
    replica.assert_metric("is_replica", value=1)
    replica.assert_metric("master_link_up", value=1)
    assert _value(replica, "master_last_io_seconds") >= 0
    replica.assert_no_metric("replica_lag_bytes")
    summary = RedisPlugin().summary(Collection("redis", SLOT, replica.metrics))
    assert summary.startswith("Redis replica, ")


def test_the_default_instance_watches_unitys_broker(
    server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Unity configured with a Redis broker (written valkey://, which is the same thing)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNITY_CONFIG", raising=False)
    monkeypatch.setenv("UNITY_BROKER_URL", server.url.replace("redis://", "valkey://"))
    server.client(7).set("queued", "message")
    # When collecting with no url / Then that server is read
    acc = collect(RedisPlugin)
    acc.assert_metric("keys", {"db": "7"}, value=1)


def test_without_a_url_and_no_redis_in_unity_the_error_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Unity on its embedded broker without a cache
    monkeypatch.chdir(tmp_path)
    for name in ("UNITY_CONFIG", "UNITY_BROKER_URL", "UNITY_CACHE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UNITY_DATA_DIR", str(tmp_path))
    # When collecting / Then the error names the key and the command that sets it
    with pytest.raises(PluginConfigError, match=r"config\.url: not set, and Unity uses no Redis"):
        collect(RedisPlugin)


def test_an_unreachable_server_fails_the_run_naming_it_without_the_password(
    tmp_path: Path,
) -> None:
    # Given a server that has just stopped (its port now refuses connections)
    try:
        with redis_server(tmp_path / "gone") as gone:
            url = f"redis://:s3cret@127.0.0.1:{gone.port}/0"
    except FileNotFoundError as missing:
        service_unreachable("redis-server", "redis-server binary", missing)
    plugin = RedisPlugin(validate_config(RedisPlugin, "r", {"url": url}), instance_id="r")
    # When run by the runner / Then the run fails naming the address, not the password
    with pytest.raises(
        CollectionFailed, match=f"cannot read INFO from Redis at .*:{gone.port}"
    ) as error:
        run_plugin(plugin, SLOT, timeout=10)
    assert "s3cret" not in str(error.value) and ":***@127.0.0.1" in str(error.value)


def test_bad_options_are_refused_by_the_schema() -> None:
    with pytest.raises(PluginConfigError, match=r"config\.url: expected a redis://") as error:
        validate_config(RedisPlugin, "r", {"url": "http://cache:6379", "timeout": 0})
    assert "config.timeout" in str(error.value)
    assert validate_config(RedisPlugin, "r", {"url": "rediss://h:6380/1"})["timeout"] == 2.0


def test_persistence_judgement_covers_refused_config_and_failed_writes() -> None:
    # Given INFO figures as a managed service reports them (CONFIG refused), AOF off
    unknown = reading.persistence({"aof_enabled": 0, "maxmemory": 0}, None)
    # Then whether it is persistent, and so safe, cannot be told
    assert (unknown.persistent, unknown.broker_safe, unknown.problems()) == (None, None, [])
    # And a failed AOF write or snapshot is named
    failed = reading.persistence(
        {"aof_enabled": 1, "aof_last_write_status": "err", "rdb_last_bgsave_status": "err"},
        "900 1",
    )
    assert failed.persistent is False
    assert failed.problems() == ["the last AOF write failed", "the last RDB snapshot failed"]


def test_summary_is_one_human_sentence() -> None:
    metrics = [
        Metric("connected_clients", 12),
        Metric("is_replica", 0),
        Metric("used_memory", 3 * 2**20),
        Metric("maxmemory", 2**30),
        Metric("ops_per_second", 48),
        Metric("keyspace_hit_ratio", 97.04),
        Metric("keys", 40, {"db": "0"}),
        Metric("keys", 2, {"db": "1"}),
        Metric("aof_enabled", 1),
        Metric("aof_last_write_ok", 1),
        Metric("eviction_possible", 1),
        Metric("broker_safe", 0),
    ]
    summary = RedisPlugin().summary(Collection("redis", SLOT, metrics))
    assert summary == (
        "Redis master, 12 clients, 3.0 MiB used of 1.0 GiB, 48 ops/s, hit ratio 97.0%, 42 keys;"
        " NOT safe as a broker: keys may be evicted (maxmemory with an evicting policy)"
    )
    assert RedisPlugin().summary(Collection("redis", SLOT)) == "no Redis figures collected"


def test_the_plugin_class_passes_discovery_checks() -> None:
    assert check_plugin_class(RedisPlugin) is None
    assert (RedisPlugin.id, RedisPlugin.name) == ("redis", "Redis")
