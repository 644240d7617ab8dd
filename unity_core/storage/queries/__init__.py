"""The storage layer's read API: latest samples and range queries over raw data and rollups.

Every function takes a Session and never commits; times go in and come out as aware UTC.
"""

from __future__ import annotations

from unity_core.storage.queries.latest import latest
from unity_core.storage.queries.plan import (
    HOURLY_MAX_SPAN,
    MAX_POINTS_PER_SERIES,
    RAW_MAX_SPAN,
)
from unity_core.storage.queries.range import range_query
from unity_core.storage.queries.results import (
    Aggregate,
    Point,
    RangeResult,
    Resolution,
    Sample,
    SeriesPoints,
)

__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # reads
    "latest",
    "range_query",
    # results
    "Aggregate",
    "Point",
    "RangeResult",
    "Resolution",
    "Sample",
    "SeriesPoints",
    # auto-resolution tuning
    "HOURLY_MAX_SPAN",
    "MAX_POINTS_PER_SERIES",
    "RAW_MAX_SPAN",
]
