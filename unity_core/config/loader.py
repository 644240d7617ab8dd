"""Builds Settings from unity.yaml, ${VAR} references and UNITY_* variables, or a ConfigError."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import yaml
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from unity_core.config import defaults
from unity_core.config.schema import format_duration, key_path, validate_tree
from unity_core.config.settings import (
    ApiSettings,
    BrokerSettings,
    CacheSettings,
    CacheTTL,
    CollectionSettings,
    DatabaseSettings,
    RetentionSettings,
    Settings,
    TimeseriesSettings,
)
from unity_core.errors import ConfigError

Report = Callable[[str], None]

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")
_DB_HOST_KEYS = frozenset({"type", "host", "port", "database", "username", "path", "options"})
_CACHE_HOST_KEYS = frozenset({"host", "port", "db", "username"})
# Kombu has no valkey:// transport; Valkey speaks the Redis protocol (RELIABILITY.md 1.13).
CACHE_SCHEMES = {"redis": "redis", "rediss": "rediss", "valkey": "redis", "valkeys": "rediss"}
BROKER_SCHEMES = CACHE_SCHEMES | {
    "sentinel": "sentinel",
    "sqla+sqlite": "sqla+sqlite",
    "filesystem": "filesystem",
}
_CERT_REQS = {"required", "optional", "none", "cert_required", "cert_optional", "cert_none"}


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
    tree = _read(file) if file else {}
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


def _read(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise ConfigError(f"cannot read the configuration file: {reason}", str(file)) from None
    try:
        tree = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = error.problem or error.context or "not valid YAML"
        raise ConfigError(f"{where}{problem}", str(file)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"not valid YAML: {error}", str(file)) from None
    if tree is None:  # empty, or only comments
        return {}
    if not isinstance(tree, dict):
        kind = type(tree).__name__
        raise ConfigError(f"the top level must be a mapping of sections, not a {kind}", str(file))
    return tree


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
            collection=CollectionSettings(**loaded.get("collection", {})),
            retention=RetentionSettings(**retention),
            api=ApiSettings(**loaded.get("api", {})),
            plugins=self.plugins(loaded.get("plugins", [])),
        )
        if self.problems:
            sources = {source for source, _ in self.problems}
            if len(sources) == 1:
                raise ConfigError([message for _, message in self.problems], sources.pop())
            raise ConfigError([f"{source}: {message}" for source, message in self.problems])
        return settings

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
            both = sorted(_DB_HOST_KEYS & section.keys())
            if both:
                self.at("database")(
                    f"both url and {', '.join(both)} are set; pick one: a url, "
                    "or type/host/port/database/username/password"
                )
            url = database_url(section["url"], password, self.at("database.url"))
        else:
            url = self.database_host_form(section, data_dir, password)
        options = {k: v for k, v in section.items() if k in DatabaseSettings.__dataclass_fields__}
        options.pop("url", None)
        timeseries = dict(section.get("timeseries", {}))
        timeseries.pop("retention_days", None)
        options["timeseries"] = TimeseriesSettings(**timeseries)
        return DatabaseSettings(url=url, **options)

    def database_host_form(
        self, section: dict[str, Any], data_dir: Path, password: str | None
    ) -> str:
        kind = section.get("type", defaults.DATABASE_TYPE)
        if kind == "sqlite":
            server_keys = _DB_HOST_KEYS - {"type", "path"} | {"password"}
            stray = sorted(k for k in server_keys & section.keys() if section[k] not in (None, ""))
            if stray:
                self.at("database")(
                    f"{', '.join(stray)} not used with type sqlite "
                    "(set database.type to postgresql, mysql or mariadb)"
                )
            path = data_dir / Path(section.get("path", defaults.SQLITE_FILE_NAME)).expanduser()
            return URL.create("sqlite", database=os.path.abspath(path)).render_as_string()
        if "path" in section:
            self.at("database.path")(f"only used with type sqlite, not {kind}")
        driver = "postgresql+psycopg" if kind == "postgresql" else "mysql+pymysql"
        if password and not section.get("username"):
            self.at("database.username")("required when a password is set")
        url = URL.create(
            driver,
            username=section.get("username") or None,
            password=password,
            host=section.get("host", defaults.DATABASE_HOST),
            port=section.get("port", defaults.DATABASE_PORTS[kind]),
            database=section.get("database", defaults.DATABASE_NAME),
            query=section.get("options", {}),
        )
        return url.render_as_string(hide_password=False)

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
            return CacheSettings(enabled=True, type=_kind(text), url=url, ttl=ttls)
        kind = section.get("type")
        wanted = kind not in (None, "none") or bool(section.get("url") or section.get("host"))
        if kind == "none" or not section.get("enabled", wanted):
            return CacheSettings(enabled=False, url=None, ttl=ttls)
        if section.get("url"):
            both = sorted(_CACHE_HOST_KEYS & section.keys())
            if both:
                self.at("cache")(f"both url and {', '.join(both)} are set; pick one")
            url = service_url(section["url"], password, CACHE_SCHEMES, self.at("cache.url"))
            return CacheSettings(
                enabled=True, type=kind or _kind(section["url"]), url=url, ttl=ttls
            )
        userinfo = ""
        if section.get("username") or password:
            userinfo = quote(section.get("username", ""), safe="")
            userinfo += f":{quote(password, safe='')}@" if password else "@"
        host = section.get("host", defaults.CACHE_HOST)
        host = f"[{host}]" if ":" in host else host  # IPv6
        port, db = section.get("port", defaults.CACHE_PORT), section.get("db", defaults.CACHE_DB)
        url = f"redis://{userinfo}{host}:{port}/{db}"
        return CacheSettings(enabled=True, type=kind or "redis", url=url, ttl=ttls)

    def broker(self, section: dict[str, Any]) -> BrokerSettings:
        options = {k: v for k, v in section.items() if k != "url"}
        if self.env.get("UNITY_BROKER_URL"):
            text, report = self.env["UNITY_BROKER_URL"], self.var("UNITY_BROKER_URL")
        elif section.get("url"):
            text, report = section["url"], self.at("broker.url")
        else:
            return BrokerSettings(**options)
        return BrokerSettings(url=service_url(text, None, BROKER_SCHEMES, report), **options)

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


def database_url(text: str, password: str | None, report: Report) -> str:
    """A complete SQLAlchemy URL on an installed driver (psycopg 3, PyMySQL, sqlite3)."""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        # The parser's message can quote the URL, password included; say what is expected instead.
        report("not a valid database URL (expected dialect://user:password@host:port/database)")
        return text
    backend, _, driver = url.drivername.partition("+")
    installed = {"postgresql": "psycopg", "postgres": "psycopg", "mysql": "pymysql"}
    installed |= {"mariadb": "pymysql", "sqlite": "pysqlite"}
    if backend not in installed:
        report(
            f'unknown database dialect "{backend}"; use postgresql://, mysql://, mariadb:// or sqlite://'
        )
        return text
    if driver not in ("", installed[backend]):
        ships = installed[backend]
        report(f'driver "{driver}" is not installed; write {backend}:// (Unity ships {ships})')
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif not driver and backend != "sqlite":
        url = url.set(drivername="mysql+pymysql")
    if backend != "sqlite":
        if not url.database:
            report("missing the database name (…/unity at the end)")
        if password:
            if not url.username:
                report("a password is set but the URL has no username")
            url = url.set(password=password)
    return url.render_as_string(hide_password=False)


def service_url(text: str, password: str | None, schemes: Mapping[str, str], report: Report) -> str:
    """A Redis-protocol (or other kombu) URL with valkey:// rewritten and TLS checks enforced."""
    scheme, separator, rest = text.partition("://")
    scheme = scheme.lower()
    if not separator:
        report("not a URL (expected redis://host:port/db)")
        return text
    if scheme not in schemes:
        accepted = ", ".join(f"{s}://" for s in schemes)
        report(f'unsupported scheme "{scheme}://"; use one of {accepted}')
        return text
    scheme = schemes[scheme]
    url = f"{scheme}://{rest}"
    if scheme not in ("redis", "rediss"):
        return url
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        report("the port is not a number")
    if parts.path.strip("/") and not parts.path.strip("/").isdigit():
        report(f'the database number must be an integer, not "{parts.path.strip("/")}"')
    if scheme == "rediss":
        reqs = parse_qs(parts.query).get("ssl_cert_reqs")
        if not reqs:
            report(
                "rediss:// without ssl_cert_reqs: kombu and redis-py would silently skip "
                "certificate checks (RELIABILITY.md §6.1); add ?ssl_cert_reqs=required "
                "(and ssl_ca_certs=… for a private CA), or write ssl_cert_reqs=none to accept that"
            )
        elif reqs[-1].lower() not in _CERT_REQS:
            report(f'ssl_cert_reqs must be required, optional or none, not "{reqs[-1]}"')
    if password:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        url = parts._replace(netloc=f"{user}:{quote(password, safe='')}@{hostport}").geturl()
    return url


def _kind(url: str) -> str:
    return "valkey" if url.lower().startswith("valkey") else "redis"


_SECRET_KEY = re.compile(r"password|passwd|secret|token|key", re.IGNORECASE)
_SECRET_QUERY = re.compile(r"([?&][^=&]*(?:password|secret|token|key)[^=&]*=)[^&]*", re.IGNORECASE)
MASK = "***"


def mask_url(text: str) -> str:
    """The URL with its password (and any secret-looking query value) replaced by ***."""
    masked = []
    for part in text.split(";"):  # sentinel:// lists several URLs
        scheme, separator, rest = part.partition("://")
        netloc, slash, tail = rest.partition("/")
        userinfo, at, hostport = netloc.rpartition("@")
        if separator and at and ":" in userinfo:
            part = f"{scheme}://{userinfo.partition(':')[0]}:{MASK}@{hostport}{slash}{tail}"
        masked.append(_SECRET_QUERY.sub(rf"\g<1>{MASK}", part))
    return ";".join(masked)


def mask_secrets(node: Any) -> Any:
    """A copy of a plain tree with secret-named keys and URL passwords replaced by ***."""
    if isinstance(node, dict):
        return {
            k: MASK if _SECRET_KEY.search(str(k)) and v not in (None, "") else mask_secrets(v)
            for k, v in node.items()
        }
    if isinstance(node, list | tuple):
        return [mask_secrets(v) for v in node]
    if isinstance(node, str) and "://" in node:
        return mask_url(node)
    return node


def settings_as_dict(settings: Settings, *, masked: bool = True) -> dict[str, Any]:
    """The effective settings as plain YAML/JSON data, durations as "30d"; secrets masked."""

    def plain(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: plain(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [plain(v) for v in node]
        if isinstance(node, timedelta):
            return format_duration(node)
        return str(node) if isinstance(node, Path) else node

    tree = plain(asdict(settings))
    tree.pop("source")
    return mask_secrets(tree) if masked else tree  # type: ignore[no-any-return]
