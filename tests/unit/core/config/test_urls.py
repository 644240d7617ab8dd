"""Database, cache and broker URLs: both database forms, installed drivers, Redis TLS rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.unit.core.config.conftest import WriteConfig
from unity_core.config import load_settings
from unity_core.errors import ConfigError


def problems(
    write_config: WriteConfig, text: str, environ: dict[str, str] | None = None
) -> list[str]:
    """The problems loading `text` reports (without the file prefix)."""
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return caught.value.problems


def test_host_form_escapes_special_characters_in_credentials(write_config: WriteConfig) -> None:
    # Given the design's host form with URL-special characters in username and password
    path = write_config(
        """
        database:
          type: postgresql
          host: db.lan
          database: metrics
          username: "unity@home"
          password: "p@ss:w/rd?#%&="
          options: {sslmode: require}
        """
    )
    # When it is loaded
    settings = load_settings(path, {})
    # Then the URL is escaped so that SQLAlchemy reads back exactly what was written
    url = make_url(settings.database.url)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password) == ("unity@home", "p@ss:w/rd?#%&=")
    assert (url.host, url.port, url.database) == ("db.lan", 5432, "metrics")
    assert dict(url.query) == {"sslmode": "require"}
    assert "%40" in settings.database.url


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("postgresql", "postgresql+psycopg://unity:pw@localhost:5432/unity"),
        ("mysql", "mysql+pymysql://unity:pw@localhost:3306/unity"),
        ("mariadb", "mysql+pymysql://unity:pw@localhost:3306/unity"),
    ],
)
def test_host_form_defaults_port_host_and_database(
    write_config: WriteConfig, kind: str, expected: str
) -> None:
    # Given only a type and credentials
    path = write_config(f"database: {{type: {kind}, username: unity, password: pw}}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then the dialect's port, localhost and the database "unity" fill the rest
    assert settings.database.url == expected


def test_sqlite_path_is_relative_to_data_dir(write_config: WriteConfig, tmp_path: Path) -> None:
    # Given a relative SQLite path and a data directory
    path = write_config(f"data_dir: {tmp_path}/state\ndatabase: {{type: sqlite, path: db/u.db}}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then the file sits under data_dir, as an absolute SQLAlchemy URL
    assert settings.database.url == f"sqlite:///{tmp_path}/state/db/u.db"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("postgresql://u:p@h:5432/unity", "postgresql+psycopg://u:p@h:5432/unity"),
        ("postgres://u:p@h/unity", "postgresql+psycopg://u:p@h/unity"),
        ("postgresql+psycopg://u:p@h/unity", "postgresql+psycopg://u:p@h/unity"),
        ("mysql://u:p@h/unity", "mysql+pymysql://u:p@h/unity"),
        ("mariadb://u:p@h/unity", "mysql+pymysql://u:p@h/unity"),
        ("mariadb+pymysql://u:p@h/unity", "mariadb+pymysql://u:p@h/unity"),
        ("sqlite:///relative/path.db", "sqlite:///relative/path.db"),
        ("sqlite:////abs/path.db", "sqlite:////abs/path.db"),
    ],
)
def test_url_form_is_normalised_to_the_installed_drivers(
    write_config: WriteConfig, written: str, expected: str
) -> None:
    # Given a database URL with or without a driver
    path = write_config(f"database: {{url: '{written}', pool_size: 3}}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then it names a driver Unity ships, and the pool keys still apply
    assert settings.database.url == expected
    assert settings.database.pool_size == 3


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("postgresql+psycopg2://u@h/db", 'driver "psycopg2" is not installed; write postgresql://'),
        ("mysql+mysqldb://u@h/db", 'driver "mysqldb" is not installed; write mysql://'),
        ("oracle://u@h/db", 'unknown database dialect "oracle"'),
        ("not a url", "not a valid database URL"),
        ("postgresql://u@h:port/db", "not a valid database URL"),
        ("postgresql://u@h", "missing the database name"),
        ("mysql://u@h/", "missing the database name"),
    ],
)
def test_a_bad_database_url_names_database_url_and_the_problem(
    write_config: WriteConfig, written: str, expected: str
) -> None:
    # Given a database URL Unity cannot use
    # When it is loaded
    found = problems(write_config, f"database: {{url: '{written}'}}\n")
    # Then database.url and the reason are named
    assert len(found) == 1
    assert found[0].startswith(f"database.url: {expected}")


def test_a_bad_url_message_never_shows_the_password(write_config: WriteConfig) -> None:
    # Given an unparseable URL with a password in it
    # When it is loaded
    found = problems(write_config, "database: {url: 'postgresql://u:hunter2@h:x/db'}\n")
    # Then the password is not in the message
    assert "hunter2" not in "\n".join(found)


def test_url_and_host_form_together_are_an_error(write_config: WriteConfig) -> None:
    # Given both a URL and host-form keys
    # When it is loaded
    found = problems(write_config, "database: {url: 'postgresql://u@h/db', type: mysql, host: x}\n")
    # Then the message says to pick one
    assert len(found) == 1
    assert found[0].startswith("database: both url and host, type are set; pick one")


def test_server_keys_with_sqlite_are_an_error(write_config: WriteConfig) -> None:
    # Given a host but no type, so the SQLite default would silently win
    # When it is loaded
    found = problems(write_config, "database: {host: db.lan, username: u}\n")
    # Then the stray keys are named with the fix
    assert found == [
        "database: host, username not used with type sqlite "
        "(set database.type to postgresql, mysql or mariadb)"
    ]


def test_a_password_without_a_username_is_an_error(write_config: WriteConfig) -> None:
    # Given a password for a URL that has no user to go with it
    # When it is loaded
    found = problems(
        write_config, "database: {url: 'postgresql://h/db'}\n", {"UNITY_DB_PASSWORD": "x"}
    )
    # Then the URL is named, since the password would be dropped silently
    assert found == ["database.url: a password is set but the URL has no username"]


def test_the_cache_is_off_by_default(write_config: WriteConfig) -> None:
    # Given a file without a cache section
    path = write_config("api: {workers: 1}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then the cache is disabled and has no URL
    assert (settings.cache.enabled, settings.cache.type, settings.cache.url) == (
        False,
        "none",
        None,
    )


def test_cache_host_form_from_the_design(write_config: WriteConfig) -> None:
    # Given the design's cache section
    path = write_config(
        """
        cache:
          enabled: true
          type: redis
          host: cache.lan
          port: 6380
          db: 2
          password: "a:b@c"
        """
    )
    # When it is loaded
    settings = load_settings(path, {})
    # Then a Redis URL is built, the password escaped
    assert settings.cache.enabled is True
    assert settings.cache.url == "redis://:a%3Ab%40c@cache.lan:6380/2"


@pytest.mark.parametrize(
    "section",
    ["{type: none, host: cache.lan}", "{enabled: false, type: redis, host: cache.lan}", "{}"],
)
def test_type_none_or_enabled_false_turns_the_cache_off(
    write_config: WriteConfig, section: str
) -> None:
    # Given a cache section that disables the cache
    path = write_config(f"cache: {section}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then there is no cache URL
    assert settings.cache.enabled is False
    assert settings.cache.url is None


@pytest.mark.parametrize(
    ("written", "expected", "kind"),
    [
        ("valkey://cache.lan:6379/0", "redis://cache.lan:6379/0", "valkey"),
        (
            "valkeys://cache.lan:6380/0?ssl_cert_reqs=required",
            "rediss://cache.lan:6380/0?ssl_cert_reqs=required",
            "valkey",
        ),
        ("redis://cache.lan", "redis://cache.lan", "redis"),
        ("rediss://c:6380/0?ssl_cert_reqs=none", "rediss://c:6380/0?ssl_cert_reqs=none", "redis"),
    ],
)
def test_cache_urls_are_rewritten_for_redis_clients(
    write_config: WriteConfig, written: str, expected: str, kind: str
) -> None:
    # Given a cache URL, possibly with a valkey scheme
    path = write_config(f"cache: {{url: '{written}'}}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then the cache is on, with a scheme redis-py and kombu understand
    assert (settings.cache.enabled, settings.cache.url, settings.cache.type) == (
        True,
        expected,
        kind,
    )


@pytest.mark.parametrize("key", ["cache", "broker"])
def test_rediss_without_ssl_cert_reqs_is_an_error(write_config: WriteConfig, key: str) -> None:
    # Given a TLS Redis URL that does not say how to check the certificate
    # When it is loaded
    found = problems(write_config, f"{key}: {{url: 'rediss://:pw@redis.lan:6380/0'}}\n")
    # Then the message explains the silent fallback and the explicit way out
    assert len(found) == 1
    assert found[0].startswith(f"{key}.url: rediss:// without ssl_cert_reqs")
    assert "silently skip certificate checks" in found[0]
    assert "ssl_cert_reqs=none" in found[0]


def test_an_unknown_ssl_cert_reqs_value_is_an_error(write_config: WriteConfig) -> None:
    # Given a misspelt ssl_cert_reqs
    # When it is loaded
    found = problems(write_config, "broker: {url: 'rediss://r:6380/0?ssl_cert_reqs=requried'}\n")
    # Then the accepted values are named
    assert found == ['broker.url: ssl_cert_reqs must be required, optional or none, not "requried"']


@pytest.mark.parametrize(
    "written",
    [
        "redis://:pw@r.lan:6379/0",
        "rediss://r.lan:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/ca.pem",
        "valkey://r.lan:6379/0",
        "sentinel://s1:26379;sentinel://s2:26379",
        "sqla+sqlite:////var/lib/unity/broker.db",
        "filesystem://",
    ],
)
def test_the_broker_accepts_kombu_schemes(write_config: WriteConfig, written: str) -> None:
    # Given a broker URL of a supported kind
    master = ", sentinel_master: mymaster" if written.startswith("sentinel") else ""
    path = write_config(f"broker: {{url: '{written}'{master}}}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then it is kept (valkey rewritten to redis)
    assert settings.broker.url == written.replace("valkey://", "redis://")


@pytest.mark.parametrize(
    ("key", "written", "scheme"),
    [
        ("cache", "sentinel://s1:26379", "sentinel"),
        ("cache", "filesystem://", "filesystem"),
        ("cache", "memcached://m.lan:11211", "memcached"),
        ("broker", "amqp://guest@rabbit//", "amqp"),
        ("broker", "redis+cluster://r.lan:7000", "redis+cluster"),
    ],
)
def test_unsupported_schemes_are_rejected_by_name(
    write_config: WriteConfig, key: str, written: str, scheme: str
) -> None:
    # Given a URL whose scheme Unity does not support for that role
    # When it is loaded
    found = problems(write_config, f"{key}: {{url: '{written}'}}\n")
    # Then the scheme is named
    assert len(found) == 1
    assert found[0].startswith(f'{key}.url: unsupported scheme "{scheme}://"; use one of redis://')


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("redis://r.lan:abc/0", "cache.url: the port is not a number"),
        (
            "redis://r.lan:6379/zero",
            'cache.url: the database number must be an integer, not "zero"',
        ),
        ("r.lan:6379", "cache.url: not a URL (expected redis://host:port/db)"),
    ],
)
def test_a_malformed_redis_url_is_an_error(
    write_config: WriteConfig, written: str, expected: str
) -> None:
    # Given a Redis URL redis-py could not use
    # When it is loaded
    # Then the problem is named
    assert problems(write_config, f"cache: {{url: '{written}'}}\n") == [expected]


def test_cache_url_and_host_form_together_are_an_error(write_config: WriteConfig) -> None:
    # Given a cache URL and a host
    # When it is loaded
    found = problems(write_config, "cache: {url: 'redis://a', host: b}\n")
    # Then the message says to pick one
    assert found == ["cache: both url and host are set; pick one"]


def test_an_empty_url_counts_as_absent(write_config: WriteConfig) -> None:
    # Given optional URLs written as ${VAR:-} next to a host form
    path = write_config(
        """
        database: {url: '${DB_URL:-}', type: mysql, host: db.lan, username: u}
        cache: {url: '${CACHE_URL:-}'}
        broker: {url: '${BROKER_URL:-}'}
        """
    )
    # When the variables are unset
    settings = load_settings(path, {})
    # Then the host form is used, and cache and broker keep their defaults
    assert settings.database.url == "mysql+pymysql://u@db.lan:3306/unity"
    assert settings.cache.enabled is False
    assert settings.broker.url is None
