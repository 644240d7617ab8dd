"""`unity alerts test CHANNEL` reaches the channel; `unity alerts mute/unmute` store silences."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, select

from tests.integration.alerts.receivers import alerts_in, http_receiver, smtp_receiver
from unity_core.cli import main
from unity_core.storage import create_alert, make_sessionmaker
from unity_core.storage.models import AlertSilence


def config_file(tmp_path: Path, database_url: str, channels: list[dict[str, object]]) -> Path:
    path = tmp_path / "unity.yaml"
    config = {
        "data_dir": str(tmp_path / "data"),
        "database": {"url": database_url},
        "notifications": {"channels": channels},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_alerts_test_sends_a_test_message_to_a_webhook_and_by_email(tmp_path: Path) -> None:
    with http_receiver() as hook, smtp_receiver() as smtp:
        path = config_file(
            tmp_path,
            f"sqlite:///{tmp_path / 'u.db'}",
            [
                {"name": "hook", "type": "webhook", "url": hook.url},
                {"name": "mail", "type": "email", "host": "127.0.0.1", "port": smtp.port,
                 "to": ["ops@lab.lan"]},
            ],
        )  # fmt: skip
        runner = CliRunner()
        for channel in ("hook", "mail"):
            result = runner.invoke(main, ["--config", str(path), "alerts", "test", channel])
            assert result.exit_code == 0, result.output
            assert f"sent a test notification through {channel}" in result.output
        (request,) = hook.wait(1)
        (mail,) = smtp.wait(1)
    assert [a["event"] for a in alerts_in(request)] == ["test"]
    assert mail["Subject"] == "[TEST] Unity test notification"


def test_alerts_test_names_an_unknown_channel_and_a_failing_one(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        f"sqlite:///{tmp_path / 'u.db'}",
        [{"name": "down", "type": "webhook", "url": "http://127.0.0.1:9/", "timeout": 2}],
    )
    runner = CliRunner()
    unknown = runner.invoke(main, ["--config", str(path), "alerts", "test", "nope"])
    assert unknown.exit_code == 1
    assert "channel nope: no such channel (known: down)" in unknown.output
    down = runner.invoke(main, ["--config", str(path), "alerts", "test", "down"])
    assert down.exit_code == 1 and "channel down: cannot reach" in down.output


def test_mute_and_unmute_a_rule(tmp_path: Path, database_url: str, engine: Engine) -> None:
    with make_sessionmaker(engine)() as session:
        rule = create_alert(session, name="Hot", condition={"plugin": "p", "metric": "m"})
        session.commit()
        rule_id = rule.id
    path = config_file(tmp_path, database_url, [])
    runner = CliRunner()
    muted = runner.invoke(
        main,
        [
            "--config",
            str(path),
            "alerts",
            "mute",
            str(rule_id),
            "--for",
            "2h",
            "--reason",
            "disk swap",
        ],
    )
    assert muted.exit_code == 0, muted.output
    with make_sessionmaker(engine)() as session:
        (silence,) = session.scalars(select(AlertSilence))
        assert (silence.alert_id, silence.reason) == (rule_id, "disk swap")
        assert silence.ends_at - silence.starts_at >= timedelta(hours=2)
    ended = runner.invoke(main, ["--config", str(path), "alerts", "unmute", str(rule_id)])
    assert ended.exit_code == 0 and "ended 1 active mute(s)" in ended.output
    unknown = runner.invoke(
        main, ["--config", str(path), "alerts", "mute", str(uuid.uuid4()), "--for", "1h"]
    )
    assert unknown.exit_code == 1 and "not found" in unknown.output
