"""The periodic housekeeping behind `unity.maintenance`, each job independent of the others."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from unity_workers import resources

logger = logging.getLogger("unity.workers.maintenance")

#: Processed embedded-broker messages are deleted this long after they were read (ctime: the
#: rename that claimed them), never while kombu may still be reading one.
PROCESSED_MAX_AGE_S = 3600


def run_maintenance() -> dict[str, Any]:
    """Partitions ahead, DLQ replay when the database answers, broker folder pruning.

    Only retryable dead letters (the database was away) are replayed automatically; those
    refused for their content wait for `unity dlq replay` after the cause is fixed.
    """
    report: dict[str, Any] = {}
    report["partitions_created"] = _create_partitions()
    report["database_up"] = database_answers()
    report["dead_letters_replayed"] = _replay() if report["database_up"] else 0
    report["processed_pruned"] = _prune_processed()
    return report


def database_answers() -> bool:
    try:
        with resources.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        logger.warning("database not answering: %s", error)
        return False
    return True


def _create_partitions() -> list[str]:
    from unity_core.storage.partitions import create_ahead

    days = resources.settings().database.partitions_ahead_days
    try:
        with resources.engine().begin() as connection:
            return create_ahead(connection, days)
    except Exception as error:
        logger.warning("creating partitions ahead failed: %s", error)
        return []


def _replay() -> int:
    from unity_workers.tasks import send_persist  # tasks imports this module

    try:
        dead_letters = resources.dead_letters()
        if dead_letters.count() == 0:
            return 0
        replayed = dead_letters.replay(send_persist, retryable_only=True)
    except Exception as error:
        logger.warning("replaying dead letters failed: %s", error)
        return 0
    if replayed:
        logger.info("replayed %d dead letters", replayed)
    return replayed


def _prune_processed() -> int:
    from unity_workers.celery import app

    options = app.conf.broker_transport_options or {}
    folder = options.get("processed_folder")
    if not options.get("store_processed") or not folder:
        return 0
    cutoff = time.time() - PROCESSED_MAX_AGE_S
    pruned = 0
    for entry in os.scandir(Path(folder)):
        try:
            if entry.is_file() and entry.stat().st_ctime < cutoff:
                os.unlink(entry.path)
                pruned += 1
        except OSError:
            continue
    return pruned
