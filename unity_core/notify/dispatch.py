"""From notices to delivered messages: queue one outbox row per channel, then deliver.

queue_notices runs inside the evaluation; deliver runs in the sending task (which retries
it on NotificationFailed). Both take a Session and leave the commit points documented.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from unity_core.config import NotificationSettings
from unity_core.errors import NotificationFailed
from unity_core.notify import outbox
from unity_core.notify.channels import build_channel
from unity_core.notify.message import compose, severity_rank
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Notification

log = logging.getLogger("unity.notify")

#: A claim older than this belongs to a worker that died mid-send and is taken over.
STALE_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class Delivery:
    """What one deliver() call did: how many queued notifications its message carried."""

    channel: str
    carried: int
    sent: bool


def queue_notices(
    session: Session,
    settings: NotificationSettings,
    notices: Sequence[dict[str, Any]],
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """One pending outbox row per configured channel with its `notices`; never commits.

    A channel with `min_severity` gets only the notices at or above it (and no row when
    none is). Returns the row ids, one per channel, for the caller to schedule sends for.
    """
    now = now or datetime.now(UTC)
    ids = []
    for channel in settings.channels:
        floor = severity_rank(channel.get("min_severity", "info"))
        wanted = [n for n in notices if severity_rank(n.get("severity")) >= floor]
        if wanted:
            ids.append(outbox.enqueue(session, channel["name"], wanted, now).id)
    return ids


def deliver(
    session: Session,
    settings: NotificationSettings,
    notification_id: uuid.UUID,
    now: datetime | None = None,
) -> Delivery:
    """Send the notification and every other one waiting for its channel, as one message.

    Commits the claim before sending and the outcome after it. Raises NotificationFailed
    when the channel fails (the rows are pending again, the attempt recorded), so the
    caller retries later. A notification already carried by another send is a no-op.
    """
    now = now or datetime.now(UTC)
    with translate_errors(f"reading notification {notification_id}"):
        row = session.get(Notification, notification_id)
    if row is None or row.status in (outbox.SENT, outbox.ORPHANED):
        return Delivery(row.channel if row else "?", 0, False)
    channel_name = row.channel
    rows = outbox.claim(session, channel_name, notification_id, now, STALE_CLAIM)
    session.commit()
    if not rows:
        return Delivery(channel_name, 0, False)
    config = settings.channel(channel_name)
    if config is None:
        outbox.orphan(session, rows, now, f"channel {channel_name!r} is not configured")
        session.commit()
        log.warning(
            "dropped %d notification(s) for unconfigured channel %s", len(rows), channel_name
        )
        return Delivery(channel_name, len(rows), False)
    notices: list[dict[str, Any]] = [n for r in rows for n in r.payload.get("notices", [])]
    try:
        build_channel(config).send(compose(notices))
    except NotificationFailed as error:
        outbox.release(session, rows, datetime.now(UTC), str(error))
        session.commit()
        raise
    except Exception as error:  # a channel library bug must not leave rows claimed
        outbox.release(session, rows, datetime.now(UTC), f"{type(error).__name__}: {error}")
        session.commit()
        raise NotificationFailed(channel_name, f"{type(error).__name__}: {error}") from error
    outbox.complete(session, rows, datetime.now(UTC))
    session.commit()
    return Delivery(channel_name, len(rows), True)


def send_test(settings: NotificationSettings, channel_name: str) -> None:
    """Send a test message through one channel now; raises NotificationFailed."""
    config = settings.channel(channel_name)
    if config is None:
        known = ", ".join(c["name"] for c in settings.channels) or "none configured"
        raise NotificationFailed(channel_name, f"no such channel (known: {known})")
    notice: dict[str, Any] = {
        "event": "test",
        "alert_id": None,
        "alert": "Unity test notification",
        "severity": "info",
        "condition": f"`unity alerts test {channel_name}`",
        "tags": {},
        "value": None,
        "time": datetime.now(UTC).isoformat(),
        "analysis": None,
    }
    build_channel(config).send(compose([notice]))
