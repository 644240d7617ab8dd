"""Unity's Celery shell: the app that `celery -A unity_workers` and `unity worker` run."""

from __future__ import annotations

from unity_workers.celery import app

__all__ = ["app"]
