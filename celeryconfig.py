"""Celery settings computed from Unity's configuration (filled in by the collection issue)."""
