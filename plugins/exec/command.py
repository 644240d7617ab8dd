"""Running one external command with a time limit, killing its whole process group on expiry."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["CommandTimedOut", "Finished", "argv_of", "run_command", "snippet"]

#: After the group is killed, how long to wait for the pipes to close before giving up on them.
_DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class Finished:
    """A command that ended by itself (whatever its exit status)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


class CommandTimedOut(Exception):
    """The command outlived its time limit; its process group was killed."""

    def __init__(self, timeout: float, stdout: str, stderr: str) -> None:
        self.timeout, self.stdout, self.stderr = timeout, stdout, stderr
        super().__init__(f"did not finish within {timeout:g} s")


def argv_of(command: Sequence[str] | str, *, shell: bool) -> list[str]:
    """The argv to execute: a string is split like a shell would (no shell involved), unless
    `shell` is set, when the whole command goes to /bin/sh -c. ValueError on bad quoting."""
    if shell:
        text = command if isinstance(command, str) else shlex.join(command)
        return ["/bin/sh", "-c", text]
    return shlex.split(command) if isinstance(command, str) else list(command)


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Finished:
    """Run `argv` with no stdin; return its output once it exits, or raise CommandTimedOut.

    The command gets a session (and process group) of its own, so on timeout everything it
    started is killed with it, not just the first process. OSError when it cannot start.
    """
    environment = {**os.environ, **env} if env else None
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        out, err = _drain(process)
        raise CommandTimedOut(timeout, _text(out), _text(err)) from None
    return Finished(process.returncode, _text(out), _text(err), time.perf_counter() - started)


def snippet(text: str, limit: int = 300) -> str:
    """The end of `text` (where errors usually are), quoted, at most `limit` characters."""
    text = text.strip()
    return repr(text if len(text) <= limit else "…" + text[-limit:])


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # the group emptied meanwhile
        pass


def _drain(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    try:
        return process.communicate(timeout=_DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        # Something left the group (its own setsid) still holds the pipes: stop reading.
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
        return b"", b""


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")
