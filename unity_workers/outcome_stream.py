"""The hand-over from collecting to persisting on a Redis broker: the stream `unity:outcomes`.

Why not a Celery message per outcome: every collection would cost two broker messages, and
the second one — publish through Celery's machinery in the collect process, then receive,
record as unacked and acknowledge one by one in the persist worker — costs about as much CPU
as the whole collection. A stream entry is one XADD for the sender, and the persist worker
reads a whole batch with one XREADGROUP and releases it with one XACK + XDEL after commit.

The at-least-once rules of the Celery path hold (RELIABILITY.md §2):

- An entry leaves the stream only after the rows it carries are committed (or it was
  re-added for a later attempt, or dead-lettered): `done` runs after the commit.
- Entries read but not done stay in the consumer group's pending list: a persist worker
  that restarts under the same consumer name reads its own pending entries first, and any
  consumer takes over entries idle longer than the visibility timeout (XAUTOCLAIM), so
  those of a host that never comes back are written elsewhere.
- Duplicates (a claim racing a slow write) are harmless: writes are idempotent per slot.

The embedded broker has no Redis; there the Celery `unity.persist` message remains the path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

STREAM = "unity:outcomes"
GROUP = "persist"
#: The reason given for a pending entry whose content is gone (XDEL by someone else).
DELETED = "the entry was deleted"


@dataclass(frozen=True)
class Entry:
    """One encoded outcome on the stream, with its attempt number and when it may be written."""

    id: str
    payload: dict[str, Any]
    rows: int
    attempt: int = 0
    #: Epoch seconds before which it must not be written (a retry's backoff); 0: at once.
    due: float = 0.0


class OutcomeStreamError(Exception):
    """An entry on the stream that is not an outcome Unity wrote (reason in the message)."""


class OutcomeStream:
    """The outcome stream and its consumer group on one Redis (the broker's)."""

    def __init__(self, client: Any, stream: str = STREAM, group: str = GROUP) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self._group_ready = False

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> OutcomeStream:
        client = redis.Redis.from_url(
            url, socket_timeout=30, socket_connect_timeout=10, health_check_interval=30
        )
        return cls(client, **kwargs)

    def add(
        self, payload: dict[str, Any], *, rows: int = 1, attempt: int = 0, due: float = 0.0
    ) -> str:
        """Append one encoded outcome; durable on the broker (AOF) once this returns."""
        fields: dict[str, Any] = {
            "o": json.dumps(payload, separators=(",", ":")),
            "r": max(1, int(rows)),
            "a": int(attempt),
        }
        if due:
            fields["d"] = repr(float(due))
        return _text(self.client.xadd(self.stream, fields))

    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing; idempotent."""
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    def read(
        self, consumer: str, *, count: int, block_ms: int | None = None, after: str | None = None
    ) -> tuple[list[Entry], list[tuple[str, str]]]:
        """New entries for `consumer` (waiting up to `block_ms`), or with `after` (an id,
        "0" to start) the ones it read before and has not finished — what a restarted
        worker picks up first. Returns (entries, [(id, why unreadable)])."""
        reply = self._with_group(
            lambda: self.client.xreadgroup(
                self.group,
                consumer,
                {self.stream: after if after is not None else ">"},
                count=count,
                block=None if after is not None else block_ms,
            )
        )
        return _parse(entry for _, entries in reply or () for entry in entries)

    def claim_idle(
        self, consumer: str, *, idle_ms: int, count: int
    ) -> tuple[list[Entry], list[tuple[str, str]]]:
        """Take over entries another consumer read but left pending for longer than `idle_ms`
        (its worker died, or is stuck); they are then `consumer`'s."""
        reply = self._with_group(
            lambda: self.client.xautoclaim(
                self.stream,
                self.group,
                consumer,
                min_idle_time=idle_ms,
                start_id="0-0",
                count=count,
            )
        )
        return _parse(reply[1] if reply else ())

    def _with_group(self, call: Callable[[], Any]) -> Any:
        """Run `call`, re-creating the group once if it is gone (the key was deleted, the
        Redis was restarted without AOF): a new group reads the stream from its start."""
        self.ensure_group()
        try:
            return call()
        except redis.exceptions.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
        self._group_ready = False
        self.ensure_group()
        return call()

    def done(self, ids: Sequence[str]) -> None:
        """Acknowledge and delete entries whose outcomes are committed (or passed on)."""
        if not ids:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.execute()

    def depth(self) -> int:
        """Outcomes waiting or being written (entries leave only when done)."""
        return int(self.client.xlen(self.stream))

    def close(self) -> None:
        self.client.close()


def _parse(raw: Iterable[Any]) -> tuple[list[Entry], list[tuple[str, str]]]:
    entries: list[Entry] = []
    bad: list[tuple[str, str]] = []
    for entry_id, fields in raw:
        ident = _text(entry_id)
        if not fields:  # deleted while pending (nil, or no fields): nothing to write or keep
            bad.append((ident, DELETED))
            continue
        try:
            entries.append(_entry(ident, fields))
        except OutcomeStreamError as error:
            bad.append((ident, str(error)))
    return entries, bad


def _entry(ident: str, fields: dict[Any, Any]) -> Entry:
    values = {_text(key): value for key, value in fields.items()}
    try:
        payload = json.loads(values["o"])
        rows = int(values.get("r", 1))
        attempt = int(values.get("a", 0))
        due = float(values.get("d", 0) or 0)
    except KeyError:
        raise OutcomeStreamError("no outcome field 'o'") from None
    except (TypeError, ValueError) as error:
        raise OutcomeStreamError(f"unreadable entry: {error}") from None
    if not isinstance(payload, dict):
        raise OutcomeStreamError(f"outcome is a {type(payload).__name__}, not an object")
    return Entry(ident, payload, rows, attempt, due)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def now() -> float:
    """Epoch seconds, the clock `due` is compared with (all hosts share it via NTP)."""
    return time.time()
