"""Outcome: what one collection produced, and its compact JSON form for the broker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from unity_core.pipeline.stage import Rejection
from unity_core.storage.batch import MetricRow
from unity_core.storage.series import canonical_tags, series_key_of_canonical

#: Bumped when the encoded shape changes; decode refuses shapes it does not know.
ENCODING_VERSION = 2
#: Older shapes decode still reads: messages of the previous release may wait in the broker
#: (or the dead-letter store) across an upgrade. 1 spelled out every {"value": n} payload.
DECODABLE_VERSIONS = frozenset({1, 2})
MAX_ERROR_TEXT = 2000
#: Rejects and per-item errors an outcome carries at most; the totals are kept as counts.
MAX_REJECTS = 100
MAX_ITEM_ERRORS = 20


class InstanceLike(Protocol):
    """What collection needs of a registry instance (unity_core.plugins.registry.PluginInstance)."""

    @property
    def plugin_id(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    @property
    def tags(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Outcome:
    """The result of one run of one plugin instance for one slot, ready to be persisted.

    `ok` False means the run failed as a whole (`error` says why) and `rows` is empty.
    `rejected` counts every refused metric; `rejects` keeps at most MAX_REJECTS of them.
    `errors` are the plugin's per-item errors (at most MAX_ITEM_ERRORS). `attempt` is the
    retry number of this slot's run (0 for the first).
    """

    plugin_id: str
    slot_time: datetime
    ok: bool
    rows: list[MetricRow] = field(default_factory=list)
    rejects: list[Rejection] = field(default_factory=list)
    rejected: int = 0
    error: str | None = None
    errors: list[str] = field(default_factory=list)
    summary: str = ""
    duration_ms: float = 0.0
    worker_host: str | None = None
    attempt: int = 0

    @property
    def degraded(self) -> bool:
        """A successful run that still lost something: refused metrics or per-item errors."""
        return self.ok and bool(self.rejected or self.errors)


def describe_error(error: BaseException | str) -> str:
    """One bounded line naming the error and, when it wraps one, the plugin's own exception."""
    if isinstance(error, str):
        return error[:MAX_ERROR_TEXT]
    text = f"{type(error).__name__}: {error}"
    cause = error.__cause__
    if cause is not None and str(cause) not in text:
        text += f" (caused by {type(cause).__name__}: {cause})"
    return text[:MAX_ERROR_TEXT]


def failure_outcome(
    instance: InstanceLike | str,
    slot_time: datetime,
    error: BaseException | str,
    *,
    worker_host: str | None,
    attempt: int = 0,
    duration_ms: float = 0.0,
) -> Outcome:
    """The Outcome of a run that produced nothing: no rows, `ok` False, the error kept.

    `instance` may be just the plugin_id, for failures before the instance could be loaded.
    """
    plugin_id = instance if isinstance(instance, str) else instance.plugin_id
    return Outcome(
        plugin_id=plugin_id,
        slot_time=utc(slot_time),
        ok=False,
        error=describe_error(error),
        duration_ms=duration_ms,
        worker_host=worker_host,
        attempt=attempt,
    )


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; ValueError for a naive datetime (its instant would be a guess)."""
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}; give an aware one")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def encode_outcome(outcome: Outcome) -> dict[str, Any]:
    """A JSON-safe, compact dict that decode_outcome turns back into an equal Outcome.

    Rows are lists `[time, name, value, numeric_value, tags_index]`: time is None when it
    is the slot time (the usual case), value is None when it is just `{"value": numeric}`
    (most rows: it would repeat the number), and tag sets are listed once under "g".
    """
    slot = outcome.slot_time
    tag_index: dict[tuple[tuple[str, str], ...], int] = {}
    tag_sets: list[dict[str, str] | None] = []
    rows: list[list[Any]] = []
    for row in outcome.rows:
        tags = row.tags
        # MetricRow's tags are canonical (sorted), so equal sets give equal tuples.
        ident = tuple(tags.items()) if tags else ()
        index = tag_index.get(ident)
        if index is None:
            index = tag_index[ident] = len(tag_sets)
            tag_sets.append(tags)
        when = row.time
        stamp = None if when == slot and when.tzinfo is slot.tzinfo else when.isoformat()
        value = row.value
        number = row.numeric_value
        sent: dict[str, Any] | None = value
        if type(number) is float and len(value) == 1:
            payload = value.get("value")
            # Only an exact float twin: {"value": 3} (an int) must come back as an int.
            if type(payload) is float and payload == number:
                sent = None
        rows.append([stamp, row.metric_name, sent, number, index])
    return {
        "v": ENCODING_VERSION,
        "p": outcome.plugin_id,
        "s": slot.isoformat(),
        "ok": outcome.ok,
        "e": outcome.error,
        "ie": outcome.errors,
        "m": outcome.summary,
        "d": outcome.duration_ms,
        "w": outcome.worker_host,
        "a": outcome.attempt,
        "n": outcome.rejected,
        "x": [[r.metric_name, r.reason, r.value] for r in outcome.rejects],
        "g": tag_sets,
        "r": rows,
    }


def decode_outcome(data: Mapping[str, Any]) -> Outcome:
    """The Outcome encode_outcome encoded; ValueError for a shape it does not know."""
    if data.get("v") not in DECODABLE_VERSIONS:
        raise ValueError(f"unknown outcome encoding {data.get('v')!r}")
    plugin_id = data["p"]
    slot = datetime.fromisoformat(data["s"])
    # Tag sets arrive canonical (encode_outcome takes them from MetricRows): re-canonicalise
    # each set once, not once per row, and key series per (metric, tag set) once.
    tag_sets = [canonical_tags(tags) or None for tags in data["g"]]
    keys: dict[tuple[str, int], str] = {}
    parse = datetime.fromisoformat
    trusted = MetricRow.trusted
    worker_host = data["w"]
    rows = []
    for stamp, name, value, numeric, index in data["r"]:
        key = keys.get((name, index))
        if key is None:
            key = keys[name, index] = series_key_of_canonical(
                plugin_id, name, tag_sets[index] or {}
            )
        if value is None and type(numeric) is float:
            value = {"value": numeric}
        elif type(value) is not dict or (numeric is not None and type(numeric) is not float):
            # Not a shape encode_outcome writes: let the normal constructor and checks judge.
            rows.append(
                MetricRow(
                    slot if stamp is None else parse(stamp),
                    plugin_id,
                    name,
                    value,
                    numeric,
                    tag_sets[index],
                    worker_host,
                )
            )
            continue
        when = slot if stamp is None else parse(stamp)
        rows.append(
            trusted(when, plugin_id, name, value, numeric, tag_sets[index], key, worker_host)
        )
    return Outcome(
        plugin_id=plugin_id,
        slot_time=slot,
        ok=data["ok"],
        rows=rows,
        rejects=[Rejection(name, reason, value) for name, reason, value in data["x"]],
        rejected=data["n"],
        error=data["e"],
        errors=list(data["ie"]),
        summary=data["m"],
        duration_ms=data["d"],
        worker_host=data["w"],
        attempt=data["a"],
    )
