"""A worker announces itself while it answers through the broker, feeds systemd's watchdog,
and withdraws on a clean stop (unity_workers/heartbeat.py)."""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from unity_core.config import load_settings
from unity_core.presence import worker_presence
from unity_core.storage import make_engine, make_sessionmaker
from unity_workers.heartbeat import answers_ping
from unity_workers.processes import worker_commands

from .conftest import Deployment, WorkerProcess, wait_for


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(0.2)
        yield sock


def received(sock: socket.socket) -> set[bytes]:
    found = set()
    while True:
        try:
            found.add(sock.recv(256))
        except TimeoutError:
            return found


def nodes(url: str) -> dict[str, tuple[str, ...]]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return {w.name: w.queues for w in worker_presence(session) if w.alive}
    finally:
        engine.dispose()


# Which database holds the heartbeats does not matter here; one is enough. The self-ping
# must work on both brokers: Redis, and the embedded one `unity up` uses without a server.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("embedded", [False, True], ids=["redis", "embedded"])
def test_a_worker_announces_itself_notifies_systemd_and_withdraws_on_stop(
    deployment: Deployment, notify_socket: socket.socket, tmp_path: Path, embedded: bool
) -> None:
    # Given a collect worker started as systemd would, with NOTIFY_SOCKET set
    deployment.configure(embedded_broker=embedded)
    settings = load_settings(deployment.config_path, environ={})
    (command,) = worker_commands(
        ["collect", "host.nas"], concurrency=1, batch_size=settings.collection.batch_size,
        name="hb", host="nas",
    )  # fmt: skip
    env = {**deployment.env(), "NOTIFY_SOCKET": str(tmp_path / "notify")}
    worker = WorkerProcess("collect", [sys.executable, *command.argv[1:]], env, tmp_path / "w.log")
    deployment.workers.append(worker)
    worker.spawn()
    # Then it announces its node, host and queues in the database
    found = wait_for(lambda: nodes(deployment.database_url), 60, "the worker's heartbeat")
    assert found == {"hb-collect@nas": ("collect", "host.nas")}
    # And it told systemd it is ready and alive (after answering its own ping)
    messages: set[bytes] = set()
    wait_for(lambda: messages.update(received(notify_socket)) or b"WATCHDOG=1" in messages, 30,
             "WATCHDOG=1")  # fmt: skip
    assert b"READY=1" in messages
    # When it stops cleanly
    worker.stop()
    # Then its row is gone: a stopped worker is not reported as silent
    assert nodes(deployment.database_url) == {}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_frozen_worker_does_not_answer_its_ping(deployment: Deployment) -> None:
    # Given a running worker
    deployment.configure()
    [worker] = deployment.start("collect", concurrency=1)
    node = next(iter(wait_for(lambda: nodes(deployment.database_url), 60, "a heartbeat")))
    client = Celery("hb-test", broker=deployment.broker_url)
    assert answers_ping(client, node, timeout=5)
    # When its processes are frozen (as a worker wedged on a dead connection would be)
    assert worker.process is not None
    os.killpg(worker.process.pid, signal.SIGSTOP)
    try:
        # Then it does not answer, so it neither announces itself nor feeds the watchdog
        assert not answers_ping(client, node, timeout=2)
    finally:
        os.killpg(worker.process.pid, signal.SIGCONT)
    assert answers_ping(client, node, timeout=5)
