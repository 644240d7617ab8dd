"""Alert notifications: channels, one message per burst, an outbox that never loses one."""

from __future__ import annotations

from unity_core.notify.channels import Channel, build_channel
from unity_core.notify.dispatch import Delivery, deliver, queue_notices, send_test
from unity_core.notify.message import Message, compose
from unity_core.notify.silence import Silencer, in_window, mute, unmute

__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # channels
    "Channel",
    "build_channel",
    "Message",
    "compose",
    # sending
    "queue_notices",
    "deliver",
    "Delivery",
    "send_test",
    # silences
    "Silencer",
    "mute",
    "unmute",
    "in_window",
]
