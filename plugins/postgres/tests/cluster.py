"""A throwaway PostgreSQL primary with one streaming standby, for the replication tests.

Both run from a fresh `initdb` in a temporary folder on free loopback ports (so the base
backup is a few MB, not a copy of the shared server's databases), as the `postgres` user
when the tests run as root (the server refuses to run as root), and are stopped and
removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STANDBY_NAME = "unity_standby"


class ClusterUnavailable(Exception):
    """The PostgreSQL server binaries, or a user allowed to run them, are missing."""


@dataclass(frozen=True)
class Replicated:
    primary_url: str
    standby_url: str


def _bindir() -> Path:
    try:
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
    except FileNotFoundError as error:
        raise ClusterUnavailable("pg_config is not installed") from error
    bindir = Path(found.stdout.strip())
    if not (bindir / "initdb").exists() or not (bindir / "pg_basebackup").exists():
        raise ClusterUnavailable(f"no initdb/pg_basebackup in {bindir}")
    return bindir


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Runner:
    """Runs the server binaries as the postgres user when this process is root."""

    def __init__(self, bindir: Path, folder: Path) -> None:
        self.bindir = bindir
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as error:
                raise ClusterUnavailable("running as root and there is no postgres user") from error
            if shutil.which("runuser") is None:
                raise ClusterUnavailable("running as root and runuser is not installed")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def __call__(self, tool: str, *args: str) -> None:
        command = [*self.prefix, str(self.bindir / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise ClusterUnavailable(f"{tool} failed: {done.stderr.strip()[-500:]}")


@contextlib.contextmanager
def primary_with_standby() -> Iterator[Replicated]:
    """A primary and a standby streaming from it, both accepting connections."""
    bindir = _bindir()
    folder = Path(tempfile.mkdtemp(prefix="unity-pg-replication-"))
    folder.chmod(0o755)
    run = _Runner(bindir, folder)
    primary, standby = folder / "primary", folder / "standby"
    ports = {primary: _free_port(), standby: _free_port()}
    started: list[Path] = []

    def start(data: Path) -> None:
        options = f"-p {ports[data]} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        run("pg_ctl", "-D", str(data), "-o", options, "-l", f"{data}.log", "-w", "start")
        started.append(data)

    try:
        run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "--no-sync")
        start(primary)
        run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(ports[primary]), "-U", "postgres",
            "-D", str(standby), "-R", "-X", "stream", "--no-sync",
            "-d", f"application_name={STANDBY_NAME}",
        )  # fmt: skip
        start(standby)
        url = "postgresql://postgres@127.0.0.1:{}/postgres"
        yield Replicated(url.format(ports[primary]), url.format(ports[standby]))
    finally:
        for data in reversed(started):
            with contextlib.suppress(ClusterUnavailable):
                run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
