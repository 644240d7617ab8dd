"""`unity up` on the embedded default: real beat and worker processes, rows within a minute."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow


def _system_rows(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database, timeout=5) as conn:
            found = conn.execute(
                "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'system'"
            ).fetchone()
    except sqlite3.OperationalError:  # not migrated yet
        return 0
    return int(found[0])


def test_up_on_the_embedded_default_stores_system_metrics_and_stops_every_child(
    tmp_path: Path,
) -> None:
    # Given no configuration at all, only a data directory
    env = {**os.environ, "UNITY_DATA_DIR": str(tmp_path / "data")}
    env.pop("UNITY_CONFIG", None)
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "unity_core", "up", "--grace", "60"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    database = tmp_path / "data" / "unity.db"
    try:
        # When it runs, rows from the system plugin appear within a minute
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _system_rows(database) == 0:
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            time.sleep(0.5)
        assert _system_rows(database) > 0, (tmp_path / "up.log").read_text()
        children = psutil.Process(up.pid).children(recursive=True)
        assert len(children) >= 4  # beat, the worker supervisor, collect and persist workers
    finally:
        # And SIGTERM stops it and every process it started
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=150)
        log.close()
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], f"still running: {[p.cmdline() for p in alive]}"
    assert code == 0, (tmp_path / "up.log").read_text()[-3000:]
