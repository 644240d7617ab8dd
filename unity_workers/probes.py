"""Workers for `unity status` (entry point `unity.probes`): heartbeats, then who answers a ping.

Each worker's line comes from its heartbeat row (unity_core.presence): host, queues,
concurrency and heartbeat age; a worker silent for longer than STALE_AFTER is a failed
probe. Nodes that answer Celery's remote control but have not announced themselves yet
(just started) are listed from the answer.
"""

from __future__ import annotations

from unity_core.config import Settings
from unity_core.presence import (
    STALE_AFTER,
    WorkerPresence,
    hosts_sharing_collect,
    read_worker_presence,
    unpinned_without_host_tag,
)
from unity_core.status import Probe, read_fresh

#: Seconds to wait for workers to answer; status must stay quick when none run.
TIMEOUT = 1.5


def workers(settings: Settings) -> list[Probe]:
    """One line per known worker, or one line saying none announced itself or answered."""
    presence = read_worker_presence(settings)
    probes = [] if isinstance(presence, str) else [_from_heartbeat(w) for w in presence]
    known = set() if isinstance(presence, str) else {w.name for w in presence}
    answering = _answering(known)
    if isinstance(answering, Probe):
        if not probes:
            return [answering]
        answering = {}
    probes += [
        Probe("worker", True, f"{name}: queues {', '.join(queues)} (answering; no heartbeat yet)")
        for name, queues in sorted(answering.items())
    ]
    if not probes:
        why = presence if isinstance(presence, str) else "no worker announced itself"
        return [Probe("workers", False, f"{why}; none answered within {TIMEOUT:g} s")]
    if not isinstance(presence, str):
        probes += _shared_queue(settings, presence)
    return probes


def _shared_queue(settings: Settings, presence: list[WorkerPresence]) -> list[Probe]:
    """When several hosts share `collect`: say so, and warn about series that would split."""
    hosts = hosts_sharing_collect(presence)
    if len(hosts) < 2:
        return []
    found = read_fresh(
        settings, lambda s: unpinned_without_host_tag(s, settings, presence), "plugin tags"
    )
    warnings: tuple[str, ...] = ()
    if isinstance(found, str):
        warnings = (found,)
    elif found:
        warnings = (
            f"unpinned plugins without a host tag: {', '.join(found)} — their series follow "
            "whichever host collects them; give each `tags: {host: …}` "
            "(README: Scaling out across hosts)",
        )
    return [Probe("collect", True, f"shared by {len(hosts)} hosts: {', '.join(hosts)}", warnings)]


def _from_heartbeat(worker: WorkerPresence) -> Probe:
    age = f"heartbeat {worker.age_seconds:.0f}s ago"
    detail = (
        f"{worker.name} on {worker.host}: queues {', '.join(worker.queues)}; "
        f"concurrency {worker.concurrency}; {age}"
    )
    if not worker.alive:
        detail += f" — SILENT (no heartbeat for more than {STALE_AFTER:g} s)"
    return Probe("worker", worker.alive, detail)


def _answering(known: set[str]) -> dict[str, list[str]] | Probe:
    """Nodes answering a remote-control query that have no heartbeat row: {name: queues}."""
    from unity_workers.celery import app

    try:
        inspect = app.control.inspect(timeout=TIMEOUT)
        queues = inspect.active_queues() or {}
    except Exception as error:  # broker down or remote control unavailable: say so
        return Probe("workers", False, f"cannot ask workers: {str(error).splitlines()[0]}")
    return {
        name: sorted(q["name"] for q in found)
        for name, found in queues.items()
        if name not in known
    }
