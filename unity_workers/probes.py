"""Worker reachability for `unity status` (entry point `unity.probes`): who answers a ping."""

from __future__ import annotations

from unity_core.config import Settings
from unity_core.status import Probe

#: Seconds to wait for workers to answer; status must stay quick when none run.
TIMEOUT = 1.5


def workers(settings: Settings) -> list[Probe]:
    """One line per answering worker with its queues, or one line saying none answered."""
    from unity_workers.celery import app

    try:
        inspect = app.control.inspect(timeout=TIMEOUT)
        queues = inspect.active_queues() or {}
    except Exception as error:  # broker down or remote control unavailable: say so
        return [Probe("workers", False, f"cannot ask workers: {str(error).splitlines()[0]}")]
    if not queues:
        return [Probe("workers", False, f"no worker answered within {TIMEOUT:g} s")]
    return [
        Probe("worker", True, f"{name}: queues {', '.join(sorted(q['name'] for q in found))}")
        for name, found in sorted(queues.items())
    ]
