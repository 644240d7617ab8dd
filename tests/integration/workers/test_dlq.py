"""Database unreachable: persisting retries, then dead-letters; `unity dlq replay` stores once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import make_url

from tests.integration.workers.conftest import (
    ROWS_PER_RUN,
    THREE_GAUGES,
    Deployment,
    TcpForwarder,
    collected_payload,
    run_unity,
    scalar,
    wait_for,
)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_outcomes_dead_lettered_while_the_database_was_away_are_replayed_once(
    deployment: Deployment,
) -> None:
    # Given workers whose database (reached through a forwarder) is switched off, and
    # persisting allowed 3 attempts with short backoffs
    real = make_url(deployment.database_url)
    forwarder = TcpForwarder((real.host or "127.0.0.1", real.port or 5432))
    away = real.set(host="127.0.0.1", port=forwarder.port).render_as_string(hide_password=False)
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(database_url=away, plugins=[{"id": "three"}])
    deployment.sync_registry(deployment.database_url)
    deployment.celery_overrides = {
        "unity_persist_max_attempts": 3,
        "unity_persist_retry_delay": 0.2,
    }
    deployment.start("persist", "collect")
    count = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'three'"
    slot = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)

    # When a collection is persisted while the database does not answer
    deployment.send_collect("three", slot)

    # Then, after its attempts, the outcome is in the dead-letter stream, nothing stored
    broker = deployment.redis()
    wait_for(lambda: broker.xlen("unity:dlq") == 1, 30, "a dead letter")
    ((_, entry),) = broker.xrange("unity:dlq")
    assert entry[b"attempts"] == b"3" and entry[b"retryable"] == b"1"
    assert b"unavailable" in entry[b"reason"]
    assert scalar(deployment.database_url, count) == 0
    listed = run_unity(deployment, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert "three" in listed.stdout and "1 dead letter(s)" in listed.stdout

    # When the database is back and the dead letters are replayed
    forwarder.start()
    try:
        replayed = run_unity(deployment, "dlq", "replay")
        assert replayed.returncode == 0, replayed.stderr
        assert "replayed 1 dead letter(s); 0 left" in replayed.stdout

        # Then the rows are stored, once, and the stream is empty
        url = deployment.database_url
        wait_for(lambda: scalar(url, count) == ROWS_PER_RUN, 20, "the replayed rows")
        assert broker.xlen("unity:dlq") == 0
        # And a second replay finds nothing left to send
        again = run_unity(deployment, "dlq", "replay")
        assert "replayed 0 dead letter(s)" in again.stdout
        wait_for(deployment.drained, 15, "the broker to drain")
        assert scalar(url, count) == ROWS_PER_RUN
    finally:
        forwarder.stop()
        broker.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_maintenance_replays_retryable_dead_letters_once_the_database_answers(
    deployment: Deployment,
) -> None:
    # Given a retryable dead letter (an outcome that found the database away) in the stream
    deployment.add_plugin("three", THREE_GAUGES)
    deployment.configure(plugins=[{"id": "three"}])
    deployment.sync_registry()
    slot = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
    payload = collected_payload(deployment, "three", slot)
    broker = deployment.redis()
    broker.xadd(
        "unity:dlq",
        {
            "payload": json.dumps(payload),
            "reason": "database unavailable after 12 attempts: test",
            "attempts": 12,
            "time": slot.isoformat(),
            "retryable": 1,
        },
    )
    deployment.start("persist", "collect")

    # When the maintenance task runs with the database up
    deployment.client.send_task("unity.maintenance", queue="maintenance")

    # Then the dead letter is sent again and its rows stored
    count = "SELECT count(*) FROM plugin_metrics WHERE plugin_id = 'three'"
    url = deployment.database_url
    wait_for(lambda: scalar(url, count) == ROWS_PER_RUN, 20, "the replayed rows")
    assert broker.xlen("unity:dlq") == 0
    broker.close()
