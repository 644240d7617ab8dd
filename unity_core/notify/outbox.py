"""The notification outbox: rows wait as pending until a send claims them and succeeds.

A send claims every pending row of its channel at once (that is how a burst becomes one
message), marks them sent on success and gives them back as pending, with the attempt
and error recorded, on failure. A claim left by a worker that died is taken over once it
is older than `stale_after`, so nothing stays stuck in "sending".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Notification

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
#: A channel removed from the configuration: kept for the record, never retried.
ORPHANED = "orphaned"
MAX_ERROR = 2000


def enqueue(
    session: Session, channel: str, notices: Sequence[dict[str, Any]], now: datetime
) -> Notification:
    """Add one pending message for `channel` carrying `notices`; flushes, never commits."""
    row = Notification(
        channel=channel,
        payload={"notices": list(notices)},
        status=PENDING,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    with translate_errors(f"queueing a notification for {channel}"):
        session.add(row)
        session.flush()
    return row


def claim(
    session: Session, channel: str, owner: uuid.UUID, now: datetime, stale_after: timedelta
) -> list[Notification]:
    """Mark the channel's pending (or abandoned) rows as sent by `owner`; return them.

    Never commits; the caller commits before sending so concurrent sends see the claim.
    The UPDATE is one statement, so two sends never claim the same row.
    """
    with translate_errors(f"claiming notifications of {channel}"):
        session.execute(
            update(Notification)
            .where(
                Notification.channel == channel,
                or_(
                    Notification.status == PENDING,
                    and_(
                        Notification.status == SENDING,
                        Notification.updated_at < now - stale_after,
                    ),
                ),
            )
            .values(status=SENDING, sent_with=owner, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return list(
            session.scalars(
                select(Notification)
                .where(Notification.sent_with == owner, Notification.status == SENDING)
                .order_by(Notification.created_at, Notification.id)
                .execution_options(populate_existing=True)
            )
        )


def complete(session: Session, rows: Sequence[Notification], now: datetime) -> None:
    """The claimed rows were delivered."""
    _finish(session, rows, SENT, now, None)


def release(session: Session, rows: Sequence[Notification], now: datetime, error: str) -> None:
    """Delivery failed: back to pending with the attempt and its error kept."""
    _finish(session, rows, PENDING, now, error[:MAX_ERROR])


def orphan(session: Session, rows: Sequence[Notification], now: datetime, error: str) -> None:
    """The channel is gone from the configuration: never retried, kept with why."""
    _finish(session, rows, ORPHANED, now, error[:MAX_ERROR])


def waiting(session: Session, now: datetime, older_than: timedelta) -> list[tuple[uuid.UUID, str]]:
    """(id, channel) of one row per channel left pending or sending for longer than `older_than`.

    The sweep re-sends these: a send task lost with its broker message must not lose the
    notification with it.
    """
    with translate_errors("listing waiting notifications"):
        rows = session.execute(
            select(Notification.id, Notification.channel)
            .where(
                Notification.status.in_((PENDING, SENDING)),
                Notification.updated_at < now - older_than,
            )
            .order_by(Notification.created_at)
        ).all()
    first: dict[str, uuid.UUID] = {}
    for row_id, channel in rows:
        first.setdefault(channel, row_id)
    return [(row_id, channel) for channel, row_id in first.items()]


def prune(session: Session, before: datetime) -> int:
    """Delete delivered (or orphaned) rows last changed before `before`; never commits."""
    with translate_errors("pruning sent notifications"):
        result = session.execute(
            delete(Notification)
            .where(Notification.status.in_((SENT, ORPHANED)), Notification.updated_at < before)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0))


def _finish(
    session: Session, rows: Sequence[Notification], status: str, now: datetime, error: str | None
) -> None:
    with translate_errors("recording notification attempts"):
        for row in rows:
            row.status = status
            row.attempts = (row.attempts or 0) + 1
            row.updated_at = now
            if error is not None:
                row.last_error = error
            if status == SENT:
                row.sent_at = now
            if status == PENDING:
                row.sent_with = None
        session.flush()
