"""The dead-letter store: outcomes that could not be persisted, kept until `unity dlq replay`.

Redis has no dead-letter exchange (RELIABILITY.md §4.2), so Unity keeps its own: a Redis
stream `unity:dlq` on the broker instance (persistent, never evicting) when the broker is
Redis, else a JSONL spool under <data_dir>/dlq/ (appends are fsynced). Replaying sends each
entry again as `unity.persist` and removes it only after the publish succeeded, so a crash
mid-replay duplicates (harmless: writes are idempotent) but never loses an entry.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from unity_core.config import Settings

STREAM = "unity:dlq"
SPOOL_NAME = "dead-letters.jsonl"

#: Publishes one encoded outcome as a `unity.persist` task (attempt counter reset).
Send = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class DeadLetter:
    """One outcome that could not be persisted, and why."""

    id: str
    time: datetime
    reason: str
    attempts: int
    #: True when the database was unavailable (replaying later should work); False when the
    #: data itself was refused (replay only after fixing the cause).
    retryable: bool
    payload: dict[str, Any]

    @property
    def plugin_id(self) -> str | None:
        # "p" in encode_outcome's compact form.
        value = self.payload.get("p") if isinstance(self.payload, dict) else None
        return str(value) if value is not None else None


class DeadLetters(Protocol):
    """Where dead letters go; `add` must be durable when it returns."""

    def add(self, payload: dict[str, Any], reason: str, attempts: int, *, retryable: bool) -> str:
        """Store one entry; returns its id."""

    def list(self, limit: int | None = None) -> builtins.list[DeadLetter]:
        """Entries, oldest first."""

    def count(self) -> int: ...

    def replay(self, send: Send, *, retryable_only: bool = False) -> int:
        """Send entries again (oldest first), removing each once sent; returns how many."""


def _now() -> datetime:
    return datetime.now(UTC)


class RedisStreamDLQ:
    """The stream `unity:dlq` on the broker Redis: fields payload, reason, attempts, time."""

    def __init__(self, url: str, stream: str = STREAM) -> None:
        import redis

        self.stream = stream
        self.client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)

    def add(self, payload: dict[str, Any], reason: str, attempts: int, *, retryable: bool) -> str:
        entry_id = self.client.xadd(
            self.stream,
            {
                "payload": json.dumps(payload, separators=(",", ":")),
                "reason": reason,
                "attempts": attempts,
                "time": _now().isoformat(),
                "retryable": int(retryable),
            },
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def _entries(self, count: int | None = None) -> Iterator[DeadLetter]:
        start = "-"
        while True:
            chunk: Any = self.client.xrange(self.stream, min=start, count=count or 500)
            for raw_id, fields in chunk:
                yield _from_stream(raw_id, fields)
            if not chunk or (count is not None) or len(chunk) < 500:
                return
            last = chunk[-1][0].decode() if isinstance(chunk[-1][0], bytes) else chunk[-1][0]
            start = f"({last}"

    def list(self, limit: int | None = None) -> builtins.list[DeadLetter]:
        return list(self._entries(limit))

    def count(self) -> int:
        return int(self.client.xlen(self.stream))

    def replay(self, send: Send, *, retryable_only: bool = False) -> int:
        sent = 0
        for entry in self._entries():
            if retryable_only and not entry.retryable:
                continue
            send(entry.payload)
            self.client.xdel(self.stream, entry.id)
            sent += 1
        return sent

    def close(self) -> None:
        self.client.close()


def _from_stream(raw_id: Any, fields: dict[Any, Any]) -> DeadLetter:
    text = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in fields.items()
    }
    return DeadLetter(
        id=raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id),
        time=datetime.fromisoformat(text.get("time") or _now().isoformat()),
        reason=text.get("reason", ""),
        attempts=int(text.get("attempts") or 0),
        retryable=text.get("retryable", "1") == "1",
        payload=json.loads(text.get("payload") or "{}"),
    )


class FileDLQ:
    """A JSONL spool under <data_dir>/dlq/: one entry per line, appends fsynced.

    Every operation holds an exclusive lock on <dir>/.lock, so worker processes appending
    and a replay rewriting the file never interleave; the rewrite is atomic (temp + rename).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / SPOOL_NAME

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def add(self, payload: dict[str, Any], reason: str, attempts: int, *, retryable: bool) -> str:
        entry_id = uuid.uuid4().hex
        line = json.dumps(
            {
                "id": entry_id,
                "time": _now().isoformat(),
                "reason": reason,
                "attempts": attempts,
                "retryable": retryable,
                "payload": payload,
            },
            separators=(",", ":"),
        )
        with self._locked(), open(self.path, "a", encoding="utf-8") as spool:
            # After a crash mid-append the last line is torn: start a fresh line.
            spool.write(("\n" if _ends_torn(self.path) else "") + line + "\n")
            spool.flush()
            os.fsync(spool.fileno())
        return entry_id

    def _read(self) -> builtins.list[DeadLetter]:
        if not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                continue  # a torn last line from a crash mid-append: nothing was acked for it
            entries.append(
                DeadLetter(
                    id=raw["id"],
                    time=datetime.fromisoformat(raw["time"]),
                    reason=raw.get("reason", ""),
                    attempts=int(raw.get("attempts", 0)),
                    retryable=bool(raw.get("retryable", True)),
                    payload=raw.get("payload") or {},
                )
            )
        return entries

    def list(self, limit: int | None = None) -> builtins.list[DeadLetter]:
        with self._locked():
            entries = self._read()
        return entries[:limit] if limit is not None else entries

    def count(self) -> int:
        return len(self.list())

    def replay(self, send: Send, *, retryable_only: bool = False) -> int:
        sent = 0
        with self._locked():
            entries = self._read()
            remaining: builtins.list[DeadLetter] = []
            try:
                for index, entry in enumerate(entries):
                    if retryable_only and not entry.retryable:
                        remaining.append(entry)
                        continue
                    try:
                        send(entry.payload)
                    except BaseException:
                        remaining.extend(entries[index:])
                        raise
                    sent += 1
            finally:
                if sent:
                    self._rewrite(remaining)
        return sent

    def _rewrite(self, entries: builtins.list[DeadLetter]) -> None:
        temp = self.path.with_suffix(".tmp")
        with open(temp, "w", encoding="utf-8") as out:
            for entry in entries:
                out.write(
                    json.dumps(
                        {
                            "id": entry.id,
                            "time": entry.time.isoformat(),
                            "reason": entry.reason,
                            "attempts": entry.attempts,
                            "retryable": entry.retryable,
                            "payload": entry.payload,
                        },
                        separators=(",", ":"),
                    )
                    + "\n"
                )
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.path)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _ends_torn(path: Path) -> bool:
    try:
        with open(path, "rb") as spool:
            spool.seek(-1, os.SEEK_END)
            return spool.read(1) != b"\n"
    except OSError:  # empty or missing
        return False


def dlq_for(settings: Settings) -> DeadLetters:
    """The stream on the broker when it is Redis; the spool under data_dir otherwise.

    Sentinel brokers use the spool too for now (the stream would need the master name).
    """
    url = settings.broker.redis_url
    return RedisStreamDLQ(url) if url else FileDLQ(Path(settings.data_dir) / "dlq")
