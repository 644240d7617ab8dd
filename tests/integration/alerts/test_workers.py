"""Alerts end to end through real workers on real Redis and each database.

A plugin's value crosses a rule's threshold: the write triggers `unity.alerts.evaluate`,
the rule fires once and resolves once, and both reach a local HTTP webhook and a local
SMTP server. A value flapping at the threshold notifies once. A plugin that stops (under a
real beat) fires a no-data rule, through a webhook that fails at first.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from tests.integration.alerts.receivers import (
    HttpReceiver,
    SmtpReceiver,
    alerts_in,
    http_receiver,
    smtp_receiver,
)
from tests.integration.workers.conftest import (
    THREE_GAUGES,
    Deployment,
    WorkerProcess,
    rows,
    scalar,
    wait_for,
)
from unity_core.storage import create_alert, make_engine, make_sessionmaker

DIAL = """
    from pathlib import Path

    from unity_core.plugins.sdk import MetricSpec, Plugin


    class Dial(Plugin):
        id = "dial"
        name = "Dial"
        metrics = (MetricSpec("temp"),)

        def collect_data(self, acc):
            acc.add_gauge("temp", float(Path({path!r}).read_text()))
"""
HOT = {"plugin": "dial", "metric": "temp", "operator": ">", "threshold": 80, "hysteresis": 5}


@pytest.fixture
def webhook() -> Iterator[HttpReceiver]:
    with http_receiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with smtp_receiver() as receiver:
        yield receiver


def notify_via(deployment: Deployment, channels: list[dict[str, Any]], **options: Any) -> None:
    """Add a notifications section to the deployment's unity.yaml."""
    config = yaml.safe_load(deployment.config_path.read_text(encoding="utf-8"))
    config["notifications"] = {"channels": channels, "group_wait": 0.2, **options}
    deployment.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")


def add_rule(deployment: Deployment, name: str, condition: dict[str, Any]) -> None:
    engine = make_engine(deployment.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            create_alert(session, name=name, condition=condition)
            session.commit()
    finally:
        engine.dispose()


class Dial:
    """The dial plugin's value: written to its file, collected by a real worker."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.path = deployment.tmp / "dial.txt"
        self.path.write_text("0")
        deployment.add_plugin("dial", DIAL.format(path=str(self.path)))
        deployment.configure(plugins=[{"id": "dial", "interval": 3600}])

    def collect(self, value: float) -> None:
        """Set the value, run a collection (slot = now) and wait until it is stored."""
        self.path.write_text(str(value))
        url = self.deployment.database_url
        before = scalar(url, "SELECT count(*) FROM plugin_metrics WHERE metric_name = 'temp'")
        self.deployment.send_collect("dial", datetime.now(UTC))
        wait_for(
            lambda: (
                scalar(url, "SELECT count(*) FROM plugin_metrics WHERE metric_name = 'temp'")
                > before
            ),
            30,
            f"the value {value} stored",
        )

    def evaluated_at(self, value: float) -> None:
        """Wait until the rule's state shows `value` (the write-triggered evaluation ran)."""
        url = self.deployment.database_url
        wait_for(
            lambda: scalar(url, "SELECT value FROM alert_states") == value, 30, f"{value} evaluated"
        )


def history(url: str) -> list[tuple[bool, str]]:
    found = rows(url, "SELECT triggered, value FROM alert_history ORDER BY time")
    return [(bool(t), (v if isinstance(v, dict) else yaml.safe_load(v))["state"]) for t, v in found]


def test_a_threshold_crossing_fires_once_resolves_once_and_reaches_webhook_and_email(
    deployment: Deployment, webhook: HttpReceiver, smtp: SmtpReceiver
) -> None:
    # Given a rule "temp > 80 (resolve at 75)", a webhook and an email channel, and workers
    dial = Dial(deployment)
    notify_via(
        deployment,
        [
            {"name": "hook", "type": "webhook", "url": webhook.url + "/alerts"},
            {"name": "mail", "type": "email", "host": "127.0.0.1", "port": smtp.port,
             "from": "unity@lab.lan", "to": ["ops@lab.lan"]},
        ],
    )  # fmt: skip
    deployment.sync_registry()
    add_rule(deployment, "Hot dial", HOT)
    deployment.start("persist", "collect")
    url = deployment.database_url

    # When the value is normal, crosses, hovers between 75 and 80, and falls back
    dial.collect(70)
    dial.collect(90)
    (fired,) = webhook.wait(1)
    dial.evaluated_at(90)
    for hovering in (84, 78, 81):
        dial.collect(hovering)
        dial.evaluated_at(hovering)
    dial.collect(70)
    resolved = webhook.wait(2)[1]
    mails = smtp.wait(2)
    wait_for(deployment.drained, 15, "the broker to drain")

    # Then the webhook got one firing and one resolved message, nothing else
    assert fired.path == "/alerts"
    assert [(a["event"], a["alert"], a["value"]) for a in alerts_in(fired)] == [
        ("firing", "Hot dial", 90.0)
    ]
    assert alerts_in(fired)[0]["analysis"]["context"]["threshold"] == 80.0
    assert [(a["event"], a["value"]) for a in alerts_in(resolved)] == [("resolved", 70.0)]
    assert len(webhook.requests) == 2
    # And so did the mailbox
    assert [m["Subject"] for m in mails] == ["[FIRING] Hot dial", "[RESOLVED] Hot dial"]
    assert len(smtp.messages) == 2
    # And history has exactly those two transitions
    assert history(url) == [(True, "firing"), (False, "resolved")]
    sent = "SELECT count(*) FROM notifications WHERE status = 'sent'"
    wait_for(lambda: scalar(url, sent) == 4, 15, "four notifications marked sent")


def test_a_value_flapping_at_the_threshold_notifies_once(
    deployment: Deployment, webhook: HttpReceiver
) -> None:
    # Given a rule with hysteresis and a webhook
    dial = Dial(deployment)
    notify_via(deployment, [{"name": "hook", "type": "webhook", "url": webhook.url}])
    deployment.sync_registry()
    add_rule(deployment, "Hot dial", HOT)
    deployment.start("persist", "collect")
    # When the value goes back and forth across 80, each step evaluated
    dial.collect(79)
    for value in (81, 79, 81, 79, 81, 79):
        dial.collect(value)
        dial.evaluated_at(value)
    wait_for(deployment.drained, 15, "the broker to drain")
    # Then one firing message, no resolution, one history row
    (only,) = webhook.wait(1)
    assert [a["event"] for a in alerts_in(only)] == ["firing"]
    assert len(webhook.requests) == 1
    assert history(deployment.database_url) == [(True, "firing")]


def start_beat(deployment: Deployment) -> WorkerProcess:
    argv = [
        sys.executable, "-m", "celery", "-A", "unity_workers", "beat",
        "-S", "unity_workers.scheduler:UnityScheduler", "--loglevel", "INFO",
        "-s", str(deployment.tmp / "beat-schedule"),
    ]  # fmt: skip
    beat = WorkerProcess("beat", argv, deployment.env(), deployment.tmp / "beat.log")
    deployment.workers.append(beat)
    return beat.spawn()


def test_no_data_fires_when_a_plugin_stops_and_a_failing_webhook_only_delays_it(
    deployment: Deployment,
) -> None:
    # Given a plugin collected every second by a real beat, a rule "no data for 3 s", and a
    # webhook that answers 500 to its first two requests
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(plugins=[{"id": "three", "interval": 1}])
    with http_receiver(fail_first=2) as webhook:
        notify_via(
            deployment,
            [{"name": "hook", "type": "webhook", "url": webhook.url}],
            evaluate_interval=1,
        )
        deployment.sync_registry()
        add_rule(
            deployment, "three went quiet", {"kind": "no_data", "plugin": "three", "minutes": 0.05}
        )
        deployment.start("persist", "collect")
        start_beat(deployment)
        url = deployment.database_url
        count = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'three'"
        wait_for(lambda: scalar(url, count) >= 8, 60, "two collections by beat")
        assert webhook.requests == [] and webhook.failed == 0

        # When the plugin stops (disabled: beat no longer schedules it)
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                from sqlalchemy import text

                connection.execute(
                    text("UPDATE plugins SET enabled = false WHERE plugin_id = 'three'")
                )
        finally:
            engine.dispose()
        stopped = scalar(url, count)

        # Then, after two refused attempts, the no-data alert arrives
        (request,) = webhook.wait(1, timeout=60)
        assert webhook.failed == 2
        (alert,) = alerts_in(request)
        assert (alert["event"], alert["alert"]) == ("firing", "three went quiet")
        assert alert["value"] >= 3
        assert scalar(url, count) <= stopped + 4  # at most a collection already in flight
        # (the receiver records a request before the worker commits that it was sent)
        sent = "SELECT count(*) FROM notifications WHERE status = 'sent'"
        wait_for(lambda: scalar(url, sent) == 1, 15, "the notification marked sent")
        attempts = rows(url, "SELECT status, attempts, last_error FROM notifications")
        assert [(s, a) for s, a, _ in attempts] == [("sent", 3)]
        assert "HTTP 500" in attempts[0][2]
