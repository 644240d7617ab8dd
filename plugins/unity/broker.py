"""How much work waits in the broker: messages per queue, entries in the dead-letter store.

Read straight from the storage kombu and unity_workers use, so the plugin needs neither
Celery nor kombu (plugins must not import Celery):

- Redis broker: a queue is a list named after it (kombu LPUSHes, workers BRPOP), plus one
  list per priority step, `<queue>\\x06\\x16<step>` (kombu/transport/redis.py `_q_for_pri`).
  Queues a worker consumes are bound in the set `_kombu.binding.<exchange>`, members
  `<routing key>\\x06\\x16<pattern>\\x06\\x16<queue>`; Celery gives each queue an exchange
  of the same name, which is how `host.*` queues are found even while empty.
- Embedded broker: kombu's filesystem transport keeps one file per message in
  <data_dir>/broker/queue, named `<ms>_<uuid>.<queue>.msg` (kombu/transport/filesystem.py
  `_put`); a consumer claims one by moving it into the `processed` sub-folder.
- Dead letters (unity_workers/dlq.py): the stream `unity:dlq` on the broker Redis, else the
  JSONL spool <data_dir>/dlq/dead-letters.jsonl, one entry per line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unity_core.config import Settings

#: The queues every deployment has (celeryconfig.task_routes); always reported, 0 when empty.
DEFAULT_QUEUES = ("collect", "persist", "maintenance")
#: Per-host queues (`unity worker -Q host.nas,default`) are found in the broker by this prefix.
HOST_QUEUE_PREFIX = "host."
#: kombu's separator and default priority steps for Redis queues (PRIORITY_STEPS).
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
BINDING_PREFIX = "_kombu.binding."
#: unity_workers.outcome_stream.STREAM: outcomes waiting to be persisted (Redis broker).
OUTCOME_STREAM = "unity:outcomes"
PERSIST_QUEUE = "persist"
DLQ_STREAM = "unity:dlq"
DLQ_FOLDER = "dlq"
MESSAGE_SUFFIX = ".msg"


@dataclass(frozen=True)
class Broker:
    """Where the broker keeps its messages: a Redis URL, a folder, or neither (unsupported)."""

    #: "redis", "filesystem", or the URL scheme of a broker the plugin cannot read.
    kind: str
    #: The redis:// URL (valkey:// rewritten) when kind is "redis".
    redis_url: str | None
    #: The embedded broker's message folder, <data_dir>/broker/queue.
    queue_folder: Path
    #: The dead-letter spool folder, used whenever the broker is not Redis (as dlq_for does).
    dlq_folder: Path


def broker_of(settings: Settings) -> Broker:
    """The broker `settings` describe, resolved the way celeryconfig and dlq_for resolve it."""
    data_dir = Path(settings.data_dir)
    redis_url = settings.broker.redis_url
    scheme = (settings.broker.url or "filesystem").split("://", 1)[0].lower()
    return Broker(
        kind="redis" if redis_url else scheme,
        redis_url=redis_url,
        queue_folder=data_dir / "broker" / "queue",
        dlq_folder=data_dir / DLQ_FOLDER,
    )


def redis_client(url: str, timeout: float) -> Any:
    """A redis-py client whose connect and every read give up after `timeout` seconds."""
    import redis

    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry_on_timeout=False
    )


def redis_host_queues(client: Any) -> set[str]:
    """The `host.*` queues some worker has declared on this Redis (from kombu's bindings)."""
    found: set[str] = set()
    for key in client.scan_iter(match=f"{BINDING_PREFIX}{HOST_QUEUE_PREFIX}*", count=500):
        for member in client.smembers(key):
            text = member.decode() if isinstance(member, bytes) else str(member)
            queue = text.split(PRIORITY_SEP)[-1]
            if queue.startswith(HOST_QUEUE_PREFIX):
                found.add(queue)
    return found


def redis_queue_depths(client: Any, queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue: LLEN of its list and its priority lists, one round trip.

    `persist` also counts the outcome stream's entries (the hand-over to persisting on a
    Redis broker), which stay there until their rows are committed. Celery messages a worker
    has taken but not yet acknowledged are not counted (kombu moves them to its `unacked`
    hash, which is not per queue).
    """
    names = sorted(set(queues))
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            for step in PRIORITY_STEPS:
                pipe.llen(name if step == 0 else f"{name}{PRIORITY_SEP}{step}")
        pipe.xlen(OUTCOME_STREAM)
        *lengths, stream = pipe.execute()
    per_queue = len(PRIORITY_STEPS)
    depths = {
        name: sum(int(n) for n in lengths[i * per_queue : (i + 1) * per_queue])
        for i, name in enumerate(names)
    }
    if PERSIST_QUEUE in depths:
        depths[PERSIST_QUEUE] += int(stream)
    return depths


def redis_dlq_depth(client: Any) -> int:
    """Entries in the dead-letter stream (0 when it does not exist yet)."""
    return int(client.xlen(DLQ_STREAM))


def file_queue_depths(folder: Path, queues: Iterable[str]) -> dict[str, int]:
    """Message files per queue in the embedded broker's folder, `host.*` queues found included.

    Claimed messages (in `processed/`) are not waiting and are not counted. A missing
    folder means nothing was ever queued: every queue is 0.
    """
    depths = dict.fromkeys(queues, 0)
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return depths
    for entry in entries:
        name = entry.name
        if not name.endswith(MESSAGE_SUFFIX):
            continue
        # kombu matches `name.partition('.')[2] == f'{queue}.msg'`; the queue may hold dots.
        queue = name.partition(".")[2][: -len(MESSAGE_SUFFIX)]
        if queue in depths or queue.startswith(HOST_QUEUE_PREFIX):
            if entry.is_file(follow_symlinks=False):
                depths[queue] = depths.get(queue, 0) + 1
    return depths


def spool_dlq_depth(folder: Path) -> int:
    """Entries in the JSONL spool(s): non-empty lines that parse as JSON objects.

    A torn last line (a crash mid-append) is skipped, as `unity dlq list` skips it. The spool
    is rewritten by atomic rename, so reading without its lock sees the old or the new file.
    """
    try:
        spools = sorted(folder.glob("*.jsonl"))
    except OSError:
        return 0
    count = 0
    for spool in spools:
        try:
            text = spool.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:  # replaced between glob and read
            continue
        for line in text.splitlines():
            if line.strip() and _is_entry(line):
                count += 1
    return count


def _is_entry(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
