"""`/api/v1/metrics`: range queries over raw samples and rollups, and latest values.

Range results are kept in the cache for `cache.ttl.query` seconds under
`unity:metrics:{plugin_id}:{metric_name}:{digest of the parameters}` (the design's hot-query
cache). Relative times are part of the key as written, so `from=7d` is served from the cache
for up to that TTL (its newest bucket may be that much behind). Latest values come from the
`unity:plugin:{plugin_id}:latest` keys the workers refresh after each commit, else from the
database (which then fills the key).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from unity_api.context import cache, read_session, settings
from unity_api.errors import fail
from unity_api.jsonresponse import encode, iso, json_response, text_response
from unity_api.params import (
    decode_cursor,
    encode_cursor,
    parse_duration,
    tag_filters,
    time_range,
)
from unity_api.schemas.metrics import LatestArgsSchema, LatestSchema, RangeArgsSchema, RangeSchema
from unity_core.cache import latest_key
from unity_core.cache.base import loads
from unity_core.errors import PluginNotFound
from unity_core.storage import RangeResult, SeriesPoints, latest, range_query
from unity_core.storage.models import MetricSeries
from unity_core.storage.models import Plugin as PluginRow

blp = Blueprint(
    "metrics",
    __name__,
    url_prefix="/api/v1/metrics",
    description="Range queries (raw, hourly, daily; auto-chosen) and latest values.",
)

DEFAULT_SPAN = timedelta(hours=1)


@blp.route("")
class Metrics(MethodView):
    @blp.arguments(RangeArgsSchema(), location="query")
    @blp.response(200, RangeSchema)
    def get(self, args: dict[str, Any]) -> Response:
        """Points of one metric's series in [from, to), oldest first, paged by `cursor`.

        Tag filters: `tag.NAME=VALUE` query parameters (e.g. `tag.host=nas`).
        """
        try:
            tags = tag_filters(request.args)
        except ValueError as error:
            fail(422, str(error), {"query": {"tag": [str(error)]}})
        key = _hot_key(args, tags)
        hit = cache().get_json(key)
        if isinstance(hit, str):
            # Kept as encoded text: a hit is one string to hand back, nothing re-encoded.
            return text_response(hit)
        text = encode(_range(args, tags))
        cache().set_json(key, text, settings().cache.ttl.query)
        return text_response(text)


@blp.route("/latest")
class Latest(MethodView):
    @blp.arguments(LatestArgsSchema(), location="query")
    @blp.response(200, LatestSchema)
    def get(self, args: dict[str, Any]) -> Response:
        """The newest sample of every series, or of one plugin's; from the cache when present.

        Tag filters: `tag.NAME=VALUE` query parameters.
        """
        try:
            tags = tag_filters(request.args)
        except ValueError as error:
            fail(422, str(error), {"query": {"tag": [str(error)]}})
        plugin_id = args.get("plugin_id")
        if plugin_id:
            raw = cache().get_text(latest_key(plugin_id))
            rendered = None if raw is None else _rendered_latest(plugin_id, raw, args, tags)
            if rendered is not None:
                return text_response(rendered)
        plugin_ids = [plugin_id] if plugin_id else _registered_plugins()
        samples: list[dict[str, Any]] = []
        sources = set()
        for pid in plugin_ids:
            found, source = _latest_of(pid, must_exist=plugin_id is not None)
            sources.add(source)
            samples.extend(_matching(found, args.get("metric_name"), tags))
        source = sources.pop() if len(sources) == 1 else ("mixed" if sources else "database")
        return json_response({"source": source, "samples": samples})


#: (plugin, metric filter, tag filters) -> (the cached latest text, the response made from it)
_RENDERED: OrderedDict[tuple[str, str | None, tuple[tuple[str, str], ...]], tuple[str, str]] = (
    OrderedDict()
)
RENDERED_MAX = 256
_RENDERED_LOCK = threading.Lock()


def _rendered_latest(
    plugin_id: str, raw: str, args: dict[str, Any], tags: dict[str, str]
) -> str | None:
    """The response for one plugin's cached latest values, rebuilt only when they changed.

    Workers rewrite the key after each commit, so between two collections every request
    for the same plugin and filters sees the same text: compare it and reuse the response
    instead of parsing and re-encoding the plugin's samples each time (the hot path of
    dashboards polling /latest). None when the cached text is not a latest map.
    """
    memo_key = (plugin_id, args.get("metric_name"), tuple(sorted(tags.items())))
    with _RENDERED_LOCK:
        memo = _RENDERED.get(memo_key)
    if memo is not None and memo[0] == raw:
        return memo[1]
    entries = loads(raw)
    if not isinstance(entries, dict):
        return None
    found = [_from_cache(plugin_id, key, entry) for key, entry in entries.items()]
    samples = _matching(found, args.get("metric_name"), tags)
    text = encode({"source": "cache", "samples": samples})
    with _RENDERED_LOCK:
        _RENDERED[memo_key] = (raw, text)
        if len(_RENDERED) > RENDERED_MAX:
            _RENDERED.popitem(last=False)
    return text


def _registered_plugins() -> list[str]:
    session = read_session()
    return list(session.scalars(select(PluginRow.plugin_id).order_by(PluginRow.plugin_id)))


def _latest_of(plugin_id: str, *, must_exist: bool) -> tuple[list[dict[str, Any]], str]:
    entries = cache().get_latest(plugin_id)
    if entries is not None:
        return [_from_cache(plugin_id, key, e) for key, e in entries.items()], "cache"
    session = read_session()
    if must_exist and not _known(plugin_id):
        raise PluginNotFound(plugin_id)
    found = latest(session, plugin_id=plugin_id)
    fill = {
        s.series_key: {
            "metric_name": s.metric_name,
            "time": s.time.isoformat(timespec="microseconds"),
            "value": s.value,
            "numeric_value": s.numeric_value,
            "tags": s.tags,
        }
        for s in found
    }
    if fill:
        cache().set_json(latest_key(plugin_id), fill, settings().cache.ttl.latest)
    return [_from_cache(plugin_id, key, e) for key, e in fill.items()], "database"


def _from_cache(plugin_id: str, series_key: str, entry: dict[str, Any]) -> dict[str, Any]:
    # Stored tags are the series' canonical tags (strings), as the catalog keeps them.
    return {
        "plugin_id": plugin_id,
        "metric_name": entry.get("metric_name"),
        "series_key": series_key,
        "time": entry.get("time"),
        "value": entry.get("value"),
        "numeric_value": entry.get("numeric_value"),
        "tags": entry.get("tags") or {},
    }


def _matching(
    samples: list[dict[str, Any]], metric_name: str | None, tags: dict[str, str]
) -> list[dict[str, Any]]:
    found = [
        s
        for s in samples
        if (metric_name is None or s["metric_name"] == metric_name)
        and all(s["tags"].get(k) == v for k, v in tags.items())
    ]
    found.sort(key=lambda s: (s["metric_name"] or "", s["series_key"]))
    return found


def _known(plugin_id: str) -> bool:
    """A plugin is known when it is registered or has catalogued series."""
    session = read_session()
    registered = session.scalar(select(PluginRow.id).where(PluginRow.plugin_id == plugin_id))
    if registered is not None:
        return True
    series = select(MetricSeries.series_key).where(MetricSeries.plugin_id == plugin_id).limit(1)
    return session.scalar(series) is not None


def _hot_key(args: dict[str, Any], tags: dict[str, str]) -> str:
    params = {k: v for k, v in args.items() if k not in ("plugin_id", "metric_name")}
    params["tags"] = tags
    digest = hashlib.sha1(  # noqa: S324 - a cache key, not security
        json.dumps(params, sort_keys=True, default=str).encode()
    ).hexdigest()[:20]
    return f"unity:metrics:{args['plugin_id']}:{args['metric_name']}:{digest}"


def _range(args: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    plugin_id, metric_name = args["plugin_id"], args["metric_name"]
    try:
        if args.get("cursor"):
            start, end = decode_cursor(args["cursor"])
        else:
            start, end = time_range(args.get("from_"), args.get("to"), default_span=DEFAULT_SPAN)
        bucket = parse_duration(args["bucket"], "bucket") if args.get("bucket") else None
        if bucket is not None and bucket % timedelta(seconds=1):
            raise ValueError("bucket: must be a whole number of seconds")
    except ValueError as error:
        fail(422, str(error))
    if not _known(plugin_id):
        raise PluginNotFound(plugin_id)
    try:
        result = range_query(
            read_session(),
            plugin_id=plugin_id,
            metric_name=metric_name,
            start=start,
            end=end,
            resolution=args["resolution"],
            agg=args["agg"],
            bucket=bucket,
            tags=tags or None,
            limit=args["limit"],
        )
    except ValueError as error:
        fail(422, str(error))
    return _range_json(result)


def _range_json(result: RangeResult) -> dict[str, Any]:
    cursor = None
    if result.truncated and result.next_start is not None:
        cursor = encode_cursor(result.next_start, result.end)
    # Series of one range share their bucket times: format each instant once.
    times: dict[datetime, str] = {}
    return {
        "plugin_id": result.plugin_id,
        "metric_name": result.metric_name,
        "from": iso(result.start),
        "to": iso(result.end),
        "resolution": result.resolution.value,
        "bucket_seconds": int(result.bucket.total_seconds()) if result.bucket else None,
        "agg": result.agg.value,
        "series": [_series_json(s, times) for s in result.series],
        "truncated": result.truncated,
        "next_cursor": cursor,
    }


def _series_json(series: SeriesPoints, times: dict[datetime, str]) -> dict[str, Any]:
    points = []
    for point in series.points:
        at = times.get(point.time)
        if at is None:
            at = times[point.time] = point.time.isoformat()
        if point.data is None:
            points.append({"time": at, "value": point.value})
        else:
            points.append({"time": at, "value": point.value, "data": point.data})
    return {"series_key": series.series_key, "tags": dict(series.tags), "points": points}
