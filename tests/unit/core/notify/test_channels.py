"""Each channel type delivers to a local receiver; failures raise NotificationFailed."""

from __future__ import annotations

import json

import pytest

from tests.integration.alerts.receivers import http_receiver, smtp_receiver
from unity_core.errors import NotificationFailed
from unity_core.notify import build_channel, compose

NOTICE = {
    "event": "firing",
    "alert_id": "00000000-0000-0000-0000-000000000001",
    "alert": "Disk almost full",
    "severity": "critical",
    "condition": "last of nas/disk_used_percent over 5m > 90",
    "tags": {"disk": "sda"},
    "value": 93.5,
    "time": "2030-01-01T00:00:00+00:00",
    "analysis": {"suggestion": "Delete old snapshots."},
}
MESSAGE = compose([NOTICE])


def test_a_webhook_posts_the_json_payload_with_its_headers() -> None:
    with http_receiver() as receiver:
        channel = build_channel(
            {"name": "hook", "type": "webhook", "url": receiver.url + "/in",
             "headers": {"X-Token": "s3cret"}}
        )  # fmt: skip
        channel.send(MESSAGE)
        (request,) = receiver.wait(1)
    assert request.path == "/in"
    assert request.headers["X-Token"] == "s3cret"
    body = request.json()
    assert body["title"] == "[FIRING] Disk almost full"
    assert body["alerts"][0]["value"] == 93.5


def test_ntfy_publishes_text_to_the_topic_with_title_and_priority() -> None:
    with http_receiver() as receiver:
        build_channel(
            {"name": "phone", "type": "ntfy", "url": receiver.url, "topic": "lab", "token": "tk"}
        ).send(MESSAGE)
        (request,) = receiver.wait(1)
    assert request.path == "/lab"
    assert request.headers["Title"] == "[FIRING] Disk almost full"
    assert request.headers["Priority"] == "5"
    assert request.headers["Authorization"] == "Bearer tk"
    assert b"Delete old snapshots." in request.body


def test_gotify_posts_a_message_with_the_app_token() -> None:
    with http_receiver() as receiver:
        build_channel({"name": "g", "type": "gotify", "url": receiver.url, "token": "A1"}).send(
            MESSAGE
        )
        (request,) = receiver.wait(1)
    assert request.path == "/message"
    assert request.headers["X-Gotify-Key"] == "A1"
    assert json.loads(request.body)["priority"] == 5


def test_email_is_sent_over_smtp_to_every_recipient() -> None:
    with smtp_receiver() as smtp:
        build_channel(
            {"name": "mail", "type": "email", "host": "127.0.0.1", "port": smtp.port,
             "from": "unity@lab.lan", "to": ["a@lab.lan", "b@lab.lan"]}
        ).send(MESSAGE)  # fmt: skip
        (mail,) = smtp.wait(1)
    assert mail["Subject"] == "[FIRING] Disk almost full"
    assert mail["To"] == "a@lab.lan, b@lab.lan"
    assert "Delete old snapshots." in mail.get_payload()


def test_apprise_delivers_through_its_own_url_schemes() -> None:
    with http_receiver() as receiver:
        # apprise's json:// posts JSON to a plain HTTP endpoint: the long tail's stand-in.
        url = receiver.url.replace("http://", "json://") + "/apprise"
        build_channel({"name": "chat", "type": "apprise", "urls": [url]}).send(MESSAGE)
        (request,) = receiver.wait(1)
    assert request.path == "/apprise"
    assert request.json()["title"] == "[FIRING] Disk almost full"


def test_a_server_error_is_a_notification_failure_naming_the_channel() -> None:
    with http_receiver(fail_first=1) as receiver:
        channel = build_channel({"name": "hook", "type": "webhook", "url": receiver.url})
        with pytest.raises(NotificationFailed, match="channel hook: HTTP 500"):
            channel.send(MESSAGE)


def test_an_unreachable_server_is_a_notification_failure_without_the_token() -> None:
    channel = build_channel(
        {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/x?token=s3cret",
         "timeout": 2}
    )  # fmt: skip
    with pytest.raises(NotificationFailed, match="cannot reach") as caught:
        channel.send(MESSAGE)
    assert "s3cret" not in str(caught.value)


def test_smtp_that_refuses_connections_is_a_notification_failure() -> None:
    channel = build_channel(
        {"name": "mail", "type": "email", "host": "127.0.0.1", "port": 9, "to": ["a@lab.lan"],
         "timeout": 2}
    )  # fmt: skip
    with pytest.raises(NotificationFailed, match=r"channel mail: SMTP 127\.0\.0\.1:9"):
        channel.send(MESSAGE)
