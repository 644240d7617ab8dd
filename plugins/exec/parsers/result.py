"""What every exec parser returns (Parsed) and raises (ParseError)."""

from __future__ import annotations

from dataclasses import dataclass, field

from unity_core.plugins.sdk import Metric

__all__ = ["ParseError", "Parsed"]


class ParseError(ValueError):
    """The output is not in the expected format at all; the message says where it broke."""


@dataclass
class Parsed:
    """What a parser found: the metrics it could read and one line per item it could not."""

    metrics: list[Metric] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
