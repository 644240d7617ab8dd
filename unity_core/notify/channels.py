"""Notification channels: webhook, ntfy, Gotify and email by hand; the long tail via apprise.

Each channel is built from its validated config dict (`notifications.channels[]`) and has
one method, send(message), which returns on delivery and raises NotificationFailed
otherwise; retrying is the caller's job, so a channel never sleeps or loops.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, Protocol

from unity_core.errors import NotificationFailed
from unity_core.notify.message import Message

DEFAULT_TIMEOUT = 10.0
DEFAULT_NTFY_URL = "https://ntfy.sh"
#: ntfy/Gotify priorities by severity when the channel sets none.
_PRIORITY = {"critical": 5, "warning": 4, "info": 3}


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None:
        """Deliver `message` or raise NotificationFailed naming why."""


class _Http:
    """Shared by the HTTP channels: one POST, any non-2xx or network error is a failure."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.name: str = config["name"]
        self.timeout = float(config.get("timeout", DEFAULT_TIMEOUT))

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        if not url.startswith(("http://", "https://")):
            raise NotificationFailed(self.name, f"not an http(s) URL: {_safe(url)}")
        # Scheme checked above, so urllib's file:/ftp: handlers are never reached.
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as error:
            raise NotificationFailed(self.name, f"HTTP {error.code} from {_safe(url)}") from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise NotificationFailed(self.name, f"cannot reach {_safe(url)}: {reason}") from error


class WebhookChannel(_Http):
    """POSTs the message's JSON payload to `url` (with optional extra headers)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.url: str = config["url"]
        self.headers = {"Content-Type": "application/json", **config.get("headers", {})}

    def send(self, message: Message) -> None:
        self.post(self.url, json.dumps(message.payload).encode(), self.headers)


class NtfyChannel(_Http):
    """Publishes to an ntfy topic (ntfy.sh or a self-hosted server)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        base = str(config.get("url", DEFAULT_NTFY_URL)).rstrip("/")
        self.url = f"{base}/{config['topic']}"
        self.token: str | None = config.get("token")
        self.priority: int | None = config.get("priority")

    def send(self, message: Message) -> None:
        headers = {
            "Title": message.title,
            "Priority": str(self.priority or _PRIORITY.get(message.severity, 3)),
            "Tags": message.severity,
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.post(self.url, message.body.encode(), headers)


class GotifyChannel(_Http):
    """Posts to a Gotify server's /message endpoint with an application token."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.url = str(config["url"]).rstrip("/") + "/message"
        self.token: str = config["token"]
        self.priority: int | None = config.get("priority")

    def send(self, message: Message) -> None:
        body = {
            "title": message.title,
            "message": message.body,
            "priority": self.priority or _PRIORITY.get(message.severity, 3),
        }
        headers = {"Content-Type": "application/json", "X-Gotify-Key": self.token}
        self.post(self.url, json.dumps(body).encode(), headers)


class EmailChannel:
    """Sends a plain-text email over SMTP (STARTTLS or implicit TLS when configured)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.name: str = config["name"]
        self.host: str = config["host"]
        self.use_ssl = bool(config.get("ssl", False))
        self.starttls = bool(config.get("starttls", False))
        self.port: int = config.get("port") or (
            465 if self.use_ssl else 587 if self.starttls else 25
        )
        self.username: str | None = config.get("username")
        self.password: str | None = config.get("password")
        self.sender: str = config.get("from") or f"unity@{self.host}"
        self.to: list[str] = list(config["to"])
        self.timeout = float(config.get("timeout", DEFAULT_TIMEOUT))

    def send(self, message: Message) -> None:
        email = EmailMessage()
        email["Subject"] = message.title
        email["From"] = self.sender
        email["To"] = ", ".join(self.to)
        email.set_content(message.body)
        try:
            with self._connect() as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(email)
        except (smtplib.SMTPException, OSError) as error:
            raise NotificationFailed(self.name, f"SMTP {self.host}:{self.port}: {error}") from error

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


class AppriseChannel:
    """Discord, Telegram, Slack, Matrix, Pushover… through apprise URLs (one or more)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        import apprise  # imported here: a large library only channels of this type need

        self.name: str = config["name"]
        self._apprise = apprise
        self.client = apprise.Apprise()
        for url in config["urls"]:
            if not self.client.add(url):
                raise NotificationFailed(self.name, f"apprise does not understand {_safe(url)}")

    def send(self, message: Message) -> None:
        kind = {
            "critical": self._apprise.NotifyType.FAILURE,
            "warning": self._apprise.NotifyType.WARNING,
        }.get(message.severity, self._apprise.NotifyType.INFO)
        if not self.client.notify(title=message.title, body=message.body, notify_type=kind):
            raise NotificationFailed(self.name, "apprise could not deliver to every URL")


_TYPES: dict[
    str, type[WebhookChannel | NtfyChannel | GotifyChannel | EmailChannel | AppriseChannel]
]
_TYPES = {
    "webhook": WebhookChannel,
    "ntfy": NtfyChannel,
    "gotify": GotifyChannel,
    "email": EmailChannel,
    "apprise": AppriseChannel,
}


def build_channel(config: Mapping[str, Any]) -> Channel:
    """The channel a validated `notifications.channels[]` entry describes."""
    try:
        kind = _TYPES[config["type"]]
    except KeyError:
        raise NotificationFailed(
            str(config.get("name")), f"unknown channel type {config.get('type')!r}"
        ) from None
    return kind(config)


def _safe(url: str) -> str:
    """The URL without its query or credentials, for error messages (tokens live there)."""
    head = url.split("?", 1)[0]
    scheme, sep, rest = head.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}" if sep else head
