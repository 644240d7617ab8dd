"""Persisting groups many outcomes per transaction and acknowledges nothing before commit."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.workers.conftest import (
    ROWS_PER_RUN,
    THREE_GAUGES,
    Deployment,
    scalar,
    wait_for,
)
from unity_workers.outcome_stream import GROUP as OUTCOME_GROUP
from unity_workers.outcome_stream import STREAM as OUTCOME_STREAM

COUNT = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'three'"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_outcomes_of_several_collections_are_written_in_one_transaction(
    deployment: Deployment,
) -> None:
    # Given a batch of 4 collections' rows and a flush timer too long to matter
    runs = 4
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(
        collection={"batch_size": runs * ROWS_PER_RUN, "batch_timeout": 60},
        plugins=[{"id": "three"}],
    )
    deployment.sync_registry()
    deployment.start("persist", "collect")
    base = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)

    # When four collections are handed to the persist worker
    for n in range(runs):
        deployment.send_collect("three", base + timedelta(minutes=n))

    # Then their rows arrive together, written by a single transaction (one xmin)
    url = deployment.database_url
    wait_for(lambda: scalar(url, COUNT) == runs * ROWS_PER_RUN, 30, "the batch")
    assert (
        scalar(
            url, "SELECT count(DISTINCT xmin::text) FROM plugin_metrics WHERE plugin_id = 'three'"
        )
        == 1
    )
    wait_for(deployment.drained, 15, "every message to be acknowledged")


def _held_by_persist_worker(deployment: Deployment, stream: bool) -> bool:
    """True when the only thing left is one outcome the persist worker has read, not released:
    a pending stream entry, or a `persist` message delivered but not acked."""
    broker = deployment.redis()
    try:
        if broker.llen("collect") or broker.llen("persist"):
            return False
        if stream:
            if broker.hlen("unacked") or not broker.exists(OUTCOME_STREAM):
                return False
            pending = broker.xpending(OUTCOME_STREAM, OUTCOME_GROUP)["pending"]
            return bool(pending == 1 and broker.xlen(OUTCOME_STREAM) == 1)
        if broker.hlen("unacked") != 1:
            return False
        (raw,) = broker.hvals("unacked")
        _message, _exchange, routing_key = json.loads(raw)
        return bool(routing_key == "persist")
    finally:
        broker.close()


@pytest.mark.slow
@pytest.mark.parametrize("stream", [True, False], ids=["outcome-stream", "persist-messages"])
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_outcome_buffered_when_its_worker_dies_is_redelivered_and_stored_once(
    deployment: Deployment, stream: bool
) -> None:
    # Given a persist worker that buffers (a batch never fills, the timer is long), a short
    # visibility timeout, and outcomes handed over on the stream or as Celery messages
    visibility_timeout = 18
    deployment.celery_overrides["unity_outcome_stream"] = stream
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(
        visibility_timeout=visibility_timeout,
        collection={"collection_timeout": 1, "batch_size": 1000, "batch_timeout": 60},
        plugins=[{"id": "three"}],
    )
    deployment.sync_registry()
    persister, _ = deployment.start("persist", "collect")
    url = deployment.database_url

    # When the persist worker has received an outcome and is killed before writing it
    deployment.send_collect("three", datetime(2026, 11, 28, 18, 0, tzinfo=UTC))
    wait_for(lambda: _held_by_persist_worker(deployment, stream), 20, "the outcome to be buffered")
    persister.kill()
    killed_at = time.monotonic()
    assert scalar(url, COUNT) == 0

    # Then it comes back to a new persist worker (another node: the stream entry is taken
    # over once idle for the visibility timeout) and is stored once
    deployment.configure(
        visibility_timeout=visibility_timeout,
        collection={"collection_timeout": 1, "batch_size": 1000, "batch_timeout": 0.5},
        plugins=[{"id": "three"}],
    )
    deployment.start("persist")
    wait_for(lambda: scalar(url, COUNT) >= ROWS_PER_RUN, visibility_timeout + 30, "redelivery")
    assert time.monotonic() - killed_at >= visibility_timeout - 1
    wait_for(deployment.drained, 15, "every message to be acknowledged")
    assert scalar(url, COUNT) == ROWS_PER_RUN
