"""Resolve a command line against the `unity` click tree and parse its options, not running it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import click

from unity_core.cli import main


def parse_unity(argv: Sequence[str]) -> list[str]:
    """The command path `argv` (without the leading `unity`) names, e.g. ["db", "upgrade"].

    Fails (click.UsageError / AssertionError) when a command does not exist or an option or
    argument is not accepted: click parses every level with `make_context`, which checks
    names, types and choices but invokes nothing.
    """
    command: click.Command = main
    args = list(argv)
    path: list[str] = []
    context = main.make_context("unity", args, resilient_parsing=False)
    args = _unparsed(context)
    while isinstance(command, click.Group):
        assert args, f"`unity {' '.join(path)}` needs a subcommand"
        name, args = args[0], args[1:]
        found = command.get_command(context, name)
        assert found is not None, f"`unity {' '.join([*path, name])}` is not a command"
        path.append(name)
        command = found
        context = command.make_context(name, list(args), parent=context)
        if isinstance(command, click.Group):
            args = _unparsed(context)
    return path


def _unparsed(context: click.Context) -> list[str]:
    """What a group left for its subcommand (click 8.2 deprecates the attribute, not the data)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*context.protected_args, *context.args]
