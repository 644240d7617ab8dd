"""`unity.rollup` and `unity.retention`: thin Celery shells around unity_core.lifecycle.

Both are idempotent and safe to run concurrently (the rollup locks its watermark rows;
retention deletes by primary-key ranges), so acks_late redelivery is harmless. Beat sends
them as fixed framework tasks (see scheduler.py); they go to the `maintenance` queue.
"""

from __future__ import annotations

import logging
from typing import Any

from unity_core.lifecycle import run_retention, run_rollups
from unity_workers import resources
from unity_workers.celery import app

logger = logging.getLogger("unity.workers.lifecycle")

__all__ = ["retention", "rollup"]


@app.task(name="unity.rollup", acks_late=True)
def rollup() -> list[dict[str, Any]]:
    """Bring the hourly and daily rollups up to date, recomputing buckets with late data."""
    reports = run_rollups(resources.engine(), resources.settings().retention)
    for report in reports:
        logger.info("rollup %s", report.describe())
    return [
        {
            "rollup": r.name,
            "watermark": r.watermark.isoformat() if r.watermark else None,
            "buckets": r.buckets,
            "recomputed": r.recomputed,
        }
        for r in reports
    ]


@app.task(name="unity.retention", acks_late=True)
def retention(dry_run: bool = False) -> list[str]:
    """Apply the configured retention (partition drops or bounded batched deletes)."""
    report = run_retention(resources.engine(), resources.settings().retention, dry_run=dry_run)
    lines = report.lines()
    for line in lines:
        logger.info("retention %s", line)
    return lines
