"""Unity's core: configuration, storage, pipeline and plugin SDK, free of Celery and Flask."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
