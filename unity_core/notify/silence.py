"""Silences: per-rule mutes and global maintenance windows (stored or configured).

A silenced rule still changes state and history; only its notifications are held back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Alert, AlertSilence


def mute(
    session: Session,
    *,
    until: datetime,
    alert_id: uuid.UUID | None = None,
    start: datetime | None = None,
    reason: str | None = None,
) -> AlertSilence:
    """Silence one rule (or every rule, alert_id None) from `start` (now) until `until`.

    Flushes, never commits. Raises ValueError for naive times or an empty window.
    """
    start = start or datetime.now(UTC)
    if start.utcoffset() is None or until.utcoffset() is None:
        raise ValueError("mute times must be aware datetimes")
    if until <= start:
        raise ValueError(
            f"a mute must end after it starts ({until.isoformat()} <= {start.isoformat()})"
        )
    silence = AlertSilence(alert_id=alert_id, starts_at=start, ends_at=until, reason=reason)
    with translate_errors("adding a silence"):
        session.add(silence)
        session.flush()
    return silence


def unmute(session: Session, alert_id: uuid.UUID | None, now: datetime | None = None) -> int:
    """End the rule's (or the global) silences now; returns how many were active."""
    now = now or datetime.now(UTC)
    condition = (
        AlertSilence.alert_id.is_(None) if alert_id is None else AlertSilence.alert_id == alert_id
    )
    with translate_errors("ending silences"):
        result = session.execute(
            update(AlertSilence)
            .where(condition, AlertSilence.starts_at <= now, AlertSilence.ends_at > now)
            .values(ends_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0))


def prune_silences(session: Session, before: datetime) -> int:
    """Delete silences that ended before `before`; never commits."""
    with translate_errors("pruning ended silences"):
        result = session.execute(
            delete(AlertSilence)
            .where(AlertSilence.ends_at < before)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class Silencer:
    """Answers "is this rule silenced now?" from one read of the silences table."""

    global_silence: bool
    muted: frozenset[uuid.UUID]

    @classmethod
    def load(
        cls, session: Session, now: datetime, windows: Sequence[Mapping[str, Any]] = ()
    ) -> Silencer:
        with translate_errors("reading silences"):
            rows = session.execute(
                select(AlertSilence.alert_id).where(
                    AlertSilence.starts_at <= now, AlertSilence.ends_at > now
                )
            ).all()
        ids = [row.alert_id for row in rows]
        everything = None in ids or any(in_window(window, now) for window in windows)
        return cls(everything, frozenset(i for i in ids if i is not None))

    def __call__(self, rule: Alert, now: datetime) -> bool:
        return self.global_silence or rule.id in self.muted


def in_window(window: Mapping[str, Any], now: datetime) -> bool:
    """True when `now` is inside a configured maintenance window.

    Two HH:MM times repeat daily in the window's timezone (UTC by default) and may cross
    midnight ("23:00" to "01:00"); two ISO datetimes are a one-off window.
    """
    zone = ZoneInfo(window.get("timezone") or "UTC")
    start, end = str(window["start"]), str(window["end"])
    if len(start) == 5 and len(end) == 5:
        local = now.astimezone(zone).time()
        begins, ends = time.fromisoformat(start), time.fromisoformat(end)
        if begins <= ends:
            return begins <= local < ends
        return local >= begins or local < ends
    begins_at, ends_at = datetime.fromisoformat(start), datetime.fromisoformat(end)
    if begins_at.tzinfo is None:
        begins_at = begins_at.replace(tzinfo=zone)
    if ends_at.tzinfo is None:
        ends_at = ends_at.replace(tzinfo=zone)
    return begins_at <= now < ends_at
