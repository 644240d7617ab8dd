"""Least-squares trend of a window's points: increasing, decreasing or stable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

#: A fitted change over the window smaller than this share of the values' scale is "stable".
STABLE_SHARE = 0.05


class Trend(StrEnum):
    INCREASING = "increasing"
    DECREASING = "decreasing"
    STABLE = "stable"


def slope_per_second(points: Sequence[tuple[datetime, float]]) -> float | None:
    """The least-squares slope of value over time in units per second; None under 2 points."""
    if len(points) < 2:
        return None
    origin = points[0][0]
    xs = [(time - origin).total_seconds() for time, _ in points]
    ys = [value for _, value in points]
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def classify(points: Sequence[tuple[datetime, float]]) -> Trend:
    """The direction of the fitted line, stable when its rise over the window is small.

    "Small" is relative to the values' own scale (their mean absolute value, or their range
    when that is larger), so 0.1 → 0.2 of a load average counts as rising, 1000 → 1001 of a
    byte counter does not.
    """
    slope = slope_per_second(points)
    if slope is None:
        return Trend.STABLE
    span = (points[-1][0] - points[0][0]).total_seconds()
    rise = slope * span
    values = [value for _, value in points]
    scale = max(sum(abs(v) for v in values) / len(values), max(values) - min(values))
    if scale == 0 or abs(rise) < STABLE_SHARE * scale:
        return Trend.STABLE
    return Trend.INCREASING if rise > 0 else Trend.DECREASING
