"""What a worker process opens once and reuses: settings, engine, sessions, cache, plugins, DLQ.

Connections are created lazily on first use *in the process that uses it*: a prefork child
never inherits a connection pool from its parent (sockets shared across fork corrupt each
other's traffic). `reset()` runs in `worker_process_init` and drops anything inherited
except the settings and the discovered plugin classes, which the main process loads once
before forking so a child's first collection does not pay for the imports.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unity_core.config import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from unity_workers.crashloop import StartCounter
    from unity_workers.dlq import DeadLetters
    from unity_workers.outcome_stream import OutcomeStream


@dataclass
class _Resources:
    pid: int = field(default_factory=os.getpid)
    settings: Settings | None = None
    engine: Engine | None = None
    sessions: sessionmaker[Session] | None = None
    cache: Any = None
    discovery: Any = None
    dead_letters: DeadLetters | None = None
    start_counter: StartCounter | None = None
    outcome_stream: OutcomeStream | None = None


_lock = threading.Lock()
_current = _Resources()


def _mine() -> _Resources:
    global _current
    if _current.pid != os.getpid():
        # Forked since these were made: forget the connections without closing the
        # parent's sockets; settings and discovered plugin classes hold none, so keep them.
        if _current.engine is not None:
            _current.engine.dispose(close=False)
        _current = _Resources(settings=_current.settings, discovery=_current.discovery)
    return _current


def settings() -> Settings:
    """The configuration this process runs with (UNITY_CONFIG and UNITY_* honoured)."""
    res = _mine()
    if res.settings is None:
        res.settings = load_settings()
    return res.settings


def sessions() -> sessionmaker[Session]:
    """This process's sessionmaker on the configured database."""
    res = _mine()
    with _lock:
        if res.sessions is None:
            from unity_core.storage import engine_for, make_sessionmaker

            res.engine = engine_for(settings().database)
            res.sessions = make_sessionmaker(res.engine)
        return res.sessions


def engine() -> Engine:
    sessions()
    engine = _mine().engine
    assert engine is not None
    return engine


def cache() -> Any:
    """This process's cache (a null cache when none is configured; never raises on use)."""
    res = _mine()
    with _lock:
        if res.cache is None:
            from unity_core.cache import make_cache

            res.cache = make_cache(settings())
        return res.cache


def discovery() -> Any:
    """The plugins installed and found in collection.plugins_dir, discovered once."""
    res = _mine()
    with _lock:
        if res.discovery is None:
            from unity_core.plugins.registry import discover

            res.discovery = discover(settings().collection.plugins_dir)
        return res.discovery


def dead_letters() -> DeadLetters:
    res = _mine()
    with _lock:
        if res.dead_letters is None:
            from unity_workers.dlq import dlq_for

            res.dead_letters = dlq_for(settings())
        return res.dead_letters


def start_counter() -> StartCounter:
    """Where redelivered collection starts are counted (the crash-loop guard)."""
    res = _mine()
    with _lock:
        if res.start_counter is None:
            from unity_workers.crashloop import counter_for

            conf = settings()
            res.start_counter = counter_for(conf.broker, Path(conf.data_dir))
        return res.start_counter


def outcome_stream() -> OutcomeStream | None:
    """The stream outcomes go to when the broker is one Redis Unity can reach, else None
    (the embedded broker, Sentinel: outcomes travel as `unity.persist` messages)."""
    res = _mine()
    with _lock:
        url = settings().broker.redis_url
        if res.outcome_stream is None and url is not None:
            from unity_workers.outcome_stream import OutcomeStream

            res.outcome_stream = OutcomeStream.from_url(url)
        return res.outcome_stream


#: Set by `unity worker --host NAME` for its Celery processes.
WORKER_HOST_VARIABLE = "UNITY_WORKER_HOST"


def worker_host() -> str:
    """The host name this worker records on every sample, in plugin_status and its heartbeat:
    `unity worker --host`, else `collection.host`, else the machine's name."""
    return (
        os.environ.get(WORKER_HOST_VARIABLE) or settings().collection.host or socket.gethostname()
    )


def reset() -> None:
    """Drop what this process inherited from its parent (after fork)."""
    _mine()


def close() -> None:
    """Release connections at process exit; the next use opens new ones."""
    global _current
    res = _mine()
    if res.engine is not None:
        res.engine.dispose()
    close_dlq = getattr(res.dead_letters, "close", None)
    if close_dlq is not None:
        close_dlq()
    if res.outcome_stream is not None:
        res.outcome_stream.close()
    _current = _Resources()
