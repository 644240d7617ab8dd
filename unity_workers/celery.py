"""The Celery app: settings from the top-level `celeryconfig` module, tasks from unity_workers.

CELERY_CONFIG_MODULE names another settings module (one that star-imports celeryconfig and
overrides a few values): the usual Celery way to tune what Unity's YAML does not expose.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery(
    "unity",
    include=[
        "unity_workers.tasks",
        "unity_workers.signals",
        "unity_workers.heartbeat",
        "unity_workers.alerting",
        "unity_workers.lifecycle",
    ],
)
app.config_from_object(os.environ.get("CELERY_CONFIG_MODULE") or "celeryconfig")

__all__ = ["app"]
