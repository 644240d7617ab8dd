"""Two real `celery beat` processes on one database and one Redis: each slot is sent once,
and when the active beat is SIGKILLed the standby takes over within the lease ttl.

No worker runs: the messages stay in the Redis list `collect` (kombu keeps a queue as a
list named after it), so the test reads exactly what was dispatched, by whom, for which slot.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from unity_core.scheduling import IntervalSchedule, latest_slot_at_or_before, next_slot_after
from unity_core.storage import make_engine, make_sessionmaker
from unity_core.storage.models import Plugin, ScheduleState
from unity_core.storage.schedule import lease_owner

from .conftest import Deployment, WorkerProcess, wait_for

pytestmark = pytest.mark.slow

PLUGINS = ("alpha", "beta", "gamma")
INTERVAL = 2  # seconds between slots of each plugin
TTL = 4  # the beat lease's ttl
LOOP = 0.5  # beat_max_loop_interval
SCHEDULER = "unity_workers.scheduler:UnityScheduler"

Dispatch = tuple[str, datetime, int]  # plugin_id, slot, pid of the beat that sent it


def start_beat(deployment: Deployment, name: str) -> WorkerProcess:
    """`celery -A unity_workers beat -S <Unity's scheduler>` as its own process group."""
    argv = [
        sys.executable, "-m", "celery", "-A", "unity_workers", "beat", "-S", SCHEDULER,
        "--loglevel", "INFO", "--schedule", str(deployment.tmp / f"{name}-schedule"),
    ]  # fmt: skip
    beat = WorkerProcess(name, argv, deployment.env(), deployment.tmp / f"{name}.log")
    deployment.workers.append(beat)  # SIGKILLed at teardown with the rest
    return beat.spawn()


def pid_of(beat: WorkerProcess) -> int:
    assert beat.process is not None
    return beat.process.pid


def dispatched(deployment: Deployment) -> list[Dispatch]:
    """Every unity.collect message in the `collect` list, decoded (oldest first)."""
    client = deployment.redis()
    try:
        raw = client.lrange("collect", 0, -1)
    finally:
        client.close()
    found = []
    for message in reversed(raw):  # kombu LPUSHes, so the list is newest first
        envelope = json.loads(message)
        headers = envelope["headers"]
        assert headers["task"] == "unity.collect"
        args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        assert kwargs["instance"]["plugin_id"] == args[0]
        pid = int(headers["origin"].split("@", 1)[0].removeprefix("gen"))
        found.append((args[0], datetime.fromisoformat(kwargs["slot"]), pid))
    return found


def slots_by_plugin(dispatches: list[Dispatch]) -> dict[str, list[datetime]]:
    by_plugin: dict[str, list[datetime]] = defaultdict(list)
    for plugin_id, slot, _pid in dispatches:
        by_plugin[plugin_id].append(slot)
    return {plugin_id: sorted(slots) for plugin_id, slots in by_plugin.items()}


def lease_pid(url: str) -> int | None:
    """The pid in the lease holder's name (hostname:pid:token), or None when nobody holds it."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            owner = lease_owner(session, "beat", datetime.now(UTC))
    finally:
        engine.dispose()
    return int(owner.split(":")[-2]) if owner else None


def committed_slots(url: str) -> dict[str, datetime | None]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return {s.plugin_id: s.last_slot for s in session.query(ScheduleState).all()}
    finally:
        engine.dispose()


def quiet_moment(deployment: Deployment) -> bool:
    """Every message sent is recorded in schedule_state, and no slot is near: a kill now
    cannot fall between a send and its commit (that window legitimately re-sends a slot)."""
    now = datetime.now(UTC)
    margin = timedelta(milliseconds=300)
    for plugin_id in PLUGINS:
        schedule = IntervalSchedule.for_plugin(plugin_id, INTERVAL)
        latest = latest_slot_at_or_before(schedule, now)
        assert latest is not None
        if now - latest < margin or next_slot_after(schedule, now) - now < margin:
            return False
    sent = {p: max(slots) for p, slots in slots_by_plugin(dispatched(deployment)).items()}
    return sent == committed_slots(deployment.database_url)


def assert_consecutive(slots: list[datetime]) -> None:
    steps = {b - a for a, b in itertools.pairwise(slots)}
    assert steps <= {timedelta(seconds=INTERVAL)}, slots


def test_two_beats_send_each_slot_once_and_the_standby_takes_over_within_the_ttl(
    deployment: Deployment,
) -> None:
    # Given three plugins every 2 s in the database, and two beats with a 4 s lease
    deployment.configure()
    engine = make_engine(deployment.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            for plugin_id in PLUGINS:
                session.add(
                    Plugin(
                        plugin_id=plugin_id,
                        plugin="system",
                        name=plugin_id,
                        enabled=True,
                        interval_seconds=INTERVAL,
                    )
                )
            session.commit()
    finally:
        engine.dispose()
    deployment.celery_overrides = {"unity_beat_lease_ttl": TTL, "beat_max_loop_interval": LOOP}
    beats = [start_beat(deployment, "beat-1"), start_beat(deployment, "beat-2")]

    # When both run side by side for several slots
    url = deployment.database_url
    active_pid = wait_for(lambda: lease_pid(url), 30, "a beat holding the lease")
    active, standby = beats if pid_of(beats[0]) == active_pid else beats[::-1]
    wait_for(lambda: "standing by" in standby.tail(), 10, "the other beat standing by")
    wait_for(
        lambda: (
            all(len(s) >= 4 for s in slots_by_plugin(dispatched(deployment)).values())
            and len(slots_by_plugin(dispatched(deployment))) == len(PLUGINS)
        ),
        30,
        "four slots of each plugin",
    )

    # Then every slot was sent exactly once, none skipped, all by the active beat
    before = dispatched(deployment)
    assert len({(p, s) for p, s, _ in before}) == len(before), before
    assert {pid for _, _, pid in before} == {active_pid}
    for slots in slots_by_plugin(before).values():
        assert_consecutive(slots)

    # When the active beat is SIGKILLed (at a moment with no send in flight)
    wait_for(lambda: quiet_moment(deployment), 10, "a moment with no send in flight", 0.02)
    active.kill()
    killed_at = time.monotonic()
    sent_before_kill = dispatched(deployment)

    # Then the standby holds the lease within the ttl (plus one loop and some slack)
    wait_for(lambda: lease_pid(url) == pid_of(standby), TTL + 5, "takeover")
    took = time.monotonic() - killed_at
    assert took <= TTL + LOOP + 1.5, f"took over after {took:.1f} s"
    assert "holds the lease" in standby.tail()

    # And it carries on where the dead beat stopped: no slot twice, consecutive again
    wait_for(
        lambda: len(dispatched(deployment)) >= len(sent_before_kill) + 3 * len(PLUGINS),
        INTERVAL * 3 + 10,
        "three more slots of each plugin",
    )
    after = dispatched(deployment)
    assert len({(p, s) for p, s, _ in after}) == len(after), "a slot was sent twice"
    assert {pid for _, _, pid in after[len(sent_before_kill) :]} == {pid_of(standby)}
    last_before = slots_by_plugin(sent_before_kill)
    for plugin_id, slots in slots_by_plugin(after[len(sent_before_kill) :]).items():
        # the first slot after the takeover is the latest one due, once: the gap is the
        # outage (kill -> ttl -> next tick), not a burst of every missed slot
        gap = slots[0] - last_before[plugin_id][-1]
        assert timedelta(seconds=INTERVAL) <= gap <= timedelta(seconds=TTL + LOOP + 2 + INTERVAL)
        assert_consecutive(slots)


def test_unity_beat_stopped_cleanly_hands_the_lease_over_at_once(deployment: Deployment) -> None:
    # Given `unity beat` holding the lease (default 30 s ttl) and a standby beat
    deployment.configure()
    deployment.celery_overrides = {"beat_max_loop_interval": LOOP}
    script = (
        "import sys\n"
        "from unity_core.cli import main\n"
        "from unity_workers.beat_cli import beat\n"
        "main.commands.setdefault('beat', beat)\n"  # before `pip install -e .` registers it
        "main(sys.argv[1:])\n"
    )
    argv = [sys.executable, "-c", script, "--config", str(deployment.config_path), "beat"]
    first = WorkerProcess("unity-beat", argv, deployment.env(), deployment.tmp / "unity-beat.log")
    deployment.workers.append(first)
    first.spawn()
    url = deployment.database_url
    wait_for(lambda: lease_pid(url) == pid_of(first), 30, "`unity beat` holding the lease")
    standby = start_beat(deployment, "standby")
    wait_for(lambda: "standing by" in standby.tail(), 30, "the standby standing by")
    # When `unity beat` is stopped with SIGTERM
    first.terminate()
    stopped_at = time.monotonic()
    assert first.process is not None and first.process.wait(timeout=20) is not None
    # Then it released the lease, and the standby holds it long before the 30 s ttl
    assert "released the lease" in first.tail()
    wait_for(lambda: lease_pid(url) == pid_of(standby), 10, "the standby taking over")
    assert time.monotonic() - stopped_at < 10
