"""A three-host homelab in network namespaces, running real `unity worker` and `unity beat`.

    hub: Redis (ACL user, password, AOF), PostgreSQL (this machine's, forwarded into the hub),
         two `unity beat` (one active, one standby)
    w1:  `unity worker --host w1 -Q host.w1,default`
    w2:  `unity worker --host w2 -Q host.w2,default`

The workers and beats reach Redis and PostgreSQL only through the hub's address. The test
process reads the database on loopback and the broker through a forwarder into the hub.
Everything (processes, forwarders, namespaces, the database) is removed at the end of the
module, also when a test fails.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy.engine import make_url

from tests.integration.scaleout.netns import Forwarder, Homelab, netns_available
from tests.integration.workers.harness import (
    ROOT,
    THREE_GAUGES,
    Deployment,
    WorkerProcess,
    wait_for,
)
from tests.services import REQUIRE_SERVICES, _ServerDatabases
from unity_core.storage.migrate import upgrade

INTERVAL = 2  # seconds between slots of every test plugin
VISIBILITY_TIMEOUT = 24  # the smallest celeryconfig accepts with collection_timeout 5
LEASE_TTL = 4
SPREAD = ("spread-1", "spread-2", "spread-3", "spread-4")
PINNED = "pinned"  # pinned to host.w1
REDIS_USER, REDIS_PASSWORD = "unity", "s3cret-for-tests"


@dataclass
class Cluster:
    lab: Homelab
    deployment: Deployment
    database_url: str  # loopback, for the test's own reads
    broker: redis.Redis
    processes: dict[str, WorkerProcess] = field(default_factory=dict)

    def unity(self, host: str, name: str, *args: str) -> WorkerProcess:
        """`unity ARGS` started inside `host`, logging to <tmp>/<name>.log."""
        argv = self.lab.command(host, [sys.executable, "-m", "unity_core", *args])
        env = self.deployment.env()
        process = WorkerProcess(name, argv, env, self.deployment.tmp / f"{name}.log")
        self.processes[name] = process
        return process.spawn()

    def run(self, host: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = self.lab.command(host, [sys.executable, "-m", "unity_core", *args])
        return subprocess.run(
            argv, cwd=ROOT, env=self.deployment.env(), capture_output=True, text=True, timeout=60
        )

    def drained(self) -> bool:
        keys = ["collect", "persist", "maintenance", "host.w1", "host.w2"]
        queued = sum(int(self.broker.llen(key)) for key in keys)
        return queued == 0 and int(self.broker.hlen("unacked")) == 0

    def logs(self) -> str:
        return "\n\n".join(f"--- {name}\n{p.tail(30)}" for name, p in self.processes.items())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so a fixture can print logs after a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


def _require_netns() -> None:
    reason = netns_available()
    if reason is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (UNITY_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _require_netns()
    tmp = tmp_path_factory.mktemp("scaleout")
    databases = _ServerDatabases("PostgreSQL", _postgres_admin_url())
    with contextlib.ExitStack() as stack:
        stack.callback(databases.drop_all)
        database_url = databases.new_database()
        upgrade(database_url)
        lab = Homelab()
        stack.callback(lab.close)
        lab.build()
        hub = lab.ns("hub")
        stack.enter_context(_hub_redis(lab, tmp))
        pg_port = make_url(database_url).port or 5432
        into_hub = Forwarder((lab.hub_address, 5432), ("127.0.0.1", pg_port), listen_ns=hub)
        to_broker = Forwarder(("127.0.0.1", 0), (lab.hub_address, 6379), target_ns=hub)
        for forwarder in (into_hub, to_broker):
            forwarder.start()
            stack.callback(forwarder.close)
        hub_db = make_url(database_url).set(host=lab.hub_address, port=5432)
        auth = f"{REDIS_USER}:{REDIS_PASSWORD}"
        deployment = Deployment(
            tmp=tmp,
            database_url=hub_db.render_as_string(hide_password=False),
            broker_url=f"redis://{auth}@{lab.hub_address}:6379/0",
            celery_overrides={"unity_beat_lease_ttl": LEASE_TTL, "beat_max_loop_interval": 0.5},
        )
        deployment.add_plugin("three", THREE_GAUGES)
        deployment.configure(
            visibility_timeout=VISIBILITY_TIMEOUT,
            plugins=[
                {"id": "system", "enabled": False},
                {"id": "unity", "enabled": False},
                *({"id": p, "plugin": "three", "interval": INTERVAL} for p in SPREAD),
                {"id": PINNED, "plugin": "three", "interval": INTERVAL, "queue": "host.w1"},
            ],
        )
        deployment.sync_registry(url=database_url)
        broker = redis.Redis(
            host="127.0.0.1", port=to_broker.address[1], username=REDIS_USER,
            password=REDIS_PASSWORD,
        )  # fmt: skip
        stack.callback(broker.close)
        found = Cluster(lab, deployment, database_url, broker)
        stack.callback(_stop_all, found)
        yield found


def _postgres_admin_url() -> str:
    from tests.services import POSTGRES_ADMIN_URL

    return POSTGRES_ADMIN_URL


@contextlib.contextmanager
def _hub_redis(lab: Homelab, tmp: Path) -> Iterator[None]:
    """The broker: a redis-server inside the hub, default user off, one ACL user, AOF on."""
    folder = tmp / "redis"
    folder.mkdir()
    argv = [
        "redis-server", "--bind", lab.hub_address, "--port", "6379", "--dir", str(folder),
        "--save", "", "--appendonly", "yes", "--maxmemory-policy", "noeviction",
        "--user", "default", "off",
        "--user", REDIS_USER, "on", f">{REDIS_PASSWORD}", "~*", "&*", "+@all",
    ]  # fmt: skip
    server = subprocess.Popen(
        lab.command("hub", argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        probe = ["redis-cli", "-h", lab.hub_address, "--user", REDIS_USER, "--pass",
                 REDIS_PASSWORD, "--no-auth-warning", "ping"]  # fmt: skip

        def answers() -> bool:
            done = subprocess.run(lab.command("hub", probe), capture_output=True, text=True)
            return done.stdout.strip() == "PONG"

        wait_for(answers, 20, "the hub's Redis", interval=0.2)
        yield
    finally:
        server.kill()
        server.wait(timeout=10)


def _stop_all(cluster: Cluster) -> None:
    for process in cluster.processes.values():
        process.kill()


def pid_of(process: WorkerProcess) -> int:
    assert process.process is not None
    return process.process.pid


def lease_pid(owner: Any) -> int | None:
    """The process id inside a beat lease owner ("host:pid:nonce")."""
    return int(str(owner).split(":")[1]) if owner else None
