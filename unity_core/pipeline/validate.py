"""Validate: checks each reported metric against the plugin's declared output; rejects with reasons.

Plain Python on purpose: this runs once per metric on the hot path (tens of thousands a
second), where a marshmallow load per metric would cost more than the database write.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from numbers import Integral, Real
from typing import Any
from weakref import WeakKeyDictionary

from unity_core.pipeline.stage import Batch, Draft, MetricRejected, Stage
from unity_core.plugins.sdk import Metric, MetricSpec, Plugin

#: The metric name of the one row per run that carries the run's summary and metadata.
SUMMARY_METRIC = "collection"
MAX_NAME = 200
MAX_TAG_KEY = 100
MAX_TAG_VALUE = 255
MAX_TEXT_VALUE = 4096
#: Explicit metric times further ahead than this are a clock or plugin bug.
MAX_FUTURE = timedelta(minutes=5)
#: Explicit metric times older than this are refused (late data beyond any sane backfill).
MAX_PAST = timedelta(days=7)
METRIC_TYPES = frozenset({"gauge", "counter"})

_NAME = re.compile(r"[A-Za-z0-9_.:\-]+")
_known_names: set[str] = set()
_specs: WeakKeyDictionary[type[Plugin], tuple[tuple[MetricSpec, ...], dict[str, MetricSpec]]]
_specs = WeakKeyDictionary()
_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def specs_of(plugin_cls: type[Plugin]) -> dict[str, MetricSpec]:
    """The plugin's declared metrics by name, built once per class (and again if it changes)."""
    declared = plugin_cls.metrics
    cached = _specs.get(plugin_cls)
    if cached is None or cached[0] is not declared:
        cached = (declared, {spec.name: spec for spec in declared})
        _specs[plugin_cls] = cached
    return cached[1]


def valid_name(name: object) -> bool:
    """True for a metric name of 1-200 characters from [A-Za-z0-9_.:-]."""
    if name in _known_names:
        return True
    if isinstance(name, str) and len(name) <= MAX_NAME and _NAME.fullmatch(name):
        if len(_known_names) > 50_000:  # bounded: dynamic plugins may invent names forever
            _known_names.clear()
        _known_names.add(name)
        return True
    return False


class Validate(Stage):
    """Refuses metrics that are unknown, mistyped, non-finite, out of range or mislabelled.

    Sets on each kept draft: name, value (JSON-safe), numeric (float or None), type, unit,
    spec, tags (strings) and time (aware or None). Plugins with `dynamic_metrics` skip
    only the "declared name" check.
    """

    name = "Validate"

    def process(self, batch: Batch) -> Batch:
        # Computed once per batch rather than per metric.
        specs = specs_of(batch.plugin_cls)
        dynamic = bool(batch.plugin_cls.dynamic_metrics)
        earliest, latest = batch.now - MAX_PAST, batch.now + MAX_FUTURE
        kept: list[Draft] = []
        for draft in batch.drafts:
            try:
                _check(draft, specs, dynamic, earliest, latest)
            except MetricRejected as rejected:
                batch.reject(draft, rejected.reason)
            except Exception as error:  # a value whose __float__ or __eq__ misbehaves
                batch.reject(draft, f"invalid metric: {type(error).__name__}: {error}")
            else:
                kept.append(draft)
        batch.drafts = kept
        return batch


def _check(
    draft: Draft,
    specs: dict[str, MetricSpec],
    dynamic: bool,
    earliest: datetime,
    latest: datetime,
) -> None:
    metric = draft.source
    if not isinstance(metric, Metric):
        raise MetricRejected(f"not a Metric but {type(metric).__name__}")
    name = metric.name
    if not valid_name(name):
        raise MetricRejected(
            f"metric name {name!r} is not 1-{MAX_NAME} characters of A-Z a-z 0-9 _ . : -"
        )
    if name == SUMMARY_METRIC:
        raise MetricRejected(f"{name}: the name is reserved for the run's summary row")
    draft.name = name
    spec = specs.get(name)
    if spec is None and not dynamic:
        raise MetricRejected(f"{name}: not a metric this plugin declares")
    kind = str(spec.type if spec is not None else metric.type)
    if kind not in METRIC_TYPES:
        raise MetricRejected(f"{name}: type {kind!r} is neither gauge nor counter")
    value, number = _value(name, metric.value, kind)
    if number is not None and spec is not None:
        if spec.minimum is not None and number < spec.minimum:
            raise MetricRejected(f"{name}: value {number:g} is below the minimum {spec.minimum:g}")
        if spec.maximum is not None and number > spec.maximum:
            raise MetricRejected(f"{name}: value {number:g} is above the maximum {spec.maximum:g}")
    unit = metric.unit
    if unit is not None and not isinstance(unit, str):
        raise MetricRejected(f"{name}: unit {unit!r} is not a string")
    draft.value = value
    draft.numeric = number
    draft.type = kind
    draft.unit = unit or ""
    draft.spec = spec
    tags = metric.tags
    draft.tags = _tags(name, tags) if tags else None
    when = metric.time
    if when is not None:
        if not isinstance(when, datetime):
            raise MetricRejected(f"{name}: time {when!r} is not a datetime")
        if when.utcoffset() is None:
            raise MetricRejected(f"{name}: time {when.isoformat()} has no time zone")
        if when > latest:
            raise MetricRejected(f"{name}: time {when.isoformat()} is too far in the future")
        if when < earliest:
            raise MetricRejected(f"{name}: time {when.isoformat()} is older than 7 days")
        draft.time = when


def _value(name: str, value: Any, kind: str) -> tuple[Any, float | None]:
    """(the value as it will be stored, its numeric reading or None), or MetricRejected."""
    cls = type(value)
    if cls is float or cls is int:
        number = _finite(name, value)
    elif cls is bool:
        if kind == "counter":
            raise MetricRejected(f"{name}: a counter must be a number, not a bool")
        return value, 1.0 if value else 0.0
    elif isinstance(value, str):
        if kind == "counter":
            raise MetricRejected(f"{name}: a counter must be a number, not text")
        if len(value) > MAX_TEXT_VALUE:
            raise MetricRejected(f"{name}: text value longer than {MAX_TEXT_VALUE} characters")
        return str(value), None
    elif isinstance(value, Mapping):
        return _mapping(name, value, kind)
    elif value is None:
        raise MetricRejected(f"{name}: no value (None)")
    elif isinstance(value, Real | Decimal):
        # numpy scalars and Decimals: stored as the plain Python number they equal.
        number = _finite(name, value)
        value = int(value) if isinstance(value, Integral) else number
    else:
        raise MetricRejected(f"{name}: unsupported value type {cls.__name__}")
    if kind == "counter" and number < 0:
        raise MetricRejected(f"{name}: counter value {number:g} is negative")
    return value, number


def _finite(name: str, value: Any) -> float:
    try:
        number = float(value)
    except OverflowError:
        raise MetricRejected(f"{name}: value {value} is too large for a float") from None
    if number - number != 0.0:  # NaN and ±inf; faster than math.isfinite on the hot path
        raise MetricRejected(f"{name}: value {number} is not finite")
    return number


def _mapping(name: str, value: Mapping[Any, Any], kind: str) -> tuple[Any, float | None]:
    for key in value:
        if not isinstance(key, str):
            raise MetricRejected(f"{name}: value key {key!r} is not a string")
    try:
        # Round-tripped so what is stored, cached and shipped is exactly plain JSON.
        stored = json.loads(_json.encode(value))
    except (TypeError, ValueError) as error:
        raise MetricRejected(f"{name}: value is not finite JSON: {error}") from None
    number: float | None = None
    for key in ("numeric_value", "value"):
        found = stored.get(key)
        if type(found) is int or type(found) is float:
            number = _finite(name, found)
            break
    if kind == "counter" and (number is None or number < 0):
        raise MetricRejected(f"{name}: a counter needs a non-negative numeric value")
    return stored, number


def _tags(name: str, tags: object) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise MetricRejected(f"{name}: tags must be a mapping, not {type(tags).__name__}")
    checked: dict[str, str] = {}
    for key, raw in tags.items():
        if type(key) is not str or not key or len(key) > MAX_TAG_KEY:
            raise MetricRejected(f"{name}: tag key {key!r} is not a string of 1-{MAX_TAG_KEY}")
        if type(raw) is str:
            text = raw
        elif isinstance(raw, bool | int) or (isinstance(raw, float) and math.isfinite(raw)):
            text = str(raw)
        else:
            raise MetricRejected(f"{name}: tag {key!r} has a non-text value {raw!r}")
        if len(text) > MAX_TAG_VALUE:
            raise MetricRejected(f"{name}: tag {key!r} is longer than {MAX_TAG_VALUE} characters")
        checked[key] = text
    return checked
