"""Scale-out across hosts, proven on three network namespaces (see conftest.py).

Unpinned collections spread over both worker hosts; a pinned plugin runs only on its host;
cutting one worker host off for longer than the visibility timeout loses nothing and stores
nothing twice, the other host doing its work, while its pinned plugin reads `unreachable`;
and the standby beat takes over when the active one is killed.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.integration.workers.harness import wait_for
from unity_core.presence import STALE_AFTER, WorkerPresence, worker_presence
from unity_core.status import plugin_health
from unity_core.storage import make_engine, make_sessionmaker
from unity_core.storage.models import PluginMetric
from unity_core.storage.schedule import lease_owner

from .conftest import (
    INTERVAL,
    LEASE_TTL,
    PINNED,
    SPREAD,
    VISIBILITY_TIMEOUT,
    Cluster,
    lease_pid,
    pid_of,
)

pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.postgresql]

Run = tuple[str, datetime, str | None]  # plugin_id, slot, worker_host of its summary row


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> Iterator[Cluster]:
    """Both beats in the hub and a `unity worker` on each worker host, all announced."""
    cluster.unity("hub", "beat-a", "beat", "--max-interval", "0.5")
    cluster.unity("hub", "beat-b", "beat", "--max-interval", "0.5")
    cluster.unity("w1", "worker-w1", "worker", "--host", "w1", "-Q", "host.w1,default", "-c", "2")
    cluster.unity("w2", "worker-w2", "worker", "--host", "w2", "-Q", "host.w2,default", "-c", "2")
    try:
        nodes = {f"unity-{role}@{host}" for role in ("collect", "persist") for host in ("w1", "w2")}
        wait_for(lambda: _alive_nodes(cluster) >= nodes, 90, "every node's heartbeat")
    except BaseException:
        print(cluster.logs())
        raise
    yield cluster


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(cluster.logs())


def test_workers_announce_host_queues_concurrency_and_heartbeat(running: Cluster) -> None:
    # When the workers have started
    collect = {w.host: w for w in _presence(running) if w.name.startswith("unity-collect@")}
    # Then each collect node names its host, its queues and its concurrency
    assert collect["w1"].queues == ("collect", "host.w1", "maintenance")
    assert collect["w2"].queues == ("collect", "host.w2", "maintenance")
    assert collect["w1"].concurrency == 2 and collect["w1"].age_seconds < STALE_AFTER
    # And `unity status`, run on the hub, lists every node with its heartbeat age
    shown = running.run("hub", "status")
    for host in ("w1", "w2"):
        assert f"unity-collect@{host} on {host}: queues collect, host.{host}" in shown.stdout
        assert f"unity-persist@{host} on {host}: queues persist" in shown.stdout
    assert "heartbeat" in shown.stdout and "SILENT" not in shown.stdout, shown.stdout
    # And it warns that the unpinned test plugins, which have no host tag, would split
    assert "collect   shared by 2 hosts: w1, w2" in shown.stdout, shown.stdout
    assert f"unpinned plugins without a host tag: {', '.join(SPREAD)}" in shown.stdout


def test_unpinned_collections_spread_over_both_hosts(running: Cluster) -> None:
    # When the unpinned plugins have run for a while
    def both() -> set[str | None]:
        hosts = {host for plugin, _, host in _runs(running) if plugin in SPREAD}
        return hosts if {"w1", "w2"} <= hosts else set()

    # Then both hosts collected some of them, and every sample names its host
    assert wait_for(both, 60, "collections on both hosts") == {"w1", "w2"}
    assert _count(running, PluginMetric.worker_host.is_(None)) == 0


def test_a_pinned_plugin_runs_only_on_its_host(running: Cluster) -> None:
    wait_for(lambda: len(_runs(running, PINNED)) >= 3, 60, "three runs of the pinned plugin")
    assert {host for _, _, host in _runs(running, PINNED)} == {"w1"}


def test_losing_a_host_loses_nothing_and_stores_nothing_twice(running: Cluster) -> None:
    # Given the cluster collecting on both hosts
    wait_for(lambda: len(_runs(running)) >= 10, 60, "collections before the cut")
    cut = datetime.now(UTC)
    started = time.monotonic()
    # When w1's link goes down long enough for it to fall silent (> visibility timeout)
    running.lab.set_link("w1", up=False)
    try:
        silent = wait_for(
            lambda: _silent_hosts(running) >= {"w1"} and _health(running)[PINNED] == "unreachable",
            90,
            "w1 reported silent and its pinned plugin unreachable",
        )
        assert silent
        # Then, while w1 is away, its pinned plugin reads unreachable, the rest does not
        health = _health(running)
        assert all(health[p] != "unreachable" for p in SPREAD), health
        # And `unity status` on the hub says so
        shown = running.run("hub", "status").stdout
        [line] = [ln for ln in shown.splitlines() if "unity-collect@w1 on w1" in ln]
        assert "SILENT" in line, shown
        assert any(ln.startswith(PINNED) and "unreachable" in ln for ln in shown.splitlines())
        # (the outage is the experiment: it must outlast the visibility timeout)
        outage = VISIBILITY_TIMEOUT + 2 * INTERVAL
        wait_for(lambda: time.monotonic() - started > outage, outage + 5, "the outage to last")
    finally:
        running.lab.set_link("w1", up=True)
    back = datetime.now(UTC)
    # And after w1 returns, it is announced again and the broker drains
    wait_for(lambda: "w1" in _alive_hosts(running), 60, "w1's heartbeat after the cut")
    wait_for(running.drained, 90, "every queue and the unacked set to drain")
    wait_for(lambda: _health(running)[PINNED] != "unreachable", 30, "pinned reachable again")
    # Then no unpinned slot of the outage is missing, and each is stored exactly once
    runs = [r for r in _runs(running) if r[0] in SPREAD]
    for plugin in SPREAD:
        slots = sorted(slot for p, slot, _ in runs if p == plugin and cut <= slot <= back)
        gaps = [b - a for a, b in itertools.pairwise(slots) if b - a > _step()]
        assert slots and not gaps, (plugin, slots)
    during = [host for _, slot, host in runs if cut + _grace() < slot < back]
    assert Counter(during)["w2"] > Counter(during)["w1"], Counter(during)
    _assert_each_sample_once(running)


def test_the_standby_beat_takes_over_when_the_active_beat_dies(running: Cluster) -> None:
    # Given the beat holding the lease
    owner = wait_for(lambda: _lease(running), 30, "a beat holding the lease")
    active = next(p for name, p in running.processes.items() if pid_of(p) == lease_pid(owner))
    standby = next(
        p for name, p in running.processes.items()
        if name.startswith("beat-") and p is not active
    )  # fmt: skip
    # When it is killed
    active.kill()
    killed = datetime.now(UTC)
    # Then the standby holds the lease within the ttl (plus a tick) and dispatches
    wait_for(lambda: lease_pid(_lease(running)) == pid_of(standby), LEASE_TTL + 10, "takeover")
    wait_for(
        lambda: all(any(s > killed for p, s, _ in _runs(running, plugin)) for plugin in SPREAD),
        60,
        "collections dispatched by the standby",
    )
    # And nothing was collected twice across the handover
    wait_for(running.drained, 60, "the broker to drain")
    _assert_each_sample_once(running)


# ── reading the cluster's database ─────────────────────────────────────────────────────


def _step() -> timedelta:
    return timedelta(seconds=INTERVAL)


def _grace() -> timedelta:
    """Slots in flight when the link went down may still be w1's (it persists them later)."""
    return timedelta(seconds=2 * INTERVAL)


def _session(cluster: Cluster) -> tuple[Engine, Session]:
    engine = make_engine(cluster.database_url)
    return engine, make_sessionmaker(engine)()


def _runs(cluster: Cluster, plugin_id: str | None = None) -> list[Run]:
    """One entry per stored collection: its summary row (metric 'collection')."""
    query = select(PluginMetric.plugin_id, PluginMetric.time, PluginMetric.worker_host).where(
        PluginMetric.metric_name == "collection"
    )
    if plugin_id is not None:
        query = query.where(PluginMetric.plugin_id == plugin_id)
    engine, session = _session(cluster)
    try:
        return [(p, t, h) for p, t, h in session.execute(query)]
    finally:
        session.close()
        engine.dispose()


def _count(cluster: Cluster, *where: object) -> int:
    engine, session = _session(cluster)
    try:
        return int(session.scalar(select(func.count()).select_from(PluginMetric).where(*where)))
    finally:
        session.close()
        engine.dispose()


def _presence(cluster: Cluster) -> list[WorkerPresence]:
    engine, session = _session(cluster)
    try:
        return worker_presence(session)
    finally:
        session.close()
        engine.dispose()


def _alive_nodes(cluster: Cluster) -> set[str]:
    return {w.name for w in _presence(cluster) if w.alive}


def _alive_hosts(cluster: Cluster) -> set[str]:
    return {w.host for w in _presence(cluster) if w.alive}


def _silent_hosts(cluster: Cluster) -> set[str]:
    return {w.host for w in _presence(cluster) if not w.alive}


def _health(cluster: Cluster) -> dict[str, str]:
    engine, session = _session(cluster)
    try:
        return {p.plugin_id: p.health for p in plugin_health(session)}
    finally:
        session.close()
        engine.dispose()


def _lease(cluster: Cluster) -> str | None:
    engine, session = _session(cluster)
    try:
        return lease_owner(session, "beat", datetime.now(UTC))
    finally:
        session.close()
        engine.dispose()


def _assert_each_sample_once(cluster: Cluster) -> None:
    """Every (plugin, metric, slot) once — whichever host stored it, whatever its tags."""
    engine, session = _session(cluster)
    try:
        doubled = session.execute(
            select(PluginMetric.plugin_id, PluginMetric.metric_name, PluginMetric.time)
            .group_by(PluginMetric.plugin_id, PluginMetric.metric_name, PluginMetric.time)
            .having(func.count() > 1)
        ).all()
    finally:
        session.close()
        engine.dispose()
    assert doubled == []
