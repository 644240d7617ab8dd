"""A rich progress bar on a terminal, nothing otherwise (logs and pipes stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Advance(Protocol):
    def __call__(self, amount: int) -> None: ...


@contextmanager
def progress(
    description: str, total: int | None, enabled: bool | None = None, unit: str = "rows"
) -> Iterator[Advance]:
    """Yield a function that advances the bar by `amount` rows (or bytes, `unit="bytes"`);
    `enabled` None means "if stderr is a terminal"."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda amount: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    done = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        done,
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda amount: bar.advance(task, amount)
