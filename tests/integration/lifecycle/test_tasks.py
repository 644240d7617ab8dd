"""unity.rollup and unity.retention run by a real worker, and beat schedules both."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from celery import Celery

from tests.integration.lifecycle.helpers import T0, samples, write
from tests.integration.workers.harness import Deployment, scalar, wait_for
from unity_core.config.settings import DatabaseSettings, Settings
from unity_core.storage.engine import make_engine
from unity_workers.scheduler import UnityScheduler


def test_a_worker_runs_rollup_then_retention(deployment: Deployment) -> None:
    # Given two old days of samples, a worker on the maintenance queue, raw data kept 1 day
    engine = make_engine(deployment.database_url)
    try:
        write(engine, samples(T0, 2 * 24 * 6, timedelta(minutes=10)))
    finally:
        engine.dispose()
    deployment.configure(
        plugins=[], extra={"retention": {"raw_metrics": "1d", "hourly_aggregates": "5y"}}
    )
    deployment.start("collect")
    url = deployment.database_url
    # When unity.rollup is sent, the hourly then the daily rollup fill up
    deployment.client.send_task("unity.rollup", queue="maintenance")
    wait_for(
        lambda: scalar(url, "SELECT count(*) FROM plugin_metrics_daily") == 2 * 3,
        60,
        "the daily rollup",
    )
    assert scalar(url, "SELECT count(*) FROM plugin_metrics_hourly") == 2 * 24 * 3
    # When unity.retention is sent, the expired raw samples go, the rollups stay
    deployment.client.send_task("unity.retention", queue="maintenance")
    wait_for(
        lambda: scalar(url, "SELECT count(*) FROM plugin_metrics") == 0, 60, "raw rows expired"
    )
    assert scalar(url, "SELECT count(*) FROM plugin_metrics_hourly") == 2 * 24 * 3


def test_beat_schedules_rollup_and_retention_as_framework_tasks(
    database_url: str, tmp_path: Path
) -> None:
    # Given a beat whose Celery config shortens the rollup period
    app = Celery("unity-lifecycle-test")
    app.conf.update(beat_schedule={}, unity_rollup_interval=60)
    settings = Settings(data_dir=tmp_path, database=DatabaseSettings(url=database_url))
    beat = UnityScheduler(app, settings=settings, lease_ttl=30)
    try:
        # Then both lifecycle tasks are entries of its schedule, with their periods
        rollup, retention = beat.schedule["unity.rollup"], beat.schedule["unity.retention"]
        assert rollup.schedule.run_every == timedelta(seconds=60)
        assert retention.schedule.run_every == timedelta(hours=1)
        assert rollup.task == "unity.rollup" and retention.task == "unity.retention"
    finally:
        beat.close()
