"""Worker presence and liveness: announce this node while it can take work; feed systemd's watchdog.

A thread in the worker's main process asks its own node for a remote-control ping every
HEARTBEAT_INTERVAL seconds. The reply comes back through the consumer's broker connection,
so it proves that the connection and the event loop consuming tasks are alive — unlike a
timer, which keeps firing in a worker wedged on a half-open broker socket (RELIABILITY.md
§1.7). Only after a reply does the node

- upsert its `worker_heartbeats` row (unity_core.presence): a wedged or cut-off worker falls
  silent and `unity status` reports it within STALE_AFTER + one interval;
- send `WATCHDOG=1` to systemd when it runs under a unit with `WatchdogSec=` (the
  `NOTIFY_SOCKET` variable is set): systemd restarts a worker that stays wedged.

A clean stop removes the row, so a stopped worker is not reported as silent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from unity_core.presence import HEARTBEAT_INTERVAL, Announcement, announce, withdraw
from unity_workers import resources

logger = logging.getLogger("unity.workers.heartbeat")

#: Seconds the node has to answer its own ping.
PING_TIMEOUT = 5.0

_stop = threading.Event()
_thread: threading.Thread | None = None


def notify_systemd(message: bytes) -> bool:
    """Send `message` (e.g. b"WATCHDOG=1") to $NOTIFY_SOCKET; False when there is none."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(message)
        except OSError as error:
            logger.warning("cannot notify systemd at %s: %s", address, error)
            return False
    return True


def answers_ping(app: Any, node: str, timeout: float = PING_TIMEOUT) -> bool:
    """Whether `node` replies to a remote-control ping through the broker within `timeout`."""
    try:
        replies = app.control.ping(destination=[node], timeout=timeout) or []
    except Exception as error:  # broker unreachable: not alive, and say why once per beat
        logger.warning("heartbeat: cannot ping %s: %s", node, str(error).splitlines()[0])
        return False
    return any(node in reply for reply in replies)


class Heartbeat(threading.Thread):
    """The loop described in the module docstring, for one worker node."""

    def __init__(self, app: Any, announcement: Announcement, interval: float) -> None:
        super().__init__(name="unity-heartbeat", daemon=True)
        self.app = app
        self.announcement = announcement
        self.interval = interval

    def run(self) -> None:
        name = self.announcement.name
        notify_systemd(b"READY=1")
        while not _stop.is_set():
            if answers_ping(self.app, name):
                notify_systemd(b"WATCHDOG=1")
                self._announce()
            else:
                logger.warning("heartbeat: %s did not answer its own ping; not announcing", name)
            _stop.wait(self.interval)

    def _announce(self) -> None:
        try:
            with resources.sessions()() as session:
                announce(session, self.announcement)
        except Exception as error:  # the database may be away; the next beat tries again
            logger.warning("heartbeat: cannot record %s: %s", self.announcement.name, error)


def announcement_of(consumer: Any) -> Announcement:
    """What the worker whose consumer this is says about itself."""
    queues = tuple(sorted(consumer.app.amqp.queues.consume_from))
    controller = getattr(consumer, "controller", None)
    concurrency = int(getattr(controller, "concurrency", 0) or 0)
    return Announcement(
        name=str(consumer.hostname),
        host=resources.worker_host(),
        queues=queues,
        concurrency=concurrency,
        pid=os.getpid(),
        started_at=datetime.now(UTC),
    )


@worker_ready.connect
def _start(sender: Any = None, **_: Any) -> None:
    global _thread
    if sender is None or _thread is not None:
        return
    _stop.clear()
    _thread = Heartbeat(sender.app, announcement_of(sender), HEARTBEAT_INTERVAL)
    _thread.start()


@worker_shutdown.connect
def _stop_and_withdraw(**_: Any) -> None:
    global _thread
    thread, _thread = _thread, None
    if thread is None:
        return
    _stop.set()
    thread.join(timeout=PING_TIMEOUT + 1)
    try:
        with resources.sessions()() as session:
            withdraw(session, thread.announcement.name)
    except Exception as error:
        logger.warning("heartbeat: cannot withdraw %s: %s", thread.announcement.name, error)
