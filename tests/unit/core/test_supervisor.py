"""The supervisor behind `unity up`: prefixed output, shared shutdown, failure of one child."""

from __future__ import annotations

import io
import sys
import threading
import time

from unity_core.supervisor import ProcessSpec, Supervisor

SLEEPER = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: (print('flushing', flush=True), sys.exit(0)))\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_stop_request_reaches_every_child_and_their_output_is_prefixed() -> None:
    # Given two long-running children under one supervisor
    out = io.StringIO()
    specs = [
        ProcessSpec("beat", [sys.executable, "-c", SLEEPER]),
        ProcessSpec("worker", [sys.executable, "-c", SLEEPER]),
    ]
    supervisor = Supervisor(specs, out=out, grace=10)
    supervisor.start()
    _wait_for(lambda: out.getvalue().count("| ready") == 2)
    # When a stop is requested (what Ctrl-C or SIGTERM does)
    waiter = threading.Thread(target=lambda: setattr(supervisor, "code", supervisor.wait()))
    waiter.start()
    supervisor.request_stop()
    waiter.join(60)
    # Then each child got SIGTERM, ran its shutdown and exited cleanly
    text = out.getvalue()
    assert "beat   | flushing" in text
    assert "worker | flushing" in text
    assert supervisor.code == 0  # type: ignore[attr-defined]
    assert all(child.poll() is not None for child in supervisor.children.values())


def test_a_child_that_dies_stops_the_others_and_fails_the_run() -> None:
    # Given one child that exits at once with an error and one that would run for a minute
    out = io.StringIO()
    specs = [
        ProcessSpec("api", [sys.executable, "-c", "import sys; sys.exit(3)"]),
        ProcessSpec("worker", [sys.executable, "-c", SLEEPER]),
    ]
    supervisor = Supervisor(specs, out=out, grace=10)
    supervisor.start()
    # When the supervisor waits
    code = supervisor.wait()
    # Then the failure is named, the survivor is stopped and the run fails
    assert "api    | exited unexpectedly with status 3" in out.getvalue()
    assert supervisor.children["worker"].poll() is not None
    assert code == 1
