"""redis-server processes of the test's own: free loopback port, own folder, extra options.

Tests that change a server's state (keys, CONFIG SET, replication) run against these, never
the shared Redis. Also used by bench/plugins.py.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

#: No persistence and loopback only, unless a test asks otherwise.
QUIET = ("--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--protected-mode", "yes")


def until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Poll a server for a state it reaches on its own (no event to await); fail naming it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


class RedisServer:
    """One running redis-server; `url` points at its database 0."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, socket_timeout=5, decode_responses=True)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False


@contextlib.contextmanager
def redis_server(folder: Path, *options: str) -> Iterator[RedisServer]:
    """Start redis-server in `folder` with QUIET then `options`; stop it afterwards.

    FileNotFoundError when redis-server is not installed (callers decide: skip or fail).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [binary, "--port", str(port), "--dir", str(folder), *QUIET, *options]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(process, port)
    try:
        until(server.answers, f"redis-server on port {port}")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
