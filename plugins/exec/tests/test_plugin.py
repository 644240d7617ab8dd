"""The exec plugin running real commands: each output format, and every way a command fails."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, Counter, generate_latest
from unity_plugins.exec import ExecPlugin
from unity_plugins.exec.plugin import CommandFailed

from unity_core.cli import main
from unity_core.errors import PluginConfigError
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.sdk import Collection, Metric, MetricType
from unity_core.plugins.testing import collect

COUNTER, GAUGE = MetricType.COUNTER, MetricType.GAUGE


def python(code: str) -> list[str]:
    """A command running `code` in this interpreter: a script in any language would do."""
    return [sys.executable, "-c", code]


def printing(text: str) -> list[str]:
    return python(f"import sys; sys.stdout.write({text!r})")


def test_unity_json_lines_become_metrics_with_their_types_units_tags_and_times() -> None:
    # Given a script printing Unity metric JSON, one object per line
    when = datetime.now(UTC).replace(microsecond=0)
    lines = [
        {"name": "backup_age", "value": 3600, "unit": "seconds", "tags": {"job": "nightly"}},
        {"name": "backup_bytes", "value": 123456, "type": "counter", "time": when.isoformat()},
        {"name": "backup_ok", "value": True},
    ]
    command = printing("\n".join(json.dumps(line) for line in lines) + "\n")
    # When collecting
    acc = collect(ExecPlugin, {"command": command})
    # Then each line is one metric as described
    acc.assert_metric("backup_age", {"job": "nightly"}, value=3600, unit="seconds", type=GAUGE)
    counter = acc.assert_metric("backup_bytes", value=123456, type=COUNTER)
    assert counter.time == when
    acc.assert_metric("backup_ok", value=True)
    acc.assert_metric("command_duration_ms", value=lambda v: v > 0, unit="ms")
    acc.assert_no_errors()


def test_the_designs_metric_json_is_accepted_as_it_is() -> None:
    # Given the design document's Metric JSON example, envelope keys and all
    example = {
        "timestamp": datetime.now(UTC).isoformat(),
        "plugin_id": "docker-monitor",
        "plugin_name": "Docker Monitor",
        "metric_name": "container_stats",
        "value": {"containers_running": 12, "containers_stopped": 3},
        "tags": {"host": "homelab-01"},
        "summary": "12 containers running, 3 stopped",
        "metadata": {"collection_duration_ms": 145},
    }
    acc = collect(ExecPlugin, {"command": printing(json.dumps(example))})
    # Then it is one metric with the object as its value
    acc.assert_metric("container_stats", {"host": "homelab-01"}, value=example["value"])


def test_bad_json_items_are_item_errors_naming_the_problem_and_good_ones_are_kept() -> None:
    # Given a list with one good metric, one with a typo'd key and one without a value
    items = [{"name": "ok", "value": 1}, {"name": "typo", "valeu": 2}, {"name": "empty"}]
    acc = collect(ExecPlugin, {"command": printing(json.dumps(items))})
    # Then the good one is stored and each bad one is reported on its own
    acc.assert_metric("ok", value=1)
    assert len(acc.errors) == 2
    assert "metric 2: unknown keys ['valeu']" in acc.errors[0]
    assert "metric 3: empty: no `value`" in acc.errors[1]


def test_prometheus_text_output_keeps_counters_as_counters() -> None:
    # Given a script printing Prometheus text (prometheus_client's own exposition)
    registry = CollectorRegistry()
    Counter("jobs", "Jobs run.", ["queue"], registry=registry).labels("mail").inc(5)
    command = printing(generate_latest(registry).decode())
    # When collecting with data_format prometheus
    acc = collect(ExecPlugin, {"command": command, "data_format": "prometheus"})
    # Then the counter arrives as a counter with its labels as tags
    acc.assert_metric("jobs_total", {"queue": "mail"}, value=5, type=COUNTER)
    assert not [name for name in acc.names() if name.endswith("_created")]


def test_influx_line_protocol_with_escapes_timestamps_and_one_bad_line() -> None:
    # Given line protocol with escaped tag values, typed fields, a comment and a broken line
    stamp = 1_764_300_000_123_456_789
    text = (
        "# disks\n"
        f'disk,mount=/srv/my\\ data,fs=ext4 used=12i,free=3.5e9,ok=t,note="a, \\"b\\"" {stamp}\n'
        "disk,mount=/ used=oops\n"
        "uptime value=42\n"
    )
    acc = collect(ExecPlugin, {"command": printing(text), "data_format": "influx"})
    # Then each field is a metric named measurement_field, tagged by the line's tags
    tags = {"mount": "/srv/my data", "fs": "ext4"}
    used = acc.assert_metric("disk_used", tags, value=12)
    assert used.time == datetime.fromtimestamp(stamp / 1e9, UTC)
    acc.assert_metric("disk_free", tags, value=3.5e9)
    acc.assert_metric("disk_ok", tags, value=True)
    acc.assert_metric("disk_note", tags, value='a, "b"')
    acc.assert_metric("uptime_value", value=42.0)
    # And the broken line is one error quoting it, while its neighbours were kept
    assert len(acc.errors) == 1 and "line 3:" in acc.errors[0] and "oops" in acc.errors[0]


def test_a_command_string_runs_without_a_shell_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a command string using a shell variable
    monkeypatch.setenv("UNITY_EXEC_PROBE", "expanded")
    command = "echo probe,seen=$UNITY_EXEC_PROBE value=1i"
    # When run without a shell / Then the variable is passed through literally
    acc = collect(ExecPlugin, {"command": command, "data_format": "influx"})
    acc.assert_metric("probe_value", {"seen": "$UNITY_EXEC_PROBE"})
    # When run with shell: true / Then the shell expanded it
    acc = collect(ExecPlugin, {"command": command, "data_format": "influx", "shell": True})
    acc.assert_metric("probe_value", {"seen": "expanded"})


def test_env_and_cwd_reach_the_command(tmp_path: Path) -> None:
    # Given extra environment and a working directory
    code = (
        "import json, os; print(json.dumps({'name': 'where', 'value': os.getcwd(),"
        " 'tags': {'colour': os.environ['COLOUR']}}))"
    )
    config = {"command": python(code), "env": {"COLOUR": "teal"}, "cwd": str(tmp_path)}
    acc = collect(ExecPlugin, config)
    # Then the command saw both
    acc.assert_metric("where", {"colour": "teal"}, value=str(tmp_path))


def test_a_non_zero_exit_fails_the_run_with_the_status_and_stderr() -> None:
    # Given a script that complains and exits 3, after printing valid output
    code = 'import sys; print(\'{"name": "x", "value": 1}\'); sys.exit(\'disk not mounted\')'
    # When collecting / Then the run fails naming the status and quoting stderr
    with pytest.raises(CommandFailed, match=r"exited with status 1; stderr: 'disk not mounted'"):
        collect(ExecPlugin, {"command": python(code)})


def test_output_in_the_wrong_format_fails_the_run_quoting_it() -> None:
    # Given a command printing prose where JSON is expected
    with pytest.raises(
        CommandFailed, match=r"printed no unity output: not JSON.*stdout: 'all good'"
    ):
        collect(ExecPlugin, {"command": ["echo", "all good"]})
    # And prose where Prometheus text is expected
    with pytest.raises(CommandFailed, match="printed no prometheus output"):
        collect(ExecPlugin, {"command": ["echo", "all good"], "data_format": "prometheus"})


def test_a_command_that_cannot_start_fails_the_run_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-check")
    with pytest.raises(CommandFailed, match=r"`no-such-check` cannot start: No such file"):
        collect(ExecPlugin, {"command": [missing]})


def test_no_output_is_an_error_of_the_run_not_a_failure() -> None:
    acc = collect(ExecPlugin, {"command": ["true"]})
    assert acc.errors == ["`true` printed nothing on stdout"]
    acc.assert_metric("command_duration_ms")


def test_the_default_instance_says_what_to_configure() -> None:
    # Given the default instance, which has no command / Then setup says what to set
    with pytest.raises(PluginConfigError, match=r"config.command: nothing to run; set it"):
        collect(ExecPlugin, {})


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # killed; a zombie only waits for its new parent to reap it


def test_on_timeout_the_whole_process_group_is_killed(tmp_path: Path) -> None:
    # Given a command that starts a grandchild and then hangs
    pid_file = tmp_path / "child.pid"
    command = f"sleep 60 & echo $! > {pid_file}; wait"
    plugin = ExecPlugin({"command": command, "shell": True, "command_timeout": 0.5})
    # When the runner runs it (its deadline well above the command's)
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        run_plugin(plugin, datetime.now(UTC), timeout=20)
    # Then the run failed on the command's own timeout, saying so
    cause = raised.value.__cause__
    assert isinstance(cause, CommandFailed), raised.value
    assert "did not finish within 0.5 s: killed its process group" in str(cause)
    assert time.monotonic() - started < 10
    # And the grandchild died with it (not left running as an orphan)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _dead(child) and time.monotonic() < deadline:
        time.sleep(0.02)  # SIGKILL is delivered asynchronously; poll for its effect
    assert _dead(child), f"grandchild {child} survived"


def test_summary_names_the_command_and_counts_its_metrics() -> None:
    # Given a run of a named script / When summarising it
    plugin = ExecPlugin({"command": ["/usr/local/bin/check_backup", "--json"]})
    collection = Collection(
        "exec",
        datetime.now(UTC),
        [Metric("a", 1), Metric("b", 2), Metric("command_duration_ms", 3)],
    )
    # Then it reads as a sentence about that script
    assert plugin.summary(collection) == "`check_backup` reported 2 metrics"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_exec_instance_runs_through_the_pipeline_in_a_dry_run(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an exec instance, added in the configuration file, printing line protocol
    for name in [name for name in os.environ if name.startswith("UNITY_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "unity.yaml"
    script = 'echo "backup,job=nightly age_seconds=3600i,ok=t"'
    config.write_text(
        f"database:\n  url: {database_url}\n"
        "plugins:\n  - id: backup-check\n    plugin: exec\n    config:\n"
        f"      command: {json.dumps(script)}\n      shell: true\n      data_format: influx\n",
        encoding="utf-8",
    )
    # When running `unity collect backup-check --dry-run`
    args = ["--config", str(config), "collect", "backup-check", "--dry-run"]
    result = CliRunner().invoke(main, args)
    # Then its metrics passed validation and the summary names the command
    assert result.exit_code == 0, result.output
    assert "rejected" not in result.stderr, result.stderr
    assert "backup_age_seconds" in result.stdout and "job=nightly" in result.stdout
    assert "summary: `echo" in result.stderr and "reported 2 metrics" in result.stderr
