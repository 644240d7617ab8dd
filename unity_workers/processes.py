"""The command lines `unity worker` runs, and a small supervisor for when it runs two.

The persist worker reads the outcome stream on a Redis broker (stream_persist.py) and
`unity.persist` messages in any case. Batching those messages needs a prefetch of at least
the batch size, while collecting wants a prefetch of 1 (RELIABILITY.md §1.3); Celery's
prefetch is per worker process, so the persist queue gets its own `celery worker`:

    celery -A unity_workers worker -Q collect,maintenance -c <max_concurrent> \
        --prefetch-multiplier 1 -n unity-collect@<host> --without-mingle --without-gossip
    celery -A unity_workers worker -Q persist -c 2 \
        --prefetch-multiplier <batch_size> -n unity-persist@<host> --without-mingle --without-gossip

<host> is `unity worker --host`, else collection.host, else Celery's `%h` (the machine's name).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from unity_core.supervisor import ProcessSpec, Supervisor

DEFAULT_QUEUES = ("collect", "persist", "maintenance")
PERSIST_QUEUE = "persist"
#: Seconds a warm shutdown may take before the workers are killed.
SHUTDOWN_GRACE = 120.0
#: Two persist processes: one writes a batch while the other fills the next.
PERSIST_CONCURRENCY = 2


@dataclass(frozen=True)
class WorkerCommand:
    role: str
    argv: list[str]


def expand_queues(text: str) -> list[str]:
    """Queue names from `-Q a,b`; `default` stands for collect, persist and maintenance."""
    queues: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        for queue in DEFAULT_QUEUES if name == "default" else (name,):
            if queue and queue not in queues:
                queues.append(queue)
    return queues


def worker_commands(
    queues: Sequence[str],
    *,
    concurrency: int,
    batch_size: int,
    loglevel: str = "INFO",
    name: str = "unity",
    persist_concurrency: int = PERSIST_CONCURRENCY,
    host: str = "%h",
) -> list[WorkerCommand]:
    """One command for the non-persist queues (prefetch 1), one for persist (prefetch = batch).

    Nodes are named `<name>-collect@<host>` and `<name>-persist@<host>`; `%h` is Celery's
    placeholder for the machine's name."""
    base = [sys.executable, "-m", "celery", "-A", "unity_workers", "worker"]
    common = ["--loglevel", loglevel, "--without-mingle", "--without-gossip"]
    others = [q for q in queues if q != PERSIST_QUEUE]
    commands = []
    if others:
        commands.append(
            WorkerCommand(
                "collect",
                [
                    *base,
                    "-Q",
                    ",".join(others),
                    "-c",
                    str(concurrency),
                    "--prefetch-multiplier",
                    "1",
                    "-n",
                    f"{name}-collect@{host}",
                    *common,
                ],
            )
        )
    if PERSIST_QUEUE in queues:
        commands.append(
            WorkerCommand(
                "persist",
                [
                    *base,
                    "-Q",
                    PERSIST_QUEUE,
                    "-c",
                    str(persist_concurrency),
                    "--prefetch-multiplier",
                    str(max(1, batch_size)),
                    "-n",
                    f"{name}-persist@{host}",
                    *common,
                ],
            )
        )
    return commands


def run(commands: Sequence[WorkerCommand], env: dict[str, str] | None = None) -> int:
    """Run the commands; one alone replaces this process, several are supervised.

    Supervised (unity_core.supervisor): output lines are prefixed with the role,
    SIGINT/SIGTERM are passed on as SIGTERM (Celery's warm shutdown: running tasks finish,
    buffered batches are written), and when one process ends the others are stopped.
    """
    env = dict(os.environ if env is None else env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if len(commands) == 1:
        os.execve(sys.executable, commands[0].argv, env)  # noqa: S606 - fixed argv, no shell
    specs = [ProcessSpec(command.role, command.argv, env) for command in commands]
    return Supervisor(specs, prefix="[{name}] ", grace=SHUTDOWN_GRACE).run()
