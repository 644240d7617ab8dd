"""UnityScheduler driven tick by tick in this process, on a real database, with a fake clock:
standby and takeover, Celery's own entries on the active beat only, a database outage."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import update
from sqlalchemy.engine import make_url

from unity_core.config import DatabaseSettings, Settings
from unity_core.storage import make_engine, make_sessionmaker
from unity_core.storage.models import Plugin
from unity_core.storage.schedule import DueEntry
from unity_workers.scheduler import UnityScheduler

from .conftest import TcpForwarder

T0 = datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)


class Outage(TcpForwarder):
    """The forwarder, whose stop() really refuses new connections and cuts open ones, like
    a server going down: close() from another thread wakes neither the accept() nor the
    recv() blocked on a socket (Linux), so the port would go on working; shutdown() does."""

    def stop(self) -> None:
        for sock in [self._server, *self._sockets]:
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        super().stop()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingScheduler(UnityScheduler):
    """The real scheduler, with what it would publish recorded instead of sent to a broker."""

    producer = None  # Celery's entries go to apply_entry below; no broker connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[tuple[str, datetime]] = []
        self.applied: list[str] = []
        super().__init__(*args, **kwargs)

    def _send(self, entry: DueEntry) -> None:
        self.sent.append((entry.plugin_id, entry.slot))

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        self.applied.append(entry.name)


@pytest.fixture
def app() -> Celery:
    celery = Celery("unity-scheduler-test")
    celery.conf.update(beat_schedule={}, beat_max_loop_interval=5)
    return celery


def settings_for(url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database=DatabaseSettings(url=url))


def add_plugins(url: str, *plugin_ids: str, interval: int = 10, enabled: bool = True) -> None:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            for plugin_id in plugin_ids:
                session.add(
                    Plugin(
                        plugin_id=plugin_id,
                        plugin="system",
                        name=plugin_id,
                        enabled=enabled,
                        interval_seconds=interval,
                    )
                )
            session.commit()
    finally:
        engine.dispose()


def set_enabled(url: str, plugin_id: str, enabled: bool) -> None:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            session.execute(
                update(Plugin).where(Plugin.plugin_id == plugin_id).values(enabled=enabled)
            )
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture
def schedulers(app: Celery, database_url: str, tmp_path: Path) -> Iterator[Any]:
    made: list[RecordingScheduler] = []

    def make(clock: Clock, url: str | None = None) -> RecordingScheduler:
        scheduler = RecordingScheduler(
            app, settings=settings_for(url or database_url, tmp_path), lease_ttl=30, clock=clock
        )
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close()


def messages(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_one_beat_dispatches_while_the_other_stands_by_and_logs_it_once(
    schedulers: Any, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="unity.beat")
    clock = Clock()
    add_plugins(database_url, "system")
    # Given beat A took the lease and dispatched the due slot
    a, b = schedulers(clock), schedulers(clock)
    a.tick()
    assert a.is_active and [p for p, _ in a.sent] == ["system"]
    # When B ticks several times while A keeps renewing across later slots
    for _ in range(3):
        clock.advance(10)
        a.tick()
        b.tick()
    # Then B sent nothing and said once that it stands by; A sent each slot once
    assert not b.is_active and b.sent == []
    assert messages(caplog, f"beat {b.owner} is standing by") == 1
    assert len(a.sent) == len(set(a.sent)) == 4
    # When A stops cleanly (releasing the lease), B takes over at its next tick
    a.close()
    clock.advance(10)
    b.tick()
    assert b.is_active and b.sent == [("system", a.sent[-1][1] + timedelta(seconds=10))]
    assert messages(caplog, f"beat {b.owner} holds the lease") == 1


def test_enabling_a_plugin_is_dispatched_at_the_next_tick_without_restart(
    schedulers: Any, database_url: str
) -> None:
    clock = Clock()
    add_plugins(database_url, "ups", enabled=False)
    beat = schedulers(clock)
    # Given a running beat with nothing enabled
    beat.tick()
    assert beat.sent == []
    # When a plugin is enabled in the database (CLI or API)
    set_enabled(database_url, "ups", True)
    clock.advance(1)
    beat.tick()
    # Then the very next tick dispatches it; disabled again, the next slot is not sent
    assert [p for p, _ in beat.sent] == ["ups"]
    set_enabled(database_url, "ups", False)
    clock.advance(10)
    beat.tick()
    assert len(beat.sent) == 1


def test_celery_entries_run_on_the_active_beat_only(
    app: Celery, schedulers: Any, database_url: str
) -> None:
    # Given a beat_schedule entry due every 0.01 s, and two beats
    app.conf.beat_schedule = {"ping": {"task": "unity.test.ping", "schedule": 0.01}}
    clock = Clock()
    a = schedulers(clock)
    b = schedulers(clock)
    # Then both know Celery's entry and unity.maintenance
    assert {"ping", "unity.maintenance"} <= set(a.schedule) and "ping" in b.schedule
    # When both tick until the active one has applied Celery's entry and maintenance (a tick
    # handles one due entry, and Unity's own fixed entries are all due on the first ticks)
    deadline = time.monotonic() + 10
    while not {"ping", "unity.maintenance"} <= set(a.applied) and time.monotonic() < deadline:
        a.tick()
        b.tick()
    # Then only the lease holder applied the entry, and maintenance once as it took over
    assert "ping" in a.applied and b.applied == []
    assert a.applied.count("unity.maintenance") == 1


def test_a_database_outage_is_logged_once_survived_and_caught_up_once(
    schedulers: Any, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        pytest.skip("a SQLite file cannot go away like a server")
    caplog.set_level(logging.INFO, logger="unity.beat")
    add_plugins(database_url, "system")
    # Given a beat reaching its database through a forwarder that can be switched off
    forwarder = Outage((url.host or "127.0.0.1", url.port or 0))
    forwarder.start()
    clock = Clock()
    beat = schedulers(clock, url.set(port=forwarder.port).render_as_string(hide_password=False))
    beat.tick()
    assert len(beat.sent) == 1
    try:
        # When the database goes away for several slots
        forwarder.stop()
        delays = []
        for _ in range(3):
            clock.advance(10)
            delays.append(beat.tick())
        # Then beat keeps ticking (no exception), sends nothing, warns once
        assert beat.sent[1:] == []
        assert all(0 < delay <= 5 for delay in delays)
        assert messages(caplog, "scheduling failed") == 1
        # When the database is back
        forwarder.start()
        clock.advance(1)
        beat.tick()
    finally:
        forwarder.stop()
    # Then the plugin runs once, for the latest slot, and recovery is logged
    assert len(beat.sent) == 2 and beat.sent[1][1] == beat.sent[0][1] + timedelta(seconds=30)
    assert messages(caplog, "scheduling works again") == 1
