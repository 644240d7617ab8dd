"""The real prometheus-node-exporter from Debian's packages, started on a free loopback port.

Uses the binary when installed; otherwise tries `apt-get install -y prometheus-node-exporter`
(running `apt-get update` only if that fails). When it cannot be had, the test skips with the
reason, or fails under UNITY_REQUIRE_SERVICES=1 (tests.services.service_unreachable).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PACKAGE", "find_or_install", "running_node_exporter"]

PACKAGE = "prometheus-node-exporter"
_CANDIDATES = ("/usr/bin/prometheus-node-exporter", "/usr/sbin/prometheus-node-exporter")
#: How long the exporter may take to answer its first scrape.
_START_SECONDS = 30.0


class Unavailable(Exception):
    """node_exporter is not installed and could not be installed; the message says why."""


def find_or_install() -> str:
    """The exporter's path, installing the Debian package when it is missing."""
    found = _find()
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise Unavailable(f"{PACKAGE} is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", PACKAGE]
    result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=600)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600)
    found = _find()
    if not found:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Unavailable(f"`{' '.join(install)}` failed (status {result.returncode}): {tail[0]}")
    return found


@contextmanager
def running_node_exporter(binary: str) -> Iterator[str]:
    """Start `binary` on a free 127.0.0.1 port; yield its /metrics URL; stop it afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _find() -> str | None:
    found = shutil.which(PACKAGE) or shutil.which("node_exporter")
    return found or next((p for p in _CANDIDATES if Path(p).exists()), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(url: str, process: subprocess.Popen[str]) -> None:
    """Poll the endpoint until it answers (no fixed sleep); Unavailable if the process dies."""
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read() if process.stderr else ""
            raise Unavailable(f"node_exporter exited with {process.returncode}: {error[-300:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)  # polling interval while the port is not yet open
    raise Unavailable(f"node_exporter did not answer {url} within {_START_SECONDS:g} s")
