"""Worker presence: which workers announced themselves lately, and which plugins no one serves.

Every `unity worker` node upserts a row in `worker_heartbeats` every HEARTBEAT_INTERVAL
seconds (unity_workers.heartbeat). A row older than STALE_AFTER is a silent worker: it
crashed, hangs, or its host lost the network. Silence is read from the database rather
than from Celery's events, so `unity status`, `/readyz` and the `unity` plugin see it
without Celery and whatever the broker.

A plugin pinned to a queue (e.g. `host.nas`) that no live worker consumes cannot run: its
health reads `unreachable` until a worker consuming that queue announces itself again.
Instances on the shared `collect` queue are not judged here: any worker can take them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from unity_core.config import Settings
from unity_core.status import read_fresh
from unity_core.storage.models import Plugin, WorkerHeartbeat
from unity_core.storage.types import utcnow

#: Seconds between two announcements of one worker.
HEARTBEAT_INTERVAL = 10.0
#: A worker silent this long is reported (three missed beats: within 40 s of its last one).
STALE_AFTER = 30.0
#: Rows of workers silent this long are dropped: a renamed or retired worker fades away.
FORGET_AFTER = timedelta(days=1)
#: The queue unpinned instances use; every worker of the default set consumes it.
SHARED_QUEUE = "collect"
UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Announcement:
    """What a worker node says about itself."""

    name: str
    host: str
    queues: tuple[str, ...]
    concurrency: int
    pid: int
    started_at: datetime


@dataclass(frozen=True)
class WorkerPresence(Announcement):
    """One worker as last announced; `alive` is False once it has been silent too long."""

    last_heartbeat: datetime
    age_seconds: float
    alive: bool

    def as_json(self) -> dict[str, object]:
        """JSON-safe form for the API's readiness document."""
        return {
            "name": self.name,
            "host": self.host,
            "queues": list(self.queues),
            "concurrency": self.concurrency,
            "pid": self.pid,
            "started_at": self.started_at.isoformat(),
            "last_heartbeat": self.last_heartbeat.isoformat(),
            "heartbeat_age_seconds": round(self.age_seconds, 1),
            "alive": self.alive,
        }


def announce(session: Session, worker: Announcement, now: datetime | None = None) -> None:
    """Upsert `worker`'s row with a fresh heartbeat and forget long-silent workers; commits.

    Each node writes only its own row, so read-then-write cannot race with another writer.
    """
    now = now or utcnow()
    row = session.get(WorkerHeartbeat, worker.name)
    if row is None:
        row = WorkerHeartbeat(name=worker.name)
        session.add(row)
    row.host = worker.host[:255]
    row.queues = list(worker.queues)
    row.concurrency = worker.concurrency
    row.pid = worker.pid
    row.started_at = worker.started_at
    row.last_heartbeat = now
    session.execute(
        delete(WorkerHeartbeat).where(WorkerHeartbeat.last_heartbeat < now - FORGET_AFTER)
    )
    session.commit()


def withdraw(session: Session, name: str) -> None:
    """Remove a worker that stops cleanly, so it is not reported as silent; commits."""
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.name == name))
    session.commit()


def worker_presence(
    session: Session, now: datetime | None = None, stale_after: float = STALE_AFTER
) -> list[WorkerPresence]:
    """Every known worker, by host then name, with its heartbeat age and liveness."""
    now = now or utcnow()
    found = []
    for row in session.scalars(
        select(WorkerHeartbeat).order_by(WorkerHeartbeat.host, WorkerHeartbeat.name)
    ):
        age = max(0.0, (now - row.last_heartbeat).total_seconds())
        found.append(
            WorkerPresence(
                name=row.name,
                host=row.host,
                queues=tuple(row.queues or ()),
                concurrency=row.concurrency,
                pid=row.pid,
                started_at=row.started_at,
                last_heartbeat=row.last_heartbeat,
                age_seconds=age,
                alive=age <= stale_after,
            )
        )
    return found


def live_queues(workers: Iterable[WorkerPresence]) -> set[str]:
    """The queues at least one live worker consumes."""
    return {queue for worker in workers if worker.alive for queue in worker.queues}


def unreachable_plugins(
    session: Session, workers: Sequence[WorkerPresence] | None = None
) -> dict[str, str]:
    """Enabled pinned instances whose queue no live worker consumes: {plugin_id: queue}."""
    consumed = live_queues(worker_presence(session) if workers is None else workers)
    pinned = session.execute(
        select(Plugin.plugin_id, Plugin.queue).where(
            Plugin.enabled.is_(True), Plugin.queue.is_not(None), Plugin.queue != SHARED_QUEUE
        )
    ).all()
    return {plugin_id: queue for plugin_id, queue in pinned if queue and queue not in consumed}


def hosts_sharing_collect(workers: Iterable[WorkerPresence]) -> list[str]:
    """The hosts with a live worker on the shared queue, sorted."""
    return sorted({w.host for w in workers if w.alive and SHARED_QUEUE in w.queues})


def unpinned_without_host_tag(
    session: Session, settings: Settings, workers: Sequence[WorkerPresence]
) -> list[str]:
    """Enabled unpinned instances whose series would follow the collecting host, if several
    hosts share the collect queue: their `host` tag defaults to that worker's
    collection.host unless the instance (or collection.tags) names one."""
    if len(hosts_sharing_collect(workers)) < 2 or "host" in settings.collection.tags:
        return []
    rows = session.execute(
        select(Plugin.plugin_id, Plugin.tags).where(
            Plugin.enabled.is_(True),
            (Plugin.queue.is_(None)) | (Plugin.queue == SHARED_QUEUE) | (Plugin.queue == ""),
        )
    ).all()
    return sorted(plugin_id for plugin_id, tags in rows if "host" not in (tags or {}))


def read_worker_presence(settings: Settings) -> list[WorkerPresence] | str:
    """worker_presence on a fresh engine (for `/readyz` and `unity status`), or why not."""
    return read_fresh(settings, worker_presence, "worker heartbeats")
