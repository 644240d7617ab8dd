"""The design's AI formats: Metric JSON documents and the LLM context query with a size budget."""

from __future__ import annotations

from unity_core.ai.context import ContextQuery, build_context
from unity_core.ai.metric_json import metric_documents, plugin_summaries

__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # Metric JSON
    "metric_documents",
    "plugin_summaries",
    # context for a prompt
    "ContextQuery",
    "build_context",
]
