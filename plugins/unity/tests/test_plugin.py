"""The unity plugin reading real databases, a real Redis and real broker folders."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kombu
import pytest
import redis
import yaml
from kombu.transport import filesystem as filesystem_transport
from kombu.transport.virtual import BrokerState
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from unity_plugins.unity import UnityPlugin
from unity_plugins.unity import plugin as unity_module

from unity_core.collection import collect_once, persist_outcomes
from unity_core.config import Settings, load_settings
from unity_core.plugins.registry import (
    Discovery,
    check_plugin_class,
    discover,
    get_instance,
    instantiate,
    sync_registry,
    validate_config,
)
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.sdk import Collection, Metric, MetricType
from unity_core.plugins.testing import collect
from unity_core.presence import Announcement, announce
from unity_core.scheduling import IntervalSchedule, latest_slot_at_or_before
from unity_core.storage import MetricRow, make_engine, make_sessionmaker, write_batch
from unity_core.storage.models import Plugin, PluginMetric, PluginStatus, ScheduleState
from unity_workers.outcome_stream import STREAM as OUTCOME_STREAM

HERE = Path(__file__).resolve().parent.parent
PLUGINS_DIR = HERE.parent
#: A whole second, so slot arithmetic in the expectations is exact.
NOW = datetime.now(UTC).replace(microsecond=0)
SEP = "\x06\x16"
#: kombu ships no type hints; used to publish the way workers and beat do.
KombuConnection: Any = kombu.Connection  # type: ignore[attr-defined]
BATCH_METRICS = ("batches_written", "batch_write_ms_avg", "batch_write_ms_max", "batch_rows_avg")

Configure = Callable[..., Settings]


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Configure:
    """Writes unity.yaml (database, broker; data_dir in tmp), points UNITY_CONFIG at it."""

    def write(database_url: str, broker_url: str | None = None) -> Settings:
        config: dict[str, Any] = {
            "data_dir": str(tmp_path / "data"),
            "database": {"url": database_url},
        }
        if broker_url is not None:
            config["broker"] = {"url": broker_url}
        path = tmp_path / "unity.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        monkeypatch.setenv("UNITY_CONFIG", str(path))
        return load_settings()

    monkeypatch.setattr(unity_module, "_now", lambda: NOW)
    return write


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """A session on the test database for arranging rows; the test commits."""
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as opened:
        yield opened
    engine.dispose()


def add_plugin(
    session: Session,
    plugin_id: str,
    *,
    enabled: bool = True,
    queue: str | None = None,
    last_slot: datetime | None = None,
    next_due: datetime | None = None,
    **status: Any,
) -> None:
    """A registry row, its plugin_status row when `status` is given, its schedule_state too."""
    session.add(Plugin(plugin_id=plugin_id, plugin="system", name=plugin_id, enabled=enabled,
                       config={}, tags={}, interval_seconds=60, queue=queue))  # fmt: skip
    session.flush()
    if status:
        session.add(PluginStatus(plugin_id=plugin_id, **status))
    if last_slot is not None:
        session.add(ScheduleState(plugin_id=plugin_id, last_slot=last_slot, next_due=next_due))
    session.flush()


def latest_slot(plugin_id: str) -> datetime:
    slot = latest_slot_at_or_before(IntervalSchedule.for_plugin(plugin_id, 60), NOW)
    assert slot is not None
    return slot


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_enabled_plugin_is_reported_with_its_health_and_counters(
    configure: Configure, database_url: str, session: Session
) -> None:
    # Given a healthy, a failing, a paused, a never-run and a disabled plugin
    add_plugin(session, "system", health_status="ok", error_count=2, rejected_count=5,
               last_duration_ms=12.5)  # fmt: skip
    add_plugin(session, "nas", health_status="failing", consecutive_failures=3, error_count=7,
               last_duration_ms=30000.0)  # fmt: skip
    add_plugin(session, "old", health_status="paused", consecutive_failures=10, error_count=10)
    add_plugin(session, "new")
    add_plugin(session, "off", enabled=False, health_status="failing", consecutive_failures=1)
    session.commit()
    configure(database_url)
    # When collecting
    acc = collect(UnityPlugin)
    # Then the failing plugin shows its failures and is down, the healthy one is up
    acc.assert_no_errors()
    acc.assert_metric("consecutive_failures", {"plugin": "nas"}, 3, unit="count")
    acc.assert_metric("up", {"plugin": "nas"}, 0)
    acc.assert_metric("errors_total", {"plugin": "nas"}, 7, type=MetricType.COUNTER)
    acc.assert_metric("up", {"plugin": "system"}, 1)
    acc.assert_metric("consecutive_failures", {"plugin": "system"}, 0)
    acc.assert_metric("rejected_total", {"plugin": "system"}, 5, type=MetricType.COUNTER)
    acc.assert_metric("collection_duration_ms", {"plugin": "system"}, 12.5, unit="ms")
    # And paused and never-run plugins are down, with zero counters where nothing is known
    acc.assert_metric("up", {"plugin": "old"}, 0)
    acc.assert_metric("up", {"plugin": "new"}, 0)
    acc.assert_metric("errors_total", {"plugin": "new"}, 0)
    acc.assert_no_metric("collection_duration_ms", {"plugin": "new"})
    # And the disabled plugin is not reported at all; the totals count enabled ones only
    assert {m.tags["plugin"] for m in acc.find("up")} == {"system", "nas", "old", "new"}
    acc.assert_metric("plugins_enabled", value=4)
    acc.assert_metric("plugins_failing", value=1)
    acc.assert_metric("plugins_paused", value=1)


def test_workers_and_pinned_plugins_without_a_live_worker_are_reported(
    configure: Configure, database_url: str, session: Session
) -> None:
    # Given docker pinned to host.nas, pi-system pinned to host.pi and an unpinned http;
    # the NAS worker announced itself 5 s ago, the Pi's fell silent 2 minutes ago
    add_plugin(session, "docker", queue="host.nas", health_status="ok")
    add_plugin(session, "pi-system", queue="host.pi", health_status="ok")
    add_plugin(session, "http", health_status="ok")
    session.commit()
    for name, host, age in (("unity-collect@nas", "nas", 5), ("unity-collect@pi", "pi", 120)):
        announce(
            session,
            Announcement(name, host, ("collect", f"host.{host}"), 2, 1, NOW),
            now=NOW - timedelta(seconds=age),
        )
    configure(database_url)
    # When collecting
    acc = collect(UnityPlugin)
    # Then the Pi's pinned plugin is unreachable and down; the others are reachable
    acc.assert_no_errors()
    acc.assert_metric("reachable", {"plugin": "pi-system"}, 0, unit="boolean")
    acc.assert_metric("up", {"plugin": "pi-system"}, 0)
    acc.assert_metric("reachable", {"plugin": "docker"}, 1)
    acc.assert_metric("reachable", {"plugin": "http"}, 1)
    acc.assert_metric("plugins_unreachable", value=1)
    # And each worker's heartbeat age is reported, the silent one counted as such
    tags = {"worker": "unity-collect@pi", "worker_host": "pi"}
    acc.assert_metric("worker_heartbeat_age_seconds", tags, 120, unit="seconds")
    acc.assert_metric("workers_alive", value=1)
    acc.assert_metric("workers_silent", value=1)


def test_a_late_plugin_shows_how_far_behind_schedule_it_is(
    configure: Configure, database_url: str, session: Session
) -> None:
    # Given a plugin last dispatched an hour ago, one dispatched for the current slot, one
    # backing off after failures (its stored next_due already passed), a paused one and
    # one never dispatched
    behind = latest_slot("behind") - timedelta(hours=1)
    add_plugin(session, "behind", last_slot=behind, next_due=behind + timedelta(seconds=60))
    add_plugin(session, "on-time", last_slot=latest_slot("on-time"))
    backing = latest_slot("backing-off") - timedelta(minutes=2)
    add_plugin(session, "backing-off", last_slot=backing, next_due=backing + timedelta(seconds=60),
               health_status="failing", consecutive_failures=3)  # fmt: skip
    add_plugin(session, "paused", last_slot=behind, health_status="paused")
    add_plugin(session, "never-run")
    session.commit()
    configure(database_url)
    # When collecting
    acc = collect(UnityPlugin)
    # Then the first is late by the time since its next slot after the last dispatch
    expected = (NOW - (behind + timedelta(seconds=60))).total_seconds()
    acc.assert_metric("lateness_seconds", {"plugin": "behind"}, expected, unit="seconds")
    assert expected > 3500
    # And a plugin dispatched on time, or deliberately backed off (60 s * 2**3 > 2 min), or
    # paused, is not late
    for plugin_id in ("on-time", "backing-off", "paused"):
        acc.assert_metric("lateness_seconds", {"plugin": plugin_id}, 0)
    # And one never dispatched is late since the slot it is due for
    never = (NOW - latest_slot("never-run")).total_seconds()
    acc.assert_metric("lateness_seconds", {"plugin": "never-run"}, never)
    acc.assert_no_errors()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_queue_and_dead_letter_depth_are_read_from_the_redis_broker(
    configure: Configure, database_url: str, session: Session, redis_url: str
) -> None:
    # Given raw messages in the lists kombu uses: `collect`, a priority list of `persist`,
    # a host queue declared by kombu, one empty, and the queue a plugin is routed to
    client = redis.Redis.from_url(redis_url)
    client.lpush("collect", "m1", "m2", "m3")
    client.lpush(f"persist{SEP}6", "m4")
    with KombuConnection(redis_url) as connection:
        connection.SimpleQueue("host.nas").put({"n": 1})
        connection.SimpleQueue("host.idle")
    client.lpush("host.nas", "m5")
    client.lpush("special", "m6")
    client.lpush("unrelated", "m7")
    add_plugin(session, "ups", queue="special")
    session.commit()
    # And two outcomes waiting on the outcome stream (they count as `persist`)
    client.xadd(OUTCOME_STREAM, {"o": "{}", "r": 1, "a": 0})
    client.xadd(OUTCOME_STREAM, {"o": "{}", "r": 1, "a": 0})
    # And two dead letters in the stream
    client.xadd("unity:dlq", {"payload": "{}", "reason": "db down"})
    client.xadd("unity:dlq", {"payload": "{}", "reason": "db down"})
    configure(database_url, redis_url)
    # When collecting
    acc = collect(UnityPlugin)
    # Then each queue's depth is its lists' lengths, host queues found from their bindings
    depths = {m.tags["queue"]: m.value for m in acc.find("queue_depth")}
    assert depths == {"collect": 3, "persist": 3, "maintenance": 0, "host.nas": 2,
                      "host.idle": 0, "special": 1}  # fmt: skip
    acc.assert_metric("dlq_depth", value=2, unit="messages")
    acc.assert_no_errors()
    client.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_queue_and_dead_letter_depth_are_read_from_the_embedded_broker(
    configure: Configure, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given messages published by kombu's filesystem transport into <data_dir>/broker/queue,
    # one already claimed by a worker (moved to processed/) and a stray file; the transport
    # keeps exchange bindings in class-level state, so start from a clean one, not from
    # whatever an earlier test in this process declared
    monkeypatch.setattr(filesystem_transport.Transport, "global_state", BrokerState())
    settings = configure(database_url)
    queue = settings.data_dir / "broker" / "queue"
    (queue / "processed").mkdir(parents=True)
    options = {"data_folder_in": str(queue), "data_folder_out": str(queue),
               "control_folder": str(tmp_path / "control")}  # fmt: skip
    with KombuConnection("filesystem://", transport_options=options) as connection:
        for name, count in (("collect", 2), ("persist", 1), ("host.nas", 3), ("elsewhere", 1)):
            for n in range(count):
                connection.SimpleQueue(name).put({"n": n})
    (queue / "processed" / f"1_{uuid.uuid4()}.collect.msg").write_text("{}")
    (queue / "notes.txt").write_text("not a message")
    # And a dead-letter spool with two entries, a blank line and a torn last line
    spool = settings.data_dir / "dlq" / "dead-letters.jsonl"
    spool.parent.mkdir(parents=True)
    entry = json.dumps({"id": "a", "reason": "db down", "payload": {"p": "system"}})
    spool.write_text(f"{entry}\n\n{entry}\n{entry[:20]}", encoding="utf-8")
    # When collecting
    acc = collect(UnityPlugin)
    # Then waiting message files count per queue, host queues included
    depths = {m.tags["queue"]: m.value for m in acc.find("queue_depth")}
    assert depths == {"collect": 2, "persist": 1, "maintenance": 0, "host.nas": 3}
    # And the spool's complete entries count
    acc.assert_metric("dlq_depth", value=2)
    acc.assert_no_errors()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unreachable_broker_or_database_is_an_error_of_that_item_not_a_failed_run(
    configure: Configure, database_url: str, tmp_path: Path
) -> None:
    # Given a broker port nobody listens on and a database file without Unity's tables
    configure(f"sqlite:///{tmp_path / 'empty.db'}", f"redis://127.0.0.1:{free_port()}/0")
    # When the runner runs the plugin
    plugin = UnityPlugin(validate_config(UnityPlugin, "unity", {"broker_timeout": 0.5}))
    collection = run_plugin(plugin, NOW, timeout=20)
    # Then the run succeeds with one error per missing piece and nothing made up
    assert [e.split(":")[0] for e in collection.errors] == ["database", "broker"]
    assert "reading plugin status" in collection.errors[0]
    assert "reading queue depths" in collection.errors[1]
    assert collection.metrics == []
    # And a database server that is down is reported the same way
    configure(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/unity")
    collection = run_plugin(UnityPlugin(), NOW, timeout=20)
    assert [e.split(":")[0] for e in collection.errors] == ["database"]
    assert collection.first("queue_depth") == 0  # the embedded broker is still measured


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.timeout(60)
def test_on_sqlite_its_reads_do_not_wait_for_a_writer(
    configure: Configure, database_url: str, session: Session
) -> None:
    # Given a plugin, and a writer holding SQLite's write lock (as a persist batch does)
    add_plugin(session, "system", health_status="ok")
    session.commit()
    configure(database_url)
    writer = make_engine(database_url)
    with writer.begin() as locked:
        locked.execute(update(PluginStatus).values(error_count=1))
        # When collecting meanwhile
        started = time.monotonic()
        acc = collect(UnityPlugin)
        waited = time.monotonic() - started
    writer.dispose()
    # Then the run read the last committed state at once instead of queueing for the lock
    acc.assert_no_errors()
    acc.assert_metric("errors_total", {"plugin": "system"}, 0)
    assert waited < 5, f"the read waited {waited:.1f} s for the writer"


def test_batch_write_latency_comes_from_the_persist_stage_rows_when_it_writes_them(
    configure: Configure, database_url: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no batch rows at all / When collecting / Then no batch figures, and no error
    configure(database_url)
    acc = collect(UnityPlugin)
    for name in BATCH_METRICS:
        acc.assert_no_metric(name)
    acc.assert_no_errors()
    # Given batch rows within the last interval and an older one
    rows = [
        MetricRow.build(NOW - timedelta(seconds=10), "unity", "batch_write_ms", 10.0),
        MetricRow.build(NOW - timedelta(seconds=20), "unity", "batch_write_ms", 30.0),
        MetricRow.build(NOW - timedelta(hours=1), "unity", "batch_write_ms", 999.0),
        MetricRow.build(NOW - timedelta(seconds=10), "unity", "batch_rows", 100),
        MetricRow.build(NOW - timedelta(seconds=20), "unity", "batch_rows", 300),
    ]
    write_batch(session, rows)
    session.commit()
    # When collecting / Then the window's batches are counted and averaged
    acc = collect(UnityPlugin)
    acc.assert_metric("batches_written", value=2)
    acc.assert_metric("batch_write_ms_avg", value=20.0, unit="ms")
    acc.assert_metric("batch_write_ms_max", value=30.0)
    acc.assert_metric("batch_rows_avg", value=200.0, unit="rows")
    # And two hours later, when the window holds none: zero batches and no averages
    monkeypatch.setattr(unity_module, "_now", lambda: NOW + timedelta(hours=2))
    acc = collect(UnityPlugin)
    acc.assert_metric("batches_written", value=0)
    acc.assert_no_metric("batch_write_ms_avg")


def test_what_it_collects_is_valid_and_stored_as_the_unity_plugins_metrics(
    configure: Configure, database_url: str, session: Session
) -> None:
    # Given the registry synchronised with the system and unity plugins, system failing
    settings = configure(database_url)
    discovery = Discovery(classes={"unity": UnityPlugin, "system": _system_class()})
    sync_registry(session, settings, discovery)
    session.commit()
    session.add(PluginStatus(plugin_id="system", health_status="failing", consecutive_failures=2))
    session.commit()
    instance = get_instance(session, "unity", settings)
    # When the unity instance is collected through the pipeline and persisted
    outcome = collect_once(
        instance, instantiate(instance, discovery), NOW, worker_host="test", settings=settings
    )
    persist_outcomes(session, [outcome])
    session.commit()
    # Then nothing was rejected and its figures are stored under plugin_id "unity"
    assert outcome.ok and not outcome.rejects and not outcome.errors, outcome
    stored = session.execute(
        select(PluginMetric.metric_name, PluginMetric.numeric_value, PluginMetric.tags).where(
            PluginMetric.plugin_id == "unity"
        )
    ).all()
    failures = [(v, t) for name, v, t in stored if name == "consecutive_failures"]
    assert (2.0, "system") in [(v, (t or {}).get("plugin")) for v, t in failures]
    assert {"queue_depth", "dlq_depth", "plugins_enabled"} <= {name for name, _, _ in stored}


def _system_class() -> Any:
    from unity_plugins.system import SystemPlugin

    return SystemPlugin


def test_summary_is_one_human_sentence() -> None:
    # Given a collection with totals, a late plugin, queues, dead letters and batch figures
    metrics = [
        Metric("plugins_enabled", 5),
        Metric("plugins_failing", 1),
        Metric("plugins_paused", 0),
        Metric("lateness_seconds", 600.0, {"plugin": "nas"}),
        Metric("lateness_seconds", 2.0, {"plugin": "system"}),
        Metric("queue_depth", 2, {"queue": "persist"}),
        Metric("queue_depth", 0, {"queue": "collect"}),
        Metric("queue_depth", 4, {"queue": "host.nas"}),
        Metric("dlq_depth", 0),
        Metric("batches_written", 12),
        Metric("batch_write_ms_avg", 35.4),
    ]
    collection = Collection("unity", NOW, metrics)
    # When summarised / Then it reads as a sentence, default queues first
    assert UnityPlugin({"late_after": 60}).summary(collection) == (
        "5 plugins enabled, 1 failing, 0 paused, 1 late; queues: collect 0, persist 2, "
        "host.nas 4; DLQ empty; 12 batches written, 35 ms average"
    )
    one = Collection("unity", NOW, [Metric("plugins_enabled", 1), Metric("dlq_depth", 3)])
    assert UnityPlugin().summary(one) == "1 plugin enabled, 0 failing, 0 paused; DLQ 3"
    assert UnityPlugin().summary(Collection("unity", NOW)) == "no Unity figures collected"


def test_bad_options_are_refused_by_the_schema() -> None:
    # Given options out of range / When validated / Then each is named
    with pytest.raises(Exception, match=r"config\.broker_timeout") as error:
        validate_config(UnityPlugin, "unity", {"broker_timeout": 60, "late_after": -1})
    assert "config.late_after" in str(error.value)


def test_the_plugin_class_passes_discovery_checks_and_loads_from_the_plugins_folder() -> None:
    # Given / When checked as discovery does / Then nothing is wrong with it
    assert check_plugin_class(UnityPlugin) is None
    assert (UnityPlugin.id, UnityPlugin.name) == ("unity", "Unity")
    # And the folder form of discovery finds it too (the installed entry point, when
    # present, is found first and the folder copy is reported as the duplicate it is)
    found = discover(PLUGINS_DIR)
    assert found.classes["unity"].id == "unity", found.errors
    assert "unity" not in found.errors or "duplicate plugin id" in found.errors["unity"]


def test_unity_is_installed_under_the_unity_plugins_entry_point() -> None:
    # Given the installed distribution (pyproject: [project.entry-points."unity.plugins"])
    # When discovering without a plugins_dir
    found = discover()
    # Then unity comes from its entry point
    assert found.classes.get("unity") is UnityPlugin, found.errors
    assert found.sources["unity"] == "entry point unity = unity_plugins.unity:UnityPlugin"
