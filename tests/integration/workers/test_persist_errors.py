"""An outcome the database refuses goes to the dead-letter store; its batch-mates are stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.integration.workers.conftest import (
    THREE_GAUGES,
    Deployment,
    collected_payload,
    rows,
    wait_for,
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_outcome_is_dead_lettered_and_its_batch_mates_are_stored(
    deployment: Deployment,
) -> None:
    # Given a batch that fills with two outcomes, one of them carrying a row the storage
    # refuses (a value that is not a mapping: a permanent error, retrying cannot help)
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(
        collection={"batch_size": 8, "batch_timeout": 60}, plugins=[{"id": "three"}]
    )
    deployment.sync_registry()
    slot, other_slot = (
        datetime(2026, 11, 28, 19, 0, tzinfo=UTC),
        datetime(2026, 11, 28, 19, 1, tzinfo=UTC),
    )
    good = collected_payload(deployment, "three", slot)
    bad = collected_payload(deployment, "three", other_slot)
    bad["r"][0][2] = 5  # encode_outcome's row: [time, name, value, numeric_value, tags]
    deployment.start("persist")

    # When both reach the persist worker in the same batch
    for payload in (bad, good):
        deployment.client.send_task(
            "unity.persist",
            args=[payload],
            kwargs={"attempt": 0},
            queue="persist",
            headers={"unity-rows": 4},
        )

    # Then the refused outcome is dead-lettered at once, not retried, with its reason
    broker = deployment.redis()
    wait_for(lambda: broker.xlen("unity:dlq") == 1, 20, "the dead letter")
    ((_, entry),) = broker.xrange("unity:dlq")
    assert entry[b"retryable"] == b"0" and entry[b"attempts"] == b"1"
    assert b"ValueError" in entry[b"reason"] and b"must be a dict" in entry[b"reason"]
    assert json.loads(entry[b"payload"])["s"] == other_slot.isoformat()
    # And the other outcome of the batch is stored
    url = deployment.database_url
    wait_for(deployment.drained, 15, "every message to be acknowledged")
    stored = rows(url, "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'three'")
    assert stored[0][0] == 4
    assert "writing them one by one" in deployment.logs()
    broker.close()
