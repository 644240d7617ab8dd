"""Marshmallow schemas for unity.yaml: types, ranges and unknown keys, reported with key paths."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

if TYPE_CHECKING:
    _TimedeltaField = fields.Field[timedelta]
    _NumberField = fields.Field[int | float]
else:  # marshmallow 3 fields are not generic; 4's are
    _TimedeltaField = _NumberField = fields.Field

DURATION_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
DURATION_FORMS = "seconds, or a number followed by s, m, h, d, w or y (45s, 15m, 12h, 30d, 2w, 1y)"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdwy])\s*$")
_PLUGIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_duration(value: object) -> timedelta:
    """A timedelta from 30d / 12h / 15m / 45s / 2w / 1y or whole seconds; ValueError otherwise."""
    # bool is an int to Python, but `yes` meaning one second would be a trap.
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return timedelta(seconds=int(text))
        match = _DURATION.match(text)
        if match:
            return timedelta(seconds=int(match[1]) * DURATION_UNITS[match[2]])
    raise ValueError(f"Not a valid duration; use {DURATION_FORMS}.")


def format_duration(value: timedelta) -> str:
    """The shortest exact form among y, d, h, m and s, so `config show` reads like the file."""
    seconds = int(value.total_seconds())
    for unit in ("y", "d", "h", "m"):
        if seconds and seconds % DURATION_UNITS[unit] == 0:
            return f"{seconds // DURATION_UNITS[unit]}{unit}"
    return f"{seconds}s"


class Duration(_TimedeltaField):
    """A positive span of time, for retention and TimescaleDB settings."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> timedelta:
        try:
            result = parse_duration(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None
        if result <= timedelta(0):
            raise ValidationError("Must be greater than zero.")
        return result


class Seconds(_NumberField):
    """A number of seconds written as a number or a duration string; `whole` forbids fractions."""

    def __init__(self, *, whole: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.whole = whole

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int | float:
        if not self.whole and isinstance(value, float | str):
            try:
                number = float(value)
            except ValueError:
                pass  # maybe "5s"
            else:
                if math.isfinite(number):
                    return number
        try:
            return int(parse_duration(value).total_seconds())
        except ValueError:
            raise ValidationError(f"Not a valid number of seconds; use {DURATION_FORMS}.") from None


def _positive(**kwargs: Any) -> Seconds:
    return Seconds(validate=validate.Range(min=0, min_inclusive=False), **kwargs)


def _count(minimum: int) -> fields.Integer:
    return fields.Integer(validate=validate.Range(min=minimum))


def _timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone {name!r}.") from None


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class TimeseriesSchema(_Strict):
    enabled = fields.Boolean()
    compression = fields.Boolean()
    compress_after = Duration()
    chunk_interval = Duration()
    retention_days = _count(1)  # the design's key; becomes retention.raw_metrics


class DatabaseSchema(_Strict):
    url = fields.String()
    type = fields.String(validate=validate.OneOf(["postgresql", "mysql", "mariadb", "sqlite"]))
    host = fields.String(validate=validate.Length(min=1))
    port = fields.Integer(validate=validate.Range(min=1, max=65535))
    database = fields.String(validate=validate.Length(min=1))
    username = fields.String()
    password = fields.String()
    path = fields.String(validate=validate.Length(min=1))
    options = fields.Dict(keys=fields.String(), values=fields.String())
    pool_size = _count(1)
    max_overflow = _count(0)
    pool_timeout = _positive(whole=False)
    pool_recycle = fields.Integer(validate=validate.Range(min=-1))  # -1: never recycle
    connect_timeout = _positive()
    partitions_ahead_days = _count(1)
    timeseries = fields.Nested(TimeseriesSchema)


class CacheTTLSchema(_Strict):
    latest = _positive()
    latest_metrics = _positive()  # the design's name for `latest`
    dashboard = _positive()
    status = _positive()
    query = _positive()


class CacheSchema(_Strict):
    enabled = fields.Boolean()
    type = fields.String(validate=validate.OneOf(["redis", "valkey", "none"]))
    url = fields.String()
    host = fields.String(validate=validate.Length(min=1))
    port = fields.Integer(validate=validate.Range(min=1, max=65535))
    db = _count(0)
    username = fields.String()
    password = fields.String()
    ttl = fields.Nested(CacheTTLSchema)


class BrokerSchema(_Strict):
    url = fields.String()
    visibility_timeout = _positive()
    sentinel_master = fields.String(validate=validate.Length(min=1))


class CollectionSchema(_Strict):
    default_interval = _positive()
    batch_size = _count(1)
    batch_timeout = _positive(whole=False)
    retry_count = _count(0)
    retry_delay = Seconds(validate=validate.Range(min=0))
    retry_backoff = fields.Float(validate=validate.Range(min=1))
    max_concurrent = _count(1)
    collection_timeout = _positive()
    pause_after = _count(0)
    plugins_dir = fields.String(validate=validate.Length(min=1))
    host = fields.String(validate=validate.Length(min=1, max=255))
    environment = fields.String(validate=validate.Length(min=1, max=100))
    tags = fields.Dict(keys=fields.String(), values=fields.String())


class RetentionSchema(_Strict):
    raw_metrics = Duration()
    hourly_aggregates = Duration()
    daily_aggregates = Duration()
    alert_history = Duration()


class FlowerSchema(_Strict):
    address = fields.String(validate=validate.Length(min=1))
    port = fields.Integer(validate=validate.Range(1, 65535))
    user = fields.String(validate=validate.Length(min=1))
    password = fields.String(validate=validate.Length(min=1))


class ApiSchema(_Strict):
    bind = fields.String(
        validate=validate.Regexp(r"^(unix:.+|.*:\d{1,5})$", error="Use HOST:PORT.")
    )
    workers = _count(1)
    threads = _count(1)
    rate_limit = fields.String(
        validate=validate.Regexp(
            r"^\s*\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?\s*$",
            error="Use e.g. 600/minute.",
        )
    )
    max_request_bytes = _count(1024)
    metrics_public = fields.Boolean()
    cors_origins = fields.List(fields.String(validate=validate.Length(min=1)))


# --- notifications (issue 7) ---
#: Each channel type's keys: (required, optional). `name` and `type` are common to all.
CHANNEL_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "webhook": (frozenset({"url"}), frozenset({"headers", "timeout"})),
    "ntfy": (frozenset({"topic"}), frozenset({"url", "token", "priority", "timeout"})),
    "gotify": (frozenset({"url", "token"}), frozenset({"priority", "timeout"})),
    "email": (
        frozenset({"host", "to"}),
        frozenset({"port", "username", "password", "from", "starttls", "ssl", "timeout"}),
    ),
    "apprise": (frozenset({"urls"}), frozenset()),
}
_WINDOW_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ChannelSchema(_Strict):
    """One notification channel; which keys are allowed and required depends on `type`."""

    name = fields.String(
        required=True,
        validate=validate.Regexp(_PLUGIN_ID, error="Use letters, digits, '.', '_' and '-'."),
    )
    type = fields.String(required=True, validate=validate.OneOf(sorted(CHANNEL_KEYS)))
    url = fields.String(validate=validate.Length(min=1))
    urls = fields.List(
        fields.String(validate=validate.Length(min=1)), validate=validate.Length(min=1)
    )
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    topic = fields.String(validate=validate.Length(min=1))
    token = fields.String(validate=validate.Length(min=1))
    priority = fields.Integer(validate=validate.Range(min=1, max=10))
    host = fields.String(validate=validate.Length(min=1))
    port = fields.Integer(validate=validate.Range(min=1, max=65535))
    username = fields.String()
    password = fields.String()
    sender = fields.String(data_key="from", validate=validate.Email())
    to = fields.List(fields.String(validate=validate.Email()), validate=validate.Length(min=1))
    starttls = fields.Boolean()
    ssl = fields.Boolean()
    timeout = _positive(whole=False)
    #: The channel gets only notifications of this severity or worse (all channel types).
    min_severity = fields.String(validate=validate.OneOf(["info", "warning", "critical"]))

    @validates_schema
    def _keys_of_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind = data.get("type")
        if kind not in CHANNEL_KEYS:
            return
        required, optional = CHANNEL_KEYS[kind]
        given = {self.fields[k].data_key or k for k in data} - {"name", "type", "min_severity"}
        problems: dict[str, list[str]] = {}
        for key in sorted(required - given):
            problems[key] = [f"Required for {kind} channels."]
        for key in sorted(given - required - optional):
            problems[key] = [f"Not a setting of {kind} channels."]
        if problems:
            raise ValidationError(problems)


class MaintenanceSchema(_Strict):
    """A window without notifications: ISO datetimes (once) or HH:MM times (every day)."""

    name = fields.String(validate=validate.Length(min=1))
    start = fields.String(required=True)
    end = fields.String(required=True)
    timezone = fields.String(validate=_timezone)

    @validates_schema
    def _same_form(self, data: dict[str, Any], **kwargs: Any) -> None:
        from datetime import datetime

        start, end = data.get("start", ""), data.get("end", "")
        if _WINDOW_TIME.match(start) and _WINDOW_TIME.match(end):
            return
        try:
            begins, ends = datetime.fromisoformat(start), datetime.fromisoformat(end)
        except ValueError:
            raise ValidationError(
                "Use two ISO datetimes (a one-off window) or two HH:MM times (daily).", "start"
            ) from None
        if begins.utcoffset() is None and "timezone" not in data:
            raise ValidationError(
                "Give the datetimes an offset (…+00:00) or set timezone.", "start"
            )
        if ends <= begins:
            raise ValidationError("Must be after start.", "end")


class NotificationsSchema(_Strict):
    channels = fields.List(fields.Nested(ChannelSchema))
    repeat_interval = _positive()
    group_wait = Seconds(whole=False, validate=validate.Range(min=0))
    evaluate_interval = _positive()
    maintenance = fields.List(fields.Nested(MaintenanceSchema))

    @validates_schema
    def _unique_names(self, data: dict[str, Any], **kwargs: Any) -> None:
        names = [channel["name"] for channel in data.get("channels", []) if "name" in channel]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValidationError(
                f"Channel names must be unique: {', '.join(repeated)}.", "channels"
            )


class PluginSchema(_Strict):
    """Framework options of one plugin instance; `config` belongs to the plugin's own schema."""

    id = fields.String(
        required=True,
        validate=validate.Regexp(_PLUGIN_ID, error="Use letters, digits, '.', '_' and '-'."),
    )
    plugin = fields.String(validate=validate.Length(min=1))
    name = fields.String()
    enabled = fields.Boolean()
    interval = _positive()
    schedule = fields.String(validate=validate.Length(min=1))
    timezone = fields.String(validate=_timezone)
    timeout = _positive()
    retry_count = _count(0)
    retry_delay = Seconds(validate=validate.Range(min=0))
    retry_backoff = fields.Float(validate=validate.Range(min=1))
    queue = fields.String(validate=validate.Length(min=1))
    tags = fields.Dict(keys=fields.String(), values=fields.String())
    config = fields.Dict(allow_none=True)

    @validates_schema
    def _one_timing(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "interval" in data and "schedule" in data:
            raise ValidationError("Use interval or schedule, not both.", "schedule")


class RootSchema(_Strict):
    data_dir = fields.String(validate=validate.Length(min=1))
    database = fields.Nested(DatabaseSchema)
    cache = fields.Nested(CacheSchema)
    broker = fields.Nested(BrokerSchema)
    collection = fields.Nested(CollectionSchema)
    retention = fields.Nested(RetentionSchema)
    api = fields.Nested(ApiSchema)
    flower = fields.Nested(FlowerSchema)
    plugins = fields.List(fields.Nested(PluginSchema))
    notifications = fields.Nested(NotificationsSchema)


def validate_tree(tree: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The typed tree with only the keys the file gave, or the problems as `path: message` lines."""
    # An empty section (every key commented out) parses as None; it means "all defaults".
    tree = {k: ({} if v is None and k != "data_dir" else v) for k, v in tree.items()}
    if tree.get("plugins") == {}:
        tree["plugins"] = []
    schema = RootSchema()
    try:
        return schema.load(tree), []
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"": error.messages}
        return {}, _problems(schema, messages, "")


def key_path(path: str, key: object) -> str:
    """`database.url`: how messages name a mapping key (list items are `plugins[1]`)."""
    return f"{path}.{key}" if path else str(key)


def _problems(schema: Schema, errors: Mapping[Any, Any], path: str) -> list[str]:
    """Walk marshmallow's error tree beside the schema, so unknown keys can get a suggestion."""
    found: list[str] = []
    for key, detail in errors.items():
        if key == "_schema":
            found += [f"{path or '(top level)'}: {_reword(m)}" for m in detail]
            continue
        here = key_path(path, key)
        field = schema.fields.get(key) if isinstance(key, str) else None
        if field is None:
            found.append(f"{here}: unknown key{_guess(str(key), list(schema.fields))}")
        elif isinstance(detail, list):
            found += [f"{here}: {m}" for m in detail]
        else:
            found += _field_problems(field, detail, here)
    return found


def _field_problems(field: fields.Field[Any], detail: Mapping[Any, Any], path: str) -> list[str]:
    if isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
        return _problems(field.schema, detail, path)
    if isinstance(field, fields.List):
        found: list[str] = []
        for index, item in detail.items():
            here = f"{path}[{index}]"
            if isinstance(item, list):
                found += [f"{here}: {_reword(m)}" for m in item]
            else:
                found += _field_problems(field.inner, item, here)
        return found
    # fields.Dict: {key: {"key": [...], "value": [...]}}
    return [
        f"{key_path(path, key)}: {'key ' if part == 'key' else ''}{message}"
        for key, parts in detail.items()
        for part, messages in parts.items()
        for message in messages
    ]


def _reword(message: str) -> str:
    return "expected a mapping of keys to values." if message == "Invalid input type." else message


def _guess(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f' — did you mean "{close[0]}"?'
    return f" (known keys: {', '.join(sorted(known))})"
