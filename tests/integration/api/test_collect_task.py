"""Ad-hoc collection over HTTP through `unity api` (gunicorn) and real Celery workers.

POST /api/v1/plugins/{id}/collect queues unity.collect with its result kept in the result
backend; GET /api/v1/tasks/{task_id} follows it to SUCCESS and reports the metrics count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.workers.conftest import (  # noqa: F401 - fixtures used by name
    ROOT,
    ROWS_PER_RUN,
    THREE_GAUGES,
    Deployment,
    _private_redis,
    broker_url,
    free_port,
    scalar,
    wait_for,
)
from tests.integration.workers.conftest import deployment as deployment
from unity_core.storage import make_engine, make_sessionmaker
from unity_core.tokens import create_token


def call(method: str, url: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(params=["redis", "embedded"])
def deployed(deployment: Deployment, request: pytest.FixtureRequest) -> Deployment:
    """The "three" plugin registered, a collect and a persist worker running, on a Redis
    broker (results in Redis) or the embedded one (results in files under data_dir)."""
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(
        plugins=[{"id": "three", "interval": 60}], embedded_broker=request.param == "embedded"
    )
    deployment.sync_registry()
    deployment.start("persist", "collect")
    return deployment


@pytest.fixture
def served(deployed: Deployment, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`unity api` on a free port with the deployment's configuration, and a write token."""
    engine = make_engine(deployed.database_url)
    with make_sessionmaker(engine)() as session:
        token = create_token(session, "collector", "write")
        session.commit()
    engine.dispose()
    port = free_port()
    log = tmp_path / "api.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "unity_core", "api", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=deployed.env(), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if server.poll() is not None:
            pytest.fail(f"unity api exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        wait_for(answers, 60, "unity api to answer", interval=0.2)
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_an_ad_hoc_collection_is_queued_and_followed_to_its_metrics(
    deployed: Deployment, served: tuple[str, str]
) -> None:
    # Given the "three" plugin registered, workers running and the API under gunicorn
    base, token = served
    # When a collection is asked for over HTTP
    status, body = call("POST", f"{base}/api/v1/plugins/three/collect", token)
    assert status == 202, body
    task = f"{base}/api/v1/tasks/{body['task_id']}"
    # Then the task reaches SUCCESS and says how many metrics it collected
    done = wait_for(lambda: (s := call("GET", task, token)[1])["state"] == "SUCCESS" and s, 60,
                    "the collect task to succeed")  # fmt: skip
    assert done["ok"] is True and done["metrics"] == ROWS_PER_RUN and done["ready"] is True
    # And the persist stage stores them
    count = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'three'"
    wait_for(lambda: scalar(deployed.database_url, count) >= ROWS_PER_RUN, 30, "the rows")
    # And an unknown plugin is 404 before anything is queued; an unknown task is PENDING
    assert call("POST", f"{base}/api/v1/plugins/nope/collect", token)[0] == 404
    unknown = call("GET", f"{base}/api/v1/tasks/{uuid.uuid4()}", token)[1]
    assert unknown["state"] == "PENDING" and unknown["ready"] is False
