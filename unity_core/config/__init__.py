"""Unity's configuration: load_settings() is the one entry point; Settings is what it returns."""

from __future__ import annotations

from unity_core.config.display import mask_secrets, mask_url, settings_as_dict
from unity_core.config.loader import load_settings
from unity_core.config.schema import format_duration, parse_duration
from unity_core.config.settings import (
    ApiSettings,
    BrokerSettings,
    CacheSettings,
    CacheTTL,
    CollectionSettings,
    DatabaseSettings,
    FlowerSettings,
    NotificationSettings,
    RetentionSettings,
    Settings,
    TimeseriesSettings,
)

__all__ = [
    "ApiSettings",
    "BrokerSettings",
    "CacheSettings",
    "CacheTTL",
    "CollectionSettings",
    "DatabaseSettings",
    "FlowerSettings",
    "NotificationSettings",
    "RetentionSettings",
    "Settings",
    "TimeseriesSettings",
    "format_duration",
    "load_settings",
    "mask_secrets",
    "mask_url",
    "parse_duration",
    "settings_as_dict",
]
