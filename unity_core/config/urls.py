"""Database, cache and broker URLs: built from host form, normalised, checked, given passwords."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from unity_core.config import defaults

Report = Callable[[str], None]
At = Callable[[str], Report]  # the Report for a key path, e.g. at("database.username")

DB_HOST_KEYS = frozenset({"type", "host", "port", "database", "username", "path", "options"})
CACHE_HOST_KEYS = frozenset({"host", "port", "db", "username"})
# Kombu has no valkey:// transport; Valkey speaks the Redis protocol (RELIABILITY.md 1.13).
CACHE_SCHEMES = {"redis": "redis", "rediss": "rediss", "valkey": "redis", "valkeys": "rediss"}
BROKER_SCHEMES = CACHE_SCHEMES | {
    "sentinel": "sentinel",
    "sqla+sqlite": "sqla+sqlite",
    "filesystem": "filesystem",
}
_CERT_REQS = {"required", "optional", "none", "cert_required", "cert_optional", "cert_none"}


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


def database_host_url(
    section: Mapping[str, Any], data_dir: Path, password: str | None, at: At
) -> str:
    """The SQLAlchemy URL for database.type/host/port/…; a SQLite file is relative to data_dir."""
    kind = section.get("type", defaults.DATABASE_TYPE)
    if kind == "sqlite":
        server_keys = DB_HOST_KEYS - {"type", "path"} | {"password"}
        stray = sorted(k for k in server_keys & section.keys() if section[k] not in (None, ""))
        if stray:
            at("database")(
                f"{', '.join(stray)} not used with type sqlite "
                "(set database.type to postgresql, mysql or mariadb)"
            )
        path = data_dir / Path(section.get("path", defaults.SQLITE_FILE_NAME)).expanduser()
        return URL.create("sqlite", database=os.path.abspath(path)).render_as_string()
    if "path" in section:
        at("database.path")(f"only used with type sqlite, not {kind}")
    driver = "postgresql+psycopg" if kind == "postgresql" else "mysql+pymysql"
    if password and not section.get("username"):
        at("database.username")("required when a password is set")
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


def cache_host_url(section: Mapping[str, Any], password: str | None) -> str:
    """The redis:// URL for cache.host/port/db/username, with the password quoted into it."""
    userinfo = ""
    if section.get("username") or password:
        userinfo = quote(section.get("username", ""), safe="")
        userinfo += f":{quote(password, safe='')}@" if password else "@"
    host = section.get("host", defaults.CACHE_HOST)
    host = f"[{host}]" if ":" in host else host  # IPv6
    port, db = section.get("port", defaults.CACHE_PORT), section.get("db", defaults.CACHE_DB)
    return f"redis://{userinfo}{host}:{port}/{db}"


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


def cache_kind(url: str) -> str:
    """The cache type a URL names: valkey for valkey:// and valkeys://, else redis."""
    return "valkey" if url.lower().startswith("valkey") else "redis"
