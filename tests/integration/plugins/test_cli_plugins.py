"""`unity plugins` on each database: list, info, enable, disable, set and add, as users see them."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from tests.unit.core.plugins.folders import CLOCK, PROBE, write_plugin
from unity_core.cli.plugins import plugins
from unity_core.storage import make_sessionmaker, upsert_status
from unity_core.storage.models import Plugin as PluginRow
from unity_core.storage.models import PluginStatus

Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def _no_unity_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads os.environ; keep the developer's own UNITY_* variables out."""
    for name in [name for name in os.environ if name.startswith("UNITY_")]:
        monkeypatch.delenv(name)


def write_config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    plugins_dir = tmp_path / "plugins"
    write_plugin(plugins_dir, "probe", PROBE)
    write_plugin(plugins_dir, "clock", CLOCK)
    path = tmp_path / "unity.yaml"
    path.write_text(
        f"database:\n  url: {database_url}\ncollection:\n  plugins_dir: {plugins_dir}\n"
        + textwrap.dedent(extra),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def invoke(database_url: str, tmp_path: Path) -> Invoke:
    """Run `unity plugins ARGS…` against the test database with the probe and clock plugins."""
    path = write_config(tmp_path, database_url)

    def run(*args: str, config: Path = path) -> Result:
        return CliRunner().invoke(plugins, list(args), obj={"config_path": str(config)})

    return run


def row(engine: Engine, plugin_id: str) -> PluginRow:
    """The stored `plugins` row, read in a fresh session."""
    with make_sessionmaker(engine)() as session:
        return session.scalars(select(PluginRow).where(PluginRow.plugin_id == plugin_id)).one()


def test_list_shows_every_instance_with_its_schedule_and_health(
    invoke: Invoke, engine: Engine
) -> None:
    # Given a registry where clock is failing and probe has a cron schedule
    assert invoke("enable", "clock").exit_code == 0
    assert invoke("set", "probe", "cron=*/5 * * * *", "queue=host.nas").exit_code == 0
    with make_sessionmaker(engine)() as session:
        upsert_status(session, "clock", health_status="failing")
        session.flush()
        session.get_one(PluginStatus, "clock").consecutive_failures = 3
        session.commit()
    # When listing
    result = invoke("list")
    # Then each instance has its row
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "PLUGIN", "ENABLED", "SCHEDULE", "QUEUE", "HEALTH"]
    clock = next(line for line in lines if line.startswith("clock "))
    probe = next(line for line in lines if line.startswith("probe "))
    assert clock.split() == [
        "clock",
        "clock",
        "yes",
        "every",
        "1m",
        "-",
        *"failing (3 failures in a row)".split(),
    ]
    assert probe.split() == [
        "probe",
        "probe",
        "no",
        "cron",
        *"*/5 * * * *".split(),
        "(UTC)",
        "host.nas",
        "-",
    ]


def test_info_shows_implementation_options_metrics_and_status(invoke: Invoke) -> None:
    # Given probe configured with a url
    assert invoke("set", "probe", "config.url=https://nas.lan/").exit_code == 0
    # When asking for its details
    result = invoke("info", "probe")
    # Then the implementation, every option with its default and value, metrics and status show
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("probe: Probe\n")
    assert "implementation: probe 2.1.0 (" in out
    assert "schedule:       every 1m" in out
    options = {line.split()[0]: line.split()[1:4] for line in out.splitlines() if line.strip()}
    assert options["url"] == ["String", "(required)", "https://nas.lan/"]
    assert options["expect_status"] == ["Integer", "200", "200"]
    assert "\n  NAME    UNIT   TYPE   TAGS\n  status  count  gauge  -\n" in out
    assert "Status:\n  never run" in out


def test_enable_un_pauses_and_disable_stops(invoke: Invoke, engine: Engine) -> None:
    # Given clock paused after failures
    invoke("list")
    with make_sessionmaker(engine)() as session:
        upsert_status(session, "clock", health_status="paused")
        session.flush()
        session.get_one(PluginStatus, "clock").consecutive_failures = 10
        session.commit()
    # When enabling it, then disabling it
    enabled = invoke("enable", "clock")
    with make_sessionmaker(engine)() as session:
        status = session.get_one(PluginStatus, "clock")
        after_enable = (status.health_status, status.consecutive_failures)
    assert row(engine, "clock").enabled is True
    disabled = invoke("disable", "clock")
    # Then each says what it did and the registry follows
    assert (enabled.exit_code, enabled.stdout) == (0, "clock: enabled\n")
    assert after_enable == (None, 0)
    assert (disabled.exit_code, disabled.stdout) == (0, "clock: disabled\n")
    assert row(engine, "clock").enabled is False


def test_enable_refuses_an_instance_that_lacks_required_options(
    invoke: Invoke, engine: Engine
) -> None:
    # Given probe without its url / When enabling it
    result = invoke("enable", "probe")
    # Then the missing option is named, the exit status is 2 and it stays disabled
    assert result.exit_code == 2
    assert (
        "invalid options for probe:\n  config.url: Missing data for required field."
        in result.stderr
    )
    assert row(engine, "probe").enabled is False


def test_set_parses_validates_and_stores_values(invoke: Invoke, engine: Engine) -> None:
    # Given the default probe instance
    # When setting framework keys, a tag and a list-valued config key on probe
    result = invoke(
        "set",
        "probe",
        "interval=5m",
        "timeout=2.5",
        "retry_count=0",
        "tags.site=rack 1",
        "config.url=https://nas.lan/?a=b",
        "config.expect_status=204",
        "enabled=true",
    )
    # Then it confirms, and the row holds typed values
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("probe: set interval=5m, timeout=2.5, retry_count=0,")
    stored = row(engine, "probe")
    assert (stored.interval_seconds, stored.timeout_seconds, stored.retry_count) == (300, 2.5, 0)
    assert stored.tags == {"site": "rack 1"}
    assert stored.config == {"url": "https://nas.lan/?a=b", "expect_status": 204}
    assert stored.enabled is True
    # And an empty value puts a key back to its default
    assert invoke("set", "probe", "interval=").exit_code == 0
    assert row(engine, "probe").interval_seconds is None


def test_set_rejects_bad_input_with_every_reason_and_status_2(
    invoke: Invoke, engine: Engine
) -> None:
    # Given the probe instance
    # When setting a misspelt key, an invalid value and a bad config value, or a missing id
    bad = invoke("set", "probe", "intervl=5", "timeout=-1", "config.expect_status=lots")
    missing = invoke("set", "ghost", "interval=5")
    no_equals = invoke("set", "probe", "interval")
    # Then nothing changed and each problem is spelled out
    assert bad.exit_code == 2
    assert 'intervl: unknown key — did you mean "interval"?' in bad.stderr
    assert "timeout: must be more than 0" in bad.stderr
    assert "config.expect_status: Not a valid integer." in bad.stderr
    assert row(engine, "probe").timeout_seconds is None
    assert missing.exit_code == 2
    assert "ghost: no such plugin (installed plugins: " in missing.stderr
    assert (no_equals.exit_code, "expected KEY=VALUE" in no_equals.stderr) == (2, True)


def test_add_creates_a_new_instance_of_a_plugin(invoke: Invoke, engine: Engine) -> None:
    # Given the probe implementation
    # When adding an instance with its options, and again with the same id
    added = invoke("add", "probe", "router", "config.url=http://10.0.0.1/", "interval=15")
    again = invoke("add", "probe", "router", "config.url=http://10.0.0.1/")
    unknown = invoke("add", "pihole", "dns")
    # Then the first exists and is enabled; the others are refused with status 2
    assert (added.exit_code, added.stdout) == (0, "router: added (probe, enabled)\n")
    router = row(engine, "router")
    assert (router.plugin, router.interval_seconds, router.config) == (
        "probe",
        15,
        {"url": "http://10.0.0.1/"},
    )
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert unknown.exit_code == 2 and "plugin 'pihole' is not installed" in unknown.stderr


def test_broken_plugins_and_file_overrides_are_warned_about(
    invoke: Invoke, database_url: str, tmp_path: Path
) -> None:
    # Given a broken plugin folder and a file that lists clock as enabled
    config = write_config(tmp_path, database_url, "plugins:\n  - id: clock\n")
    write_plugin(tmp_path / "plugins", "broken", "import no_such_module_here\n")
    # When disabling clock from the command line
    result = invoke("disable", "clock", config=config)
    # Then it works, and warns about the broken folder and that the file will win
    assert result.exit_code == 0
    assert "warning: plugin broken skipped: cannot import" in result.stderr
    assert f"warning: {config} sets enabled for clock" in result.stderr


def test_a_database_that_is_not_migrated_is_a_clear_error(tmp_path: Path) -> None:
    # Given an empty SQLite database
    config = tmp_path / "unity.yaml"
    config.write_text(f"database:\n  url: sqlite:///{tmp_path / 'empty.db'}\n")
    # When listing plugins
    result = CliRunner().invoke(plugins, ["list"], obj={"config_path": str(config)})
    # Then the user is told what to run
    assert result.exit_code == 1
    assert "run `unity db upgrade`" in result.stderr
