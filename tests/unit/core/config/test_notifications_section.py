"""The notifications section: channels checked per type, timing, maintenance windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.core.config.conftest import WriteConfig
from unity_core.config import load_settings
from unity_core.errors import ConfigError


def test_channels_and_timing_load_as_written(write_config: WriteConfig) -> None:
    path = write_config(
        """
        notifications:
          repeat_interval: 1h
          group_wait: 2s
          evaluate_interval: 15s
          maintenance:
            - {name: backups, start: "02:00", end: "03:00", timezone: Europe/Paris}
          channels:
            - {name: hook, type: webhook, url: "http://127.0.0.1:8000/in", headers: {X-Key: k}}
            - {name: phone, type: ntfy, topic: lab, priority: 4}
            - {name: gotify, type: gotify, url: "https://gotify.lan", token: A1}
            - {name: mail, type: email, host: smtp.lan, port: 587, starttls: true,
               from: unity@lab.lan, to: [me@lab.lan], username: u, password: p}
            - {name: chat, type: apprise, urls: ["discord://id/token"], min_severity: critical}
        """
    )
    notifications = load_settings(path, environ={}).notifications
    assert (notifications.repeat_interval, notifications.group_wait) == (3600, 2.0)
    assert notifications.evaluate_interval == 15
    assert [c["type"] for c in notifications.channels] == [
        "webhook", "ntfy", "gotify", "email", "apprise"
    ]  # fmt: skip
    mail = notifications.channel("mail")
    assert mail is not None and mail["from"] == "unity@lab.lan" and mail["to"] == ["me@lab.lan"]
    assert notifications.maintenance[0]["timezone"] == "Europe/Paris"
    assert notifications.channels[4]["min_severity"] == "critical"


def test_defaults_without_a_section(tmp_path: Path) -> None:
    notifications = load_settings(None, environ={"UNITY_DATA_DIR": str(tmp_path)}).notifications
    assert notifications.channels == ()
    assert (notifications.repeat_interval, notifications.evaluate_interval) == (4 * 3600, 30)


@pytest.mark.parametrize(
    ("channel", "problem"),
    [
        ("{name: m, type: email, host: h}", "notifications.channels[0].to: Required for email"),
        ("{name: n, type: ntfy, topic: t, host: x}", "channels[0].host: Not a setting of ntfy"),
        ("{name: w, type: webhook}", "channels[0].url: Required for webhook channels"),
        ("{name: w, type: pager, url: x}", "channels[0].type: Must be one of"),
        ("{name: w, type: webhook, url: x, ulr: y}", 'channels[0].ulr: unknown key — did you'),
        ("{name: m, type: email, host: h, to: [not-an-address]}", "to[0]: Not a valid email"),
    ],
)  # fmt: skip
def test_a_bad_channel_is_named_with_its_key_path(
    write_config: WriteConfig, channel: str, problem: str
) -> None:
    path = write_config(f"notifications:\n  channels:\n    - {channel}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert problem in str(caught.value)


def test_channel_names_are_unique(write_config: WriteConfig) -> None:
    path = write_config(
        """
        notifications:
          channels:
            - {name: hook, type: webhook, url: "http://a"}
            - {name: hook, type: webhook, url: "http://b"}
        """
    )
    with pytest.raises(ConfigError, match="Channel names must be unique: hook"):
        load_settings(path, environ={})


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        ('{start: "02:00", end: "25:00"}', "Use two ISO datetimes"),
        ('{start: "2030-01-02T00:00:00+00:00", end: "2030-01-01T00:00:00+00:00"}', "Must be after"),
        ('{start: "2030-01-01T00:00:00", end: "2030-01-02T00:00:00"}', "set timezone"),
    ],
)
def test_bad_maintenance_windows_are_refused(
    write_config: WriteConfig, window: str, problem: str
) -> None:
    path = write_config(f"notifications:\n  maintenance:\n    - {window}\n")
    with pytest.raises(ConfigError, match=problem):
        load_settings(path, environ={})
