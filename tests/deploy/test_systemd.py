"""deploy/systemd/: the units parse, run commands the CLI accepts, and restart what fails."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import click
import pytest

from tests.deploy.cli_check import parse_unity

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
EXPECTED = {
    "unity-worker@.service": ["worker"],
    "unity-beat.service": ["beat"],
    "unity-api.service": ["api"],
    "unity-flower.service": ["flower"],
}


def read_unit(path: Path) -> configparser.ConfigParser:
    """A unit file as systemd reads its syntax: sections, Key=Value, # comments, case kept."""
    parser = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def test_the_folder_holds_exactly_the_four_units() -> None:
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_unit_runs_a_unity_command_and_restarts_on_failure(name: str) -> None:
    unit = read_unit(UNITS / name)
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/unity/unity.env"
    assert service["User"] == "unity" and service["WorkingDirectory"]
    argv = shlex.split(service["ExecStart"].replace("%I", "host.nas,default"))
    assert argv[0].endswith("/unity"), argv
    assert parse_unity(argv[1:]) == EXPECTED[name]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_worker_unit_takes_its_queues_from_the_instance_and_has_a_watchdog() -> None:
    service = read_unit(UNITS / "unity-worker@.service")["Service"]
    assert "-Q %I" in service["ExecStart"]
    # The heartbeat thread notifies systemd from the Celery process (unity_workers/heartbeat.py)
    assert service["Type"] == "notify" and service["NotifyAccess"] == "all"
    assert int(service["WatchdogSec"]) >= 30
    # A warm shutdown may take SHUTDOWN_GRACE (120 s): systemd must wait longer
    assert int(service["TimeoutStopSec"]) > 120 and service["KillSignal"] == "SIGTERM"


def test_the_command_check_refuses_unknown_commands_and_options() -> None:
    # The check the units and compose services rely on does fail on a typo
    with pytest.raises(AssertionError, match="not a command"):
        parse_unity(["wroker"])
    with pytest.raises(click.UsageError):
        parse_unity(["worker", "--queue-list", "collect"])
    with pytest.raises(click.UsageError):
        parse_unity(["db", "upgrade", "--no-such-flag"])
