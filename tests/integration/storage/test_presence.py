"""Worker presence: heartbeats, silent workers, and pinned plugins no live worker serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from unity_core.config.settings import DatabaseSettings, Settings
from unity_core.presence import (
    STALE_AFTER,
    Announcement,
    announce,
    unpinned_without_host_tag,
    unreachable_plugins,
    withdraw,
    worker_presence,
)
from unity_core.status import plugin_health
from unity_core.storage.models import Plugin

from .write_helpers import open_session

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def nas(name: str = "unity-collect@nas", queues: tuple[str, ...] = ("host.nas",)) -> Announcement:
    return Announcement(name, "nas", queues, concurrency=4, pid=123, started_at=T0)


def add_plugin(
    engine: Engine,
    plugin_id: str,
    queue: str | None,
    enabled: bool = True,
    tags: dict[str, str] | None = None,
) -> None:
    with open_session(engine) as session:
        session.add(Plugin(plugin_id=plugin_id, plugin="system", name=plugin_id, enabled=enabled,
                           queue=queue, tags=tags))  # fmt: skip
        session.commit()


def test_a_worker_is_listed_with_its_queues_concurrency_and_heartbeat_age(engine: Engine) -> None:
    # Given a worker that announced itself at T0
    with open_session(engine) as session:
        announce(session, nas(queues=("collect", "host.nas")), now=T0)
        # When read 7 s later
        [worker] = worker_presence(session, now=T0 + timedelta(seconds=7))
    # Then it is alive, with what it said about itself and its heartbeat's age
    assert (worker.name, worker.host, worker.queues, worker.concurrency) == (
        "unity-collect@nas", "nas", ("collect", "host.nas"), 4,
    )  # fmt: skip
    assert worker.alive and worker.age_seconds == 7


def test_a_worker_that_stops_heartbeating_is_reported_silent_within_a_minute(
    engine: Engine,
) -> None:
    with open_session(engine) as session:
        announce(session, nas(), now=T0)
        # When no heartbeat follows for longer than STALE_AFTER (< 60 s)
        later = T0 + timedelta(seconds=STALE_AFTER + 1)
        [worker] = worker_presence(session, now=later)
        # Then it is listed as silent, not forgotten
        assert not worker.alive and STALE_AFTER < 60
        # And a fresh heartbeat makes it alive again
        announce(session, nas(), now=later)
        assert worker_presence(session, now=later)[0].alive


def test_a_cleanly_stopped_worker_is_removed(engine: Engine) -> None:
    with open_session(engine) as session:
        announce(session, nas(), now=T0)
        withdraw(session, "unity-collect@nas")
        assert worker_presence(session, now=T0) == []


def test_a_pinned_plugin_without_a_live_consumer_is_unreachable(engine: Engine) -> None:
    # Given docker pinned to host.nas, an unpinned http, and a disabled pinned one
    add_plugin(engine, "docker", "host.nas")
    add_plugin(engine, "http", None)
    add_plugin(engine, "old", "host.gone", enabled=False)
    with open_session(engine) as session:
        # When no worker consumes host.nas
        # Then only docker is unreachable, in presence and in plugin health
        assert unreachable_plugins(session, []) == {"docker": "host.nas"}
        health = {p.plugin_id: p.health for p in plugin_health(session)}
        assert health == {"docker": "unreachable", "http": "unknown", "old": "disabled"}
        # When the NAS worker announces itself
        announce(session, nas())
        # Then docker is reachable again
        assert unreachable_plugins(session) == {}
        assert {p.plugin_id: p.health for p in plugin_health(session)}["docker"] == "unknown"


def test_a_silent_consumer_does_not_make_its_queue_reachable(engine: Engine) -> None:
    add_plugin(engine, "docker", "host.nas")
    with open_session(engine) as session:
        announce(session, nas(), now=T0)
        workers = worker_presence(session, now=T0 + timedelta(seconds=STALE_AFTER + 5))
        assert unreachable_plugins(session, workers) == {"docker": "host.nas"}


def test_unpinned_plugins_without_a_host_tag_are_named_once_hosts_share_collect(
    engine: Engine, tmp_path: Path
) -> None:
    # Given an unpinned check without a host tag, one with it, and a pinned plugin
    add_plugin(engine, "nas-web", None)
    add_plugin(engine, "router-ping", None, tags={"host": "router"})
    add_plugin(engine, "docker", "host.nas")
    settings = Settings(data_dir=tmp_path, database=DatabaseSettings(url=str(engine.url)))
    with open_session(engine) as session:
        announce(session, nas(queues=("collect", "host.nas")))
        # When only one host consumes collect, there is nothing to split
        assert unpinned_without_host_tag(session, settings, worker_presence(session)) == []
        # When a second host joins the shared queue
        pi = Announcement("unity-collect@pi", "pi", ("collect",), 2, 7, T0)
        announce(session, pi)
        # Then the check without a host tag is named
        workers = worker_presence(session)
        assert unpinned_without_host_tag(session, settings, workers) == ["nas-web"]
