"""The `exec` plugin: runs a command and reads metrics from what it prints (Telegraf's exec)."""

from __future__ import annotations

import os
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate
from unity_plugins.exec.command import (
    CommandTimedOut,
    Finished,
    argv_of,
    run_command,
    snippet,
)
from unity_plugins.exec.parsers import PARSERS, ParseError

from unity_core.errors import CollectionFailed, PluginConfigError
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

__all__ = ["CommandFailed", "ExecPlugin"]


class CommandFailed(CollectionFailed):
    """The command did not start, failed, timed out or printed something unreadable."""


class Command(fields.Field[Any]):
    """A command as a list of arguments, or as one string (split like a shell would)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(part, str) for part in value):
            return list(value)
        raise ValidationError("expected a list of arguments or one command string")


class ExecConfig(Schema):
    command = Command(
        load_default=list,
        metadata={"description": "What to run: [program, arg, …] or one string."},
    )
    shell = fields.Boolean(
        load_default=False,
        metadata={"description": "Run the command through /bin/sh -c (pipes, globs, $VARS)."},
    )
    data_format = fields.String(
        load_default="unity",
        validate=validate.OneOf(sorted(PARSERS)),
        metadata={"description": "How to read stdout: unity (JSON), prometheus or influx."},
    )
    command_timeout = fields.Float(
        load_default=10.0,
        validate=validate.Range(min=0.01, max=3600),
        metadata={"description": "Seconds before the command's process group is killed."},
    )
    env = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        load_default=dict,
        metadata={"description": "Extra environment variables for the command."},
    )
    cwd = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "Directory to run it in (default: the worker's)."},
    )


class ExecPlugin(Plugin):
    """Any-language plugins: a script prints metrics, Unity stores them."""

    id = "exec"
    name = "Exec"
    version = "1.0.0"
    description = "Runs a command and parses its stdout as Unity JSON, Prometheus or Influx."
    config_schema = ExecConfig
    dynamic_metrics = True
    metrics = (
        MetricSpec(
            "command_duration_ms", "ms", MetricType.GAUGE, "how long the command ran", (), 0
        ),
    )

    def setup(self) -> None:
        command = self.config.get("command")
        if not command:
            raise PluginConfigError(
                self.instance_id,
                "config.command: nothing to run; set it, e.g. `unity plugins set"
                f" {self.instance_id} 'config.command=[/usr/local/bin/check, --json]'`",
            )
        try:
            self._argv = argv_of(command, shell=bool(self.config.get("shell")))
        except ValueError as error:
            raise PluginConfigError(self.instance_id, f"config.command: {error}") from None

    def collect_data(self, acc: Accumulator) -> None:
        finished = self._run()
        shown = self.command_text()
        data_format = str(self.config.get("data_format", "unity"))
        try:
            parsed = PARSERS[data_format](finished.stdout)
        except ParseError as error:
            raise self._failed(
                f"{shown} printed no {data_format} output: {error}",
                finished.stderr,
                finished.stdout,
            ) from None
        if not finished.stdout.strip():
            acc.error(f"{shown} printed nothing on stdout" + _stderr(finished.stderr))
        for problem in parsed.errors:
            acc.error(problem, item=shown)
        for metric in parsed.metrics:
            add = acc.add_counter if metric.type is MetricType.COUNTER else acc.add_gauge
            add(metric.name, metric.value, metric.tags, unit=metric.unit, time=metric.time)
        acc.add_gauge("command_duration_ms", round(finished.seconds * 1000, 3), unit="ms")

    def _run(self) -> Finished:
        """The command's run, or CommandFailed when it did not start, end in time or succeed."""
        shown = self.command_text()
        try:
            finished = run_command(
                self._argv,
                timeout=float(self.config.get("command_timeout", 10.0)),
                env=self.config.get("env") or None,
                cwd=self.config.get("cwd"),
            )
        except CommandTimedOut as timed_out:
            raise self._failed(
                f"{shown} {timed_out}: killed its process group", timed_out.stderr, timed_out.stdout
            ) from None
        except OSError as error:
            raise self._failed(f"{shown} cannot start: {error.strerror or error}", "", "") from None
        if finished.returncode < 0:
            raise self._failed(
                f"{shown} was killed by signal {-finished.returncode}",
                finished.stderr,
                finished.stdout,
            )
        if finished.returncode > 0:
            raise self._failed(
                f"{shown} exited with status {finished.returncode}",
                finished.stderr,
                finished.stdout,
            )
        return finished

    def summary(self, collection: Collection) -> str:
        count = sum(1 for m in collection.metrics if m.name != "command_duration_ms")
        text = f"{self.command_text()} reported {count} metric{'' if count == 1 else 's'}"
        if collection.errors:
            text += f", {len(collection.errors)} unreadable"
        return text

    def command_text(self) -> str:
        """The command as people recognise it: its program's name, or the shell line."""
        command = self.config.get("command") or []
        if self.config.get("shell"):
            text = command if isinstance(command, str) else " ".join(command)
            return f"`{text if len(text) <= 40 else text[:39] + '…'}`"
        program = (command.split() or [""])[0] if isinstance(command, str) else command[0]
        return f"`{os.path.basename(program)}`" if program else "`(no command)`"

    def _failed(self, problem: str, stderr: str, stdout: str) -> CommandFailed:
        detail = _stderr(stderr) or (f"; stdout: {snippet(stdout)}" if stdout.strip() else "")
        return CommandFailed(self.instance_id, problem + detail)


def _stderr(stderr: str) -> str:
    return f"; stderr: {snippet(stderr)}" if stderr.strip() else ""
