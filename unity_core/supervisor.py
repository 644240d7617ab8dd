"""Runs Unity's processes side by side for `unity up`: prefixed logs, clean shared shutdown.

Each child gets its own process group so a Ctrl-C in the terminal reaches the supervisor
only; the supervisor then sends SIGTERM to each child itself — not to its group, since a
Celery worker's pool processes must be stopped by their parent's warm shutdown (which
flushes batches and restores unacknowledged messages), not shot from outside — and waits,
escalating to SIGKILL of the whole group after a grace period.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TextIO

log = logging.getLogger("unity.supervisor")

RELAY_DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class ProcessSpec:
    """One child: a short name for the log prefix, its command line and extra environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


class Supervisor:
    """Starts children, relays their output line by line, and stops them all together."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        out: TextIO | None = None,
        grace: float = 30.0,
        prefix: str = "{name} | ",
    ) -> None:
        self.specs = list(specs)
        self.out = out or sys.stdout
        self.grace = grace
        self.prefix = prefix
        self._writable = True
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._relays: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._width = max((len(s.name) for s in self.specs), default=0)

    def start(self) -> None:
        for spec in self.specs:
            env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
            child = subprocess.Popen(
                list(spec.argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # runs in the child before exec
            )
            self.children[spec.name] = child
            assert child.stdout is not None
            relay = threading.Thread(
                target=self._relay, args=(spec.name, child.stdout), daemon=True
            )
            relay.start()
            self._relays[spec.name] = relay
            self.say(spec.name, f"started (pid {child.pid}): {' '.join(spec.argv)}")

    def say(self, name: str, line: str) -> None:
        # If our own output goes away (closed terminal, dead pipe), keep draining the
        # children's pipes anyway so none of them ever blocks on a full one.
        if not self._writable:
            return
        with self._write_lock:
            try:
                self.out.write(self.prefix.format(name=name.ljust(self._width)) + line + "\n")
                self.out.flush()
            except (OSError, ValueError):
                self._writable = False

    def _relay(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(name, raw.decode(errors="replace").rstrip())
        stream.close()

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def wait(self) -> int:
        """Block until a stop is requested or a child exits; then stop everything.

        Returns 0 after a requested stop in which every child exited cleanly, else 1.
        """
        failed: str | None = None
        while not self._stop.is_set():
            for name, child in self.children.items():
                if child.poll() is not None:
                    failed = name
                    self.say(name, f"exited unexpectedly with status {child.returncode}")
                    break
            if failed:
                break
            self._stop.wait(0.5)
        codes = self.stop()
        if failed:
            return 1
        return 0 if all(code in (0, -signal.SIGTERM) for code in codes.values()) else 1

    def stop(self) -> dict[str, int]:
        """SIGTERM every live child, wait up to `grace`, then SIGKILL what is left."""
        for name, child in self.children.items():
            if child.poll() is None:
                self.say(name, "stopping")
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(name, f"did not stop within {self.grace:g} s; killing it")
                _signal_group(child, signal.SIGKILL)
                child.wait()
        # A child's last words (a worker flushing its batch) may still sit in its pipe when
        # it has exited: let each relay drain it before saying "stopped", so nothing is lost
        # or printed out of order. A grandchild still holding the pipe open must not hang
        # the stop, hence the bound.
        drain_deadline = time.monotonic() + RELAY_DRAIN_SECONDS
        for relay in self._relays.values():
            relay.join(timeout=max(0.0, drain_deadline - time.monotonic()))
        codes = {name: child.returncode for name, child in self.children.items()}
        for name, code in codes.items():
            self.say(name, f"stopped (status {code})")
        return codes

    def run(self) -> int:
        """start() + wait(), with SIGINT/SIGTERM turned into a clean shared stop."""
        previous = {
            sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.start()
            return self.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _die_with_parent() -> None:
    # Linux: a child gets SIGTERM when the supervisor dies (even by SIGKILL), so no worker
    # is ever orphaned. Elsewhere this is a no-op.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        pass
