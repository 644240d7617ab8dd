"""Builds Settings from unity.yaml, ${VAR} references and UNITY_* variables, or a ConfigError."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from unity_core.config import defaults
from unity_core.config.reader import read_file
from unity_core.config.schema import key_path, validate_tree
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
from unity_core.config.urls import (
    BROKER_SCHEMES,
    CACHE_HOST_KEYS,
    CACHE_SCHEMES,
    DB_HOST_KEYS,
    Report,
    cache_host_url,
    cache_kind,
    database_host_url,
    database_url,
    service_url,
)
from unity_core.errors import ConfigError

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the configuration: explicit path, else $UNITY_CONFIG, else ./unity.yaml, else defaults.

    UNITY_* variables beat the file. Relative paths in the file are relative to the file, so it
    means the same thing whichever directory `unity` is started from. Raises ConfigError listing
    every problem found, each naming the file (or variable) and the key path.
    """
    env = os.environ if environ is None else environ
    file = _config_file(path, env)
    label = str(file) if file else "defaults"
    tree = read_file(file) if file else {}
    unset: list[tuple[str, str]] = []
    loaded, problems = validate_tree(_interpolate(tree, "", env, unset))
    # An unset variable became "", which the schema may reject too; say it once.
    unset_paths = {where for where, _ in unset}
    problems = [f"{path}: {message}" for path, message in unset] + [
        problem for problem in problems if problem.partition(": ")[0] not in unset_paths
    ]
    if problems:
        raise ConfigError(problems, label)
    return _Builder(label, env).settings(loaded, file)


def _config_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    named = path if path is not None else env.get("UNITY_CONFIG") or None
    if named is None:
        fallback = Path(defaults.CONFIG_FILE_NAME)
        return fallback if fallback.is_file() else None
    file = Path(named).expanduser()
    if not file.exists():
        how = " (named by UNITY_CONFIG)" if path is None else ""
        raise ConfigError(f"configuration file not found{how}", str(file))
    return file


def _interpolate(
    node: Any, path: str, env: Mapping[str, str], problems: list[tuple[str, str]]
) -> Any:
    """Substitute ${VAR} in string values after parsing, so a secret cannot change the structure."""
    if isinstance(node, dict):
        return {k: _interpolate(v, key_path(path, k), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, f"{path}[{i}]", env, problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def replace(match: re.Match[str]) -> str:
        name, default = match[1], match[2]
        if match[0] == "$${":
            return "${"
        if name is None:
            problems.append((path, "malformed ${…} reference (write $${ for a literal ${)"))
            return ""
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            hint = f"use ${{{name}:-default}} for a default"
            problems.append((path, f"environment variable {name} is not set ({hint})"))
            return ""
        return value

    return _REFERENCE.sub(replace, node)


class _Builder:
    """Turns the validated tree into Settings, applying UNITY_* overrides, collecting problems."""

    def __init__(self, label: str, env: Mapping[str, str]) -> None:
        self.label = label
        self.env = env
        self.problems: list[tuple[str, str]] = []

    def at(self, key: str) -> Report:
        return lambda message: self.problems.append((self.label, f"{key}: {message}"))

    def var(self, name: str) -> Report:
        return lambda message: self.problems.append(("environment", f"{name}: {message}"))

    def settings(self, loaded: dict[str, Any], file: Path | None) -> Settings:
        base = file.parent if file else Path.cwd()
        data_dir = self.data_dir(loaded.get("data_dir"), base)
        database = loaded.get("database", {})
        retention = dict(loaded.get("retention", {}))
        days = database.get("timeseries", {}).get("retention_days")
        if days is not None and "raw_metrics" not in retention:
            retention["raw_metrics"] = timedelta(days=days)
        settings = Settings(
            data_dir=data_dir,
            database=self.database(database, data_dir),
            source=file.resolve() if file else None,
            cache=self.cache(loaded.get("cache", {})),
            broker=self.broker(loaded.get("broker", {})),
            collection=self.collection(loaded.get("collection", {}), base),
            retention=RetentionSettings(**retention),
            api=ApiSettings(**loaded.get("api", {})),
            flower=self.flower(loaded.get("flower", {})),
            plugins=self.plugins(loaded.get("plugins", [])),
            notifications=self.notifications(loaded.get("notifications", {})),
        )
        if self.problems:
            sources = {source for source, _ in self.problems}
            if len(sources) == 1:
                raise ConfigError([message for _, message in self.problems], sources.pop())
            raise ConfigError([f"{source}: {message}" for source, message in self.problems])
        return settings

    def notifications(self, section: dict[str, Any]) -> NotificationSettings:
        options = dict(section)
        # `from` is a Python keyword, so the schema loads it as `sender`; give it back.
        options["channels"] = tuple(
            {("from" if k == "sender" else k): v for k, v in channel.items()}
            for channel in options.get("channels", [])
        )
        options["maintenance"] = tuple(options.get("maintenance", []))
        return NotificationSettings(**options)

    def flower(self, section: dict[str, Any]) -> FlowerSettings:
        options = dict(section)
        user = self.env.get("UNITY_FLOWER_USER") or options.get("user")
        password = self.secret("UNITY_FLOWER_PASSWORD") or options.get("password")
        if bool(user) != bool(password):
            missing = "password" if user else "user"
            self.at(f"flower.{missing}")(
                "set flower.user and flower.password together (or UNITY_FLOWER_USER and "
                "UNITY_FLOWER_PASSWORD)"
            )
        elif user and password and (":" in user or "," in user or "," in password):
            self.at("flower.user")("Flower credentials may not contain ',' (nor ':' in the user)")
        options["user"], options["password"] = user or None, password or None
        return FlowerSettings(**options)

    def collection(self, section: dict[str, Any], base: Path) -> CollectionSettings:
        options = dict(section)
        if "plugins_dir" in options:
            # Relative to the file, like data_dir, so it means the same from any cwd.
            options["plugins_dir"] = (base / Path(options["plugins_dir"]).expanduser()).resolve()
        return CollectionSettings(**options)

    def data_dir(self, configured: str | None, base: Path) -> Path:
        if self.env.get("UNITY_DATA_DIR"):
            return Path(os.path.abspath(Path(self.env["UNITY_DATA_DIR"]).expanduser()))
        chosen = base / Path(configured).expanduser() if configured else Path(defaults.DATA_DIR)
        return Path(os.path.abspath(chosen))

    def secret(self, name: str) -> str | None:
        """A password from NAME, or read from the file NAME_FILE names (Docker/systemd secrets)."""
        value = self.env.get(name) or None
        file_name = self.env.get(f"{name}_FILE")
        if not file_name:
            return value
        if value is not None:
            self.var(f"{name}_FILE")(f"set together with {name}; use one of them")
            return value
        try:
            return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            self.var(f"{name}_FILE")(f"cannot read {file_name}: {reason}")
            return None

    def database(self, section: dict[str, Any], data_dir: Path) -> DatabaseSettings:
        password = self.secret("UNITY_DB_PASSWORD") or section.get("password")
        if self.env.get("UNITY_DATABASE_URL"):
            url = database_url(
                self.env["UNITY_DATABASE_URL"], password, self.var("UNITY_DATABASE_URL")
            )
        elif section.get("url"):
            both = sorted(DB_HOST_KEYS & section.keys())
            if both:
                self.at("database")(
                    f"both url and {', '.join(both)} are set; pick one: a url, "
                    "or type/host/port/database/username/password"
                )
            url = database_url(section["url"], password, self.at("database.url"))
        else:
            url = database_host_url(section, data_dir, password, self.at)
        options = {k: v for k, v in section.items() if k in DatabaseSettings.__dataclass_fields__}
        options.pop("url", None)
        timeseries = dict(section.get("timeseries", {}))
        timeseries.pop("retention_days", None)
        options["timeseries"] = TimeseriesSettings(**timeseries)
        return DatabaseSettings(url=url, **options)

    def cache(self, section: dict[str, Any]) -> CacheSettings:
        ttl = dict(section.get("ttl", {}))
        if "latest_metrics" in ttl:
            if "latest" in ttl:
                self.at("cache.ttl.latest_metrics")('the same setting as "latest"; keep one')
            ttl.setdefault("latest", ttl.pop("latest_metrics"))
        ttls = CacheTTL(**ttl)
        password = self.secret("UNITY_CACHE_PASSWORD") or section.get("password")
        if self.env.get("UNITY_CACHE_URL"):
            text = self.env["UNITY_CACHE_URL"]
            url = service_url(text, password, CACHE_SCHEMES, self.var("UNITY_CACHE_URL"))
            return CacheSettings(enabled=True, type=cache_kind(text), url=url, ttl=ttls)
        kind = section.get("type")
        wanted = kind not in (None, "none") or bool(section.get("url") or section.get("host"))
        if kind == "none" or not section.get("enabled", wanted):
            return CacheSettings(enabled=False, url=None, ttl=ttls)
        if section.get("url"):
            both = sorted(CACHE_HOST_KEYS & section.keys())
            if both:
                self.at("cache")(f"both url and {', '.join(both)} are set; pick one")
            url = service_url(section["url"], password, CACHE_SCHEMES, self.at("cache.url"))
            return CacheSettings(
                enabled=True, type=kind or cache_kind(section["url"]), url=url, ttl=ttls
            )
        url = cache_host_url(section, password)
        return CacheSettings(enabled=True, type=kind or "redis", url=url, ttl=ttls)

    def broker(self, section: dict[str, Any]) -> BrokerSettings:
        options = {k: v for k, v in section.items() if k != "url"}
        if self.env.get("UNITY_BROKER_URL"):
            text, report = self.env["UNITY_BROKER_URL"], self.var("UNITY_BROKER_URL")
        elif section.get("url"):
            text, report = section["url"], self.at("broker.url")
        else:
            return BrokerSettings(**options)
        url = service_url(text, None, BROKER_SCHEMES, report)
        if url and url.startswith("sentinel") and not options.get("sentinel_master"):
            self.at("broker.sentinel_master")(
                "required with a sentinel:// broker URL (the name of the monitored master)"
            )
        return BrokerSettings(url=url, **options)

    def plugins(self, items: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
        first: dict[str, int] = {}
        instances = []
        for index, item in enumerate(items):
            plugin_id = item["id"]
            if plugin_id in first:
                self.at(f"plugins[{index}].id")(
                    f'duplicate id "{plugin_id}" (already used by plugins[{first[plugin_id]}])'
                )
            first.setdefault(plugin_id, index)
            # A built-in's default instance is named after the plugin (CONTRACT.md).
            instance = {"id": plugin_id, "plugin": plugin_id, "enabled": defaults.PLUGIN_ENABLED}
            instance.update(item)
            instance["tags"] = dict(item.get("tags") or {})
            instance["config"] = dict(item.get("config") or {})
            instances.append(instance)
        return tuple(instances)
