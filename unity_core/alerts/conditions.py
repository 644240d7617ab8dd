"""An alert rule's `condition` JSON parsed into a typed, validated Condition.

The JSON is what users write (API, YAML); Condition is what evaluation reads. Parsing
collects every problem and raises one AlertConditionError naming each key, so a user fixes
a rule in one round trip rather than one error at a time.

Kinds and their keys (durations are seconds or "30s", "5m", "2h"…):

- threshold:     plugin, metric, [tags], [aggregation=last], [window=5m], operator,
                 threshold, [for=0s], [hysteresis=0], [severity]
- change_rate:   plugin, metric, [tags], [window=15m], operator, threshold,
                 [unit=percent|absolute], [for], [hysteresis], [severity]
- no_data:       plugin, [metric], [tags], minutes, [severity]
- plugin_health: plugin, [states=[paused, failing]], [for], [severity]
"""

from __future__ import annotations

import math
import operator as op
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

from unity_core.config import format_duration, parse_duration
from unity_core.errors import AlertConditionError

_E = TypeVar("_E", bound=StrEnum)


class Kind(StrEnum):
    """What a rule watches."""

    THRESHOLD = "threshold"
    CHANGE_RATE = "change_rate"
    NO_DATA = "no_data"
    PLUGIN_HEALTH = "plugin_health"


class Aggregation(StrEnum):
    """How the samples of the window become the one value compared with the threshold.

    `rate` is the per-second increase from the first to the last sample of the window,
    counter resets (a drop) counted from zero, as Prometheus' rate() does.
    """

    LAST = "last"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    RATE = "rate"


class Operator(StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class ChangeUnit(StrEnum):
    """A change_rate rule compares the window's change in percent of its first value, or as is."""

    PERCENT = "percent"
    ABSOLUTE = "absolute"


_COMPARE: dict[Operator, Callable[[float, float], bool]] = {
    Operator.GT: op.gt,
    Operator.GE: op.ge,
    Operator.LT: op.lt,
    Operator.LE: op.le,
    Operator.EQ: op.eq,
    Operator.NE: op.ne,
}
#: plugin_status.health_status values a plugin_health rule may watch.
HEALTH_STATES = frozenset({"paused", "failing", "degraded"})
DEFAULT_HEALTH_STATES = frozenset({"paused", "failing"})
DEFAULT_WINDOW = {Kind.THRESHOLD: timedelta(minutes=5), Kind.CHANGE_RATE: timedelta(minutes=15)}
#: The longest window or `for` a rule may use: evaluation reads raw samples of the window.
MAX_WINDOW = timedelta(days=7)

_KEYS: dict[Kind, frozenset[str]] = {
    Kind.THRESHOLD: frozenset(
        {"aggregation", "window", "operator", "threshold", "for", "hysteresis", "metric", "tags"}
    ),
    Kind.CHANGE_RATE: frozenset(
        {"window", "operator", "threshold", "unit", "for", "hysteresis", "metric", "tags"}
    ),
    Kind.NO_DATA: frozenset({"minutes", "metric", "tags"}),
    Kind.PLUGIN_HEALTH: frozenset({"states", "for"}),
}
_COMMON = frozenset({"kind", "plugin", "severity"})


@dataclass(frozen=True)
class MetricSelector:
    """Which series a rule reads: one plugin, optionally one metric, and tags they must carry."""

    plugin: str
    metric: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def matches_tags(self, tags: Mapping[str, Any] | None) -> bool:
        """True when `tags` carries every filter tag with the same value."""
        have = tags or {}
        return all(str(have.get(key)) == value for key, value in self.tags.items())


@dataclass(frozen=True)
class Condition:
    """A validated rule condition. Build it with parse_condition, never by hand.

    `threshold` and `operator` are None only for no_data and plugin_health, whose
    condition is a state rather than a number. `severity` None means "the rule's own".
    """

    kind: Kind
    selector: MetricSelector
    aggregation: Aggregation = Aggregation.LAST
    window: timedelta = timedelta(minutes=5)
    operator: Operator | None = None
    threshold: float | None = None
    for_: timedelta = timedelta(0)
    hysteresis: float = 0.0
    unit: ChangeUnit = ChangeUnit.PERCENT
    no_data_after: timedelta | None = None
    health_states: frozenset[str] = DEFAULT_HEALTH_STATES
    severity: Severity | None = None

    @property
    def is_numeric(self) -> bool:
        """True for the kinds that compare a number with a threshold."""
        return self.kind in (Kind.THRESHOLD, Kind.CHANGE_RATE)

    def breached(self, value: float) -> bool:
        """True when `value` meets the condition (a firing or pending value)."""
        if self.operator is None or self.threshold is None:
            raise ValueError(f"a {self.kind} condition has no threshold to compare with")
        return _COMPARE[self.operator](value, self.threshold)

    def cleared(self, value: float) -> bool:
        """True when `value` is far enough from the threshold to resolve a firing alert.

        Hysteresis: a rule `> 80` with hysteresis 5 fires above 80 but resolves only at or
        below 75, so a value hovering around 80 does not flap between firing and resolved.
        """
        if self.operator is None or self.threshold is None:
            raise ValueError(f"a {self.kind} condition has no threshold to compare with")
        margin = self.hysteresis
        if self.operator in (Operator.GT, Operator.GE):
            return value <= self.threshold - margin
        if self.operator in (Operator.LT, Operator.LE):
            return value >= self.threshold + margin
        if self.operator is Operator.EQ:
            return abs(value - self.threshold) > margin
        return abs(value - self.threshold) <= margin  # NE clears once back at the threshold

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form: parse_condition(c.to_dict()) == c."""
        data: dict[str, Any] = {"kind": self.kind.value, "plugin": self.selector.plugin}
        if self.selector.metric is not None:
            data["metric"] = self.selector.metric
        if self.selector.tags:
            data["tags"] = dict(self.selector.tags)
        if self.kind is Kind.THRESHOLD:
            data["aggregation"] = self.aggregation.value
        if self.is_numeric:
            assert self.operator is not None
            data["window"] = format_duration(self.window)
            data["operator"] = self.operator.value
            data["threshold"] = self.threshold
            data["hysteresis"] = self.hysteresis
        if self.kind is Kind.CHANGE_RATE:
            data["unit"] = self.unit.value
        if self.kind is Kind.NO_DATA:
            assert self.no_data_after is not None
            data["minutes"] = self.no_data_after.total_seconds() / 60
        if self.kind is Kind.PLUGIN_HEALTH:
            data["states"] = sorted(self.health_states)
        if self.kind is not Kind.NO_DATA:
            data["for"] = format_duration(self.for_)
        if self.severity is not None:
            data["severity"] = self.severity.value
        return data

    def describe(self) -> str:
        """One plain sentence for notifications, e.g. 'avg of cpu_percent over 5m > 80'."""
        target = self.selector.metric or "any metric"
        where = f"{self.selector.plugin}/{target}"
        if self.selector.tags:
            where += " {" + ", ".join(f"{k}={v}" for k, v in self.selector.tags.items()) + "}"
        if self.kind is Kind.THRESHOLD:
            return (
                f"{self.aggregation} of {where} over {format_duration(self.window)} "
                f"{self.operator} {self.threshold:g}"
            )
        if self.kind is Kind.CHANGE_RATE:
            suffix = "%" if self.unit is ChangeUnit.PERCENT else ""
            return (
                f"change of {where} over {format_duration(self.window)} "
                f"{self.operator} {self.threshold:g}{suffix}"
            )
        if self.kind is Kind.NO_DATA:
            assert self.no_data_after is not None
            return f"no data from {where} for {format_duration(self.no_data_after)}"
        return f"plugin {self.selector.plugin} is {' or '.join(sorted(self.health_states))}"


def parse_condition(data: Mapping[str, Any]) -> Condition:
    """Validate a condition's JSON and return it typed; raises AlertConditionError.

    Every problem is reported at once as `key: message`; unknown keys are refused with
    the keys this kind accepts, so a typo never silently disables part of a rule.
    """
    if not isinstance(data, Mapping):
        raise AlertConditionError(f"must be a JSON object, got {type(data).__name__}")
    reader = _Reader(data)
    kind = reader.enum("kind", Kind, default=Kind.THRESHOLD)
    plugin = reader.text("plugin", required=True)
    severity = reader.enum("severity", Severity, default=None)
    if kind is None:
        raise AlertConditionError(reader.problems)
    allowed = _KEYS[kind] | _COMMON
    for key in sorted(set(data) - allowed):
        reader.fail(
            key, f"unknown key for a {kind} condition; allowed: {', '.join(sorted(allowed))}"
        )
    metric = reader.text("metric", required=kind in (Kind.THRESHOLD, Kind.CHANGE_RATE))
    tags = reader.tags("tags") if "tags" in _KEYS[kind] else {}
    selector = MetricSelector(plugin=plugin or "", metric=metric, tags=tags)
    condition = _build(kind, reader, selector, severity)
    if reader.problems:
        raise AlertConditionError(reader.problems)
    return condition


def _build(
    kind: Kind, reader: _Reader, selector: MetricSelector, severity: Severity | None
) -> Condition:
    if kind is Kind.NO_DATA:
        minutes = reader.number("minutes", required=True, positive=True)
        after = timedelta(minutes=minutes or 1)
        if after > MAX_WINDOW:
            reader.fail("minutes", f"must be at most {int(MAX_WINDOW.total_seconds() // 60)}")
        return Condition(kind=kind, selector=selector, no_data_after=after, severity=severity)
    for_ = reader.duration("for", default=timedelta(0), allow_zero=True)
    if kind is Kind.PLUGIN_HEALTH:
        states = reader.states("states")
        return Condition(
            kind=kind, selector=selector, for_=for_, health_states=states, severity=severity
        )
    aggregation = Aggregation.LAST
    if kind is Kind.THRESHOLD:
        aggregation = reader.enum("aggregation", Aggregation, default=Aggregation.LAST) or (
            Aggregation.LAST
        )
    return Condition(
        kind=kind,
        selector=selector,
        aggregation=aggregation,
        window=reader.duration("window", default=DEFAULT_WINDOW[kind], allow_zero=False),
        operator=reader.enum("operator", Operator, default=None, required=True),
        threshold=reader.number("threshold", required=True),
        for_=for_,
        hysteresis=reader.number("hysteresis", default=0.0, non_negative=True) or 0.0,
        unit=reader.enum("unit", ChangeUnit, default=ChangeUnit.PERCENT) or ChangeUnit.PERCENT,
        severity=severity,
    )


class _Reader:
    """Reads typed values from the JSON, collecting `key: message` problems."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {value!r}")
            return None
        if len(value) > 200:
            self.fail(key, "must be at most 200 characters")
        return value

    def enum(
        self, key: str, kind: type[_E], *, default: _E | None, required: bool = False
    ) -> _E | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, f"required; one of {', '.join(m.value for m in kind)}")
            return default
        try:
            return kind(value)
        except ValueError:
            self.fail(key, f"must be one of {', '.join(m.value for m in kind)}, got {value!r}")
            return default

    def number(
        self,
        key: str,
        *,
        required: bool = False,
        default: float | None = None,
        positive: bool = False,
        non_negative: bool = False,
    ) -> float | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "required")
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(key, f"must be a finite number, got {value!r}")
            return default
        if positive and value <= 0:
            self.fail(key, f"must be greater than 0, got {value!r}")
            return default
        if non_negative and value < 0:
            self.fail(key, f"must be 0 or more, got {value!r}")
            return default
        return float(value)

    def duration(self, key: str, *, default: timedelta, allow_zero: bool) -> timedelta:
        value = self.data.get(key)
        if value is None:
            return default
        try:
            span = parse_duration(value)
        except ValueError as error:
            self.fail(key, str(error))
            return default
        if span < timedelta(0) or (not allow_zero and span == timedelta(0)):
            self.fail(key, "must be greater than 0" if not allow_zero else "must not be negative")
            return default
        if span > MAX_WINDOW:
            self.fail(key, f"must be at most {format_duration(MAX_WINDOW)}")
            return default
        return span

    def tags(self, key: str) -> dict[str, str]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
        ):
            self.fail(key, "must be an object of tag names to string values")
            return {}
        return {k: str(v) for k, v in value.items()}

    def states(self, key: str) -> frozenset[str]:
        value = self.data.get(key)
        if value is None:
            return DEFAULT_HEALTH_STATES
        allowed = ", ".join(sorted(HEALTH_STATES))
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v in HEALTH_STATES for v in value)
        ):
            self.fail(key, f"must be a non-empty list of {allowed}, got {value!r}")
            return DEFAULT_HEALTH_STATES
        return frozenset(value)
