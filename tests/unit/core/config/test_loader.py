"""Which file is read, what an absent or broken file means, and how UNITY_* variables win."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.unit.core.config.conftest import WriteConfig
from unity_core.config import (
    CacheSettings,
    CollectionSettings,
    RetentionSettings,
    load_settings,
)
from unity_core.errors import ConfigError


def test_no_file_means_sqlite_under_data_dir_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a directory without unity.yaml and an environment without UNITY_* variables
    monkeypatch.chdir(tmp_path)
    # When the settings are loaded
    settings = load_settings(environ={})
    # Then everything is a default and the database is a SQLite file under ./data
    assert settings.source is None
    assert settings.data_dir == tmp_path / "data"
    assert settings.database.url == f"sqlite:///{tmp_path}/data/unity.db"
    assert settings.database.url.startswith("sqlite:////")
    assert settings.cache == CacheSettings()
    assert settings.broker.url is None
    assert settings.collection == CollectionSettings()
    assert settings.retention == RetentionSettings()
    assert settings.plugins == ()


def test_unity_data_dir_moves_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given UNITY_DATA_DIR pointing somewhere relative to the working directory
    monkeypatch.chdir(tmp_path)
    # When the settings are loaded without a file
    settings = load_settings(environ={"UNITY_DATA_DIR": "state"})
    # Then the data directory is made absolute and holds the database
    assert settings.data_dir == tmp_path / "state"
    assert settings.database.url == f"sqlite:///{tmp_path}/state/unity.db"


def test_unity_data_dir_beats_the_file(write_config: WriteConfig, tmp_path: Path) -> None:
    # Given a file with its own data_dir
    path = write_config("data_dir: /srv/unity\n")
    # When UNITY_DATA_DIR is set too
    settings = load_settings(path, {"UNITY_DATA_DIR": str(tmp_path / "elsewhere")})
    # Then the variable wins
    assert settings.data_dir == tmp_path / "elsewhere"


def test_relative_data_dir_in_the_file_is_relative_to_the_file(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a file saying data_dir: ./var, loaded from another working directory
    path = write_config("data_dir: ./var\n")
    monkeypatch.chdir("/")
    # When the settings are loaded
    settings = load_settings(path, {})
    # Then data_dir sits beside the file, whatever the working directory
    assert settings.data_dir == tmp_path / "var"
    assert settings.source == path.resolve()


def test_unity_config_names_the_file_when_no_path_is_given(write_config: WriteConfig) -> None:
    # Given a file named only by UNITY_CONFIG
    path = write_config("collection: {batch_size: 7}\n", name="named.yaml")
    # When the settings are loaded without a path
    settings = load_settings(environ={"UNITY_CONFIG": str(path)})
    # Then that file was read
    assert settings.collection.batch_size == 7
    assert settings.source == path.resolve()


def test_explicit_path_beats_unity_config(write_config: WriteConfig) -> None:
    # Given two files, one named explicitly and one by UNITY_CONFIG
    explicit = write_config("collection: {batch_size: 1}\n", name="explicit.yaml")
    by_env = write_config("collection: {batch_size: 2}\n", name="env.yaml")
    # When both are given
    settings = load_settings(explicit, {"UNITY_CONFIG": str(by_env)})
    # Then the explicit one is used
    assert settings.collection.batch_size == 1


def test_unity_yaml_in_the_working_directory_is_used_when_nothing_is_named(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given ./unity.yaml and no UNITY_CONFIG
    write_config("api: {workers: 5}\n")
    monkeypatch.chdir(tmp_path)
    # When the settings are loaded
    settings = load_settings(environ={})
    # Then ./unity.yaml was read
    assert settings.api.workers == 5
    assert settings.source == tmp_path / "unity.yaml"


@pytest.mark.parametrize("by_env", [False, True], ids=["explicit", "UNITY_CONFIG"])
def test_a_named_file_that_does_not_exist_is_an_error_naming_it(
    tmp_path: Path, by_env: bool
) -> None:
    # Given a path to nowhere
    missing = tmp_path / "nope.yaml"
    # When it is named explicitly or through UNITY_CONFIG
    with pytest.raises(ConfigError) as caught:
        if by_env:
            load_settings(environ={"UNITY_CONFIG": str(missing)})
        else:
            load_settings(missing, {})
    # Then the message names the file
    assert str(missing) in str(caught.value)
    assert "not found" in str(caught.value)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n", "---\n"])
def test_an_empty_or_comment_only_file_means_defaults(write_config: WriteConfig, text: str) -> None:
    # Given a file with nothing but whitespace or comments
    path = write_config(text)
    # When it is loaded
    settings = load_settings(path, {})
    # Then every setting is a default
    assert settings.collection == CollectionSettings()
    assert settings.database.url.endswith("/data/unity.db")


def test_sections_with_every_key_commented_out_mean_defaults(write_config: WriteConfig) -> None:
    # Given sections whose keys are all commented out (YAML reads them as null)
    path = write_config(
        """
        database:
          # type: postgresql
        cache:
        retention:
        plugins:
        """
    )
    # When it is loaded
    settings = load_settings(path, {})
    # Then they mean the defaults
    assert settings.database.url.startswith("sqlite:///")
    assert settings.cache.enabled is False
    assert settings.plugins == ()


@pytest.mark.parametrize("text", ["- database\n- cache\n", "just a string\n", "42\n"])
def test_a_top_level_that_is_not_a_mapping_is_an_error(
    write_config: WriteConfig, text: str
) -> None:
    # Given a file whose top level is a list or a scalar
    path = write_config(text)
    # When it is loaded
    with pytest.raises(ConfigError, match="top level must be a mapping") as caught:
        load_settings(path, {})
    # Then the message names the file
    assert caught.value.source == str(path)


def test_malformed_yaml_reports_file_line_and_column(write_config: WriteConfig) -> None:
    # Given a file with a broken mapping on its third line
    path = write_config("database:\n  pool_size: 5\n  bad: value: here\n")
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    # Then the message names the file, the line and the column, without a traceback
    assert str(caught.value).startswith(f"{path}: line 3, column 13: ")
    assert "mapping values are not allowed here" in str(caught.value)


def test_a_top_level_key_given_twice_is_an_error_naming_both_lines(
    write_config: WriteConfig,
) -> None:
    # Given a file with two collection sections, which plain safe_load would merge silently
    path = write_config(
        """
        collection:
          batch_size: 7
        api:
          workers: 2
        collection:
          retry_count: 1
        """
    )
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    # Then the message names the file, the second occurrence's line, the key and the first line
    assert str(caught.value) == f"{path}: line 6: collection: duplicate key (first at line 2)"
    assert caught.value.source == str(path)


def test_a_nested_key_given_twice_is_an_error_naming_its_key_path(
    write_config: WriteConfig,
) -> None:
    # Given a database section that sets host twice, a few lines apart
    path = write_config(
        """
        database:
          type: postgresql
          host: db1.example.com
          port: 5432
          username: unity

          host: db2.example.com
        """
    )
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    # Then the message gives the full key path and both lines, not the value kept last
    assert str(caught.value) == f"{path}: line 8: database.host: duplicate key (first at line 4)"


def test_a_duplicate_key_inside_a_plugin_list_item_names_the_item(
    write_config: WriteConfig,
) -> None:
    # Given a plugin instance whose config repeats a key
    path = write_config(
        """
        plugins:
          - id: ping
            config:
              hosts: [a]
              hosts: [b]
        """
    )
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    # Then the key path goes through the list index
    assert "line 6: plugins[0].config.hosts: duplicate key (first at line 5)" in str(caught.value)


def test_a_key_overriding_a_merged_anchor_is_not_a_duplicate(write_config: WriteConfig) -> None:
    # Given two plugin instances sharing options through a YAML merge key, one overriding a value
    path = write_config(
        """
        plugins:
          - &common
            id: ping-a
            interval: 30s
            tags: {site: lab}
          - <<: *common
            id: ping-b
            interval: 60s
        """
    )
    # When it is loaded
    settings = load_settings(path, {})
    # Then the explicit keys win over the merged ones, as YAML merge keys intend
    first, second = settings.plugins
    assert (first["id"], first["interval"]) == ("ping-a", 30)
    assert (second["id"], second["interval"], second["tags"]) == ("ping-b", 60, {"site": "lab"})


def test_python_tags_are_still_refused(write_config: WriteConfig, tmp_path: Path) -> None:
    # Given a file that asks YAML to run a command while loading
    marker = tmp_path / "ran"
    path = write_config(f"api: !!python/object/apply:os.system ['touch {marker}']\n")
    # When it is loaded
    with pytest.raises(ConfigError, match="could not determine a constructor") as caught:
        load_settings(path, {})
    # Then it is a ConfigError naming the file, and nothing ran
    assert caught.value.source == str(path)
    assert not marker.exists()


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    # Given a directory where a file is expected
    # When it is named as the configuration
    with pytest.raises(ConfigError, match="cannot read") as caught:
        load_settings(tmp_path, {})
    # Then the error names it
    assert caught.value.source == str(tmp_path)


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    # Given a file in Latin-1 with a non-ASCII byte
    path = tmp_path / "unity.yaml"
    path.write_bytes("api: {bind: 'h\xe9:1'}\n".encode("latin-1"))
    # When it is loaded
    # Then it is a ConfigError, not a UnicodeDecodeError
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(path, {})


def test_nothing_is_read_at_import_time(tmp_path: Path) -> None:
    # Given UNITY_CONFIG naming a file that does not exist
    env = {"UNITY_CONFIG": str(tmp_path / "missing.yaml"), "PATH": "/usr/bin:/bin"}
    # When a fresh interpreter imports the configuration package and the CLI
    probe = "import unity_core.config, unity_core.cli.config; print('imported')"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=Path.cwd()
    )
    # Then importing neither read it nor failed
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "imported"


def test_retention_days_from_the_design_sets_raw_metrics(write_config: WriteConfig) -> None:
    # Given the design's database.timeseries.retention_days
    path = write_config("database: {timeseries: {retention_days: 14}}\n")
    # When it is loaded
    settings = load_settings(path, {})
    # Then raw samples are kept that long
    assert settings.retention.raw_metrics == timedelta(days=14)


def test_retention_raw_metrics_beats_retention_days(write_config: WriteConfig) -> None:
    # Given both the design's retention_days and an explicit retention.raw_metrics
    path = write_config(
        "database: {timeseries: {retention_days: 14}}\nretention: {raw_metrics: 60d}\n"
    )
    # When it is loaded
    settings = load_settings(path, {})
    # Then the explicit setting wins
    assert settings.retention.raw_metrics == timedelta(days=60)


def test_plugins_become_plain_dicts_with_framework_defaults(write_config: WriteConfig) -> None:
    # Given two plugin instances, one with every framework key and one with only an id
    path = write_config(
        """
        plugins:
          - id: nas-web
            plugin: http
            name: NAS web UI
            enabled: false
            interval: 30s
            timeout: 10
            retry_count: 2
            retry_delay: 1m
            retry_backoff: 1.5
            queue: host.nas
            tags: {site: rack1}
            config:
              url: https://nas.lan/
              expect_status: 200
          - id: system
        """
    )
    # When it is loaded
    settings = load_settings(path, {})
    # Then each is a plain dict, durations in seconds, and the plugin defaults to the id
    nas, system = settings.plugins
    assert nas == {
        "id": "nas-web",
        "plugin": "http",
        "enabled": False,
        "name": "NAS web UI",
        "interval": 30,
        "timeout": 10,
        "retry_count": 2,
        "retry_delay": 60,
        "retry_backoff": 1.5,
        "queue": "host.nas",
        "tags": {"site": "rack1"},
        "config": {"url": "https://nas.lan/", "expect_status": 200},
    }
    assert system == {"id": "system", "plugin": "system", "enabled": True, "tags": {}, "config": {}}


def test_a_duplicate_plugin_id_names_both_entries(write_config: WriteConfig) -> None:
    # Given two instances with the same id
    path = write_config("plugins:\n  - id: ping\n  - id: dns\n  - id: ping\n")
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    # Then the message points at the second and mentions the first
    assert caught.value.problems == [
        'plugins[2].id: duplicate id "ping" (already used by plugins[0])'
    ]


def test_empty_unity_variables_are_ignored(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given compose-style empty variables
    monkeypatch.chdir(tmp_path)
    env = {
        "UNITY_CONFIG": "",
        "UNITY_DATABASE_URL": "",
        "UNITY_CACHE_URL": "",
        "UNITY_BROKER_URL": "",
        "UNITY_DATA_DIR": "",
    }
    # When the settings are loaded
    settings = load_settings(environ=env)
    # Then they count as unset
    assert settings.database.url == f"sqlite:///{tmp_path}/data/unity.db"
    assert settings.cache.enabled is False
    assert settings.broker.url is None


def test_unity_database_url_beats_the_file(write_config: WriteConfig) -> None:
    # Given a file in host form
    path = write_config("database: {type: mysql, host: db.lan, username: u}\n")
    # When UNITY_DATABASE_URL is set
    settings = load_settings(path, {"UNITY_DATABASE_URL": "postgresql://u@pg.lan/unity"})
    # Then the variable's database is used, with the installed driver
    assert settings.database.url == "postgresql+psycopg://u@pg.lan/unity"


def test_unity_broker_url_beats_the_file(write_config: WriteConfig) -> None:
    # Given a broker in the file
    path = write_config("broker: {url: 'redis://file.lan:6379/0', visibility_timeout: 1h}\n")
    # When UNITY_BROKER_URL is set
    settings = load_settings(path, {"UNITY_BROKER_URL": "valkey://env.lan:6379/1"})
    # Then the variable wins, rewritten for kombu, and the other broker keys still apply
    assert settings.broker.url == "redis://env.lan:6379/1"
    assert settings.broker.visibility_timeout == 3600


def test_unity_cache_url_enables_the_cache(write_config: WriteConfig) -> None:
    # Given a file that turns the cache off
    path = write_config("cache: {enabled: false, ttl: {status: 5}}\n")
    # When UNITY_CACHE_URL is set
    settings = load_settings(path, {"UNITY_CACHE_URL": "redis://cache.lan:6379/2"})
    # Then the cache is on, of type redis, keeping the file's TTLs
    assert settings.cache.enabled is True
    assert settings.cache.type == "redis"
    assert settings.cache.url == "redis://cache.lan:6379/2"
    assert settings.cache.ttl.status == 5


def test_db_password_is_injected_into_a_url_from_the_file(write_config: WriteConfig) -> None:
    # Given a URL with a placeholder password
    path = write_config("database: {url: 'postgresql://unity:changeme@db.lan/unity'}\n")
    # When UNITY_DB_PASSWORD holds the real one, with URL-special characters
    settings = load_settings(path, {"UNITY_DB_PASSWORD": "p@ss/w:rd#1"})
    # Then the URL carries it, escaped
    assert settings.database.url == "postgresql+psycopg://unity:p%40ss%2Fw%3Ard%231@db.lan/unity"


def test_db_password_is_injected_into_unity_database_url() -> None:
    # Given a URL without a password in the environment, and the password beside it
    env = {"UNITY_DATABASE_URL": "mysql://unity@db.lan/unity", "UNITY_DB_PASSWORD": "s e c"}
    # When the settings are loaded
    settings = load_settings(environ=env)
    # Then the password is in the URL
    assert settings.database.url == "mysql+pymysql://unity:s e c@db.lan/unity"


def test_db_password_fills_the_host_form(write_config: WriteConfig) -> None:
    # Given the design's host form with no password in the file
    path = write_config("database: {type: postgresql, host: db.lan, username: unity}\n")
    # When UNITY_DB_PASSWORD is set
    settings = load_settings(path, {"UNITY_DB_PASSWORD": "hunter2"})
    # Then the built URL contains it
    assert settings.database.url == "postgresql+psycopg://unity:hunter2@db.lan:5432/unity"


def test_password_file_variables_read_docker_secrets(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    # Given secrets files ending in a newline, as editors and `echo` write them
    (tmp_path / "db").write_text("db pass\n", encoding="utf-8")
    (tmp_path / "cache").write_text("cache:pass\r\n", encoding="utf-8")
    path = write_config(
        "database: {type: postgresql, host: db.lan, username: unity}\n"
        "cache: {type: redis, host: cache.lan}\n"
    )
    env = {
        "UNITY_DB_PASSWORD_FILE": str(tmp_path / "db"),
        "UNITY_CACHE_PASSWORD_FILE": str(tmp_path / "cache"),
    }
    # When the settings are loaded
    settings = load_settings(path, env)
    # Then the passwords are the files' contents without the trailing newline
    assert settings.database.url == "postgresql+psycopg://unity:db pass@db.lan:5432/unity"
    assert settings.cache.url == "redis://:cache%3Apass@cache.lan:6379/0"


def test_a_password_and_its_file_variable_together_are_an_error() -> None:
    # Given both UNITY_DB_PASSWORD and UNITY_DB_PASSWORD_FILE
    env = {
        "UNITY_DATABASE_URL": "postgresql://u@h/db",
        "UNITY_DB_PASSWORD": "a",
        "UNITY_DB_PASSWORD_FILE": "/run/secrets/db",
    }
    # When the settings are loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env)
    # Then the message says to use one of them
    assert caught.value.source == "environment"
    assert caught.value.problems == [
        "UNITY_DB_PASSWORD_FILE: set together with UNITY_DB_PASSWORD; use one of them"
    ]


def test_an_unreadable_password_file_names_the_variable(tmp_path: Path) -> None:
    # Given UNITY_CACHE_PASSWORD_FILE naming a missing file
    env = {
        "UNITY_CACHE_URL": "redis://cache.lan:6379/0",
        "UNITY_CACHE_PASSWORD_FILE": str(tmp_path / "missing"),
    }
    # When the settings are loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env)
    # Then the error names the variable and the file
    assert str(caught.value) == (
        f"environment: UNITY_CACHE_PASSWORD_FILE: cannot read {tmp_path / 'missing'}: "
        "No such file or directory"
    )


def test_cache_password_is_injected_into_unity_cache_url() -> None:
    # Given a cache URL with a username and no password
    env = {"UNITY_CACHE_URL": "redis://worker@cache.lan:6379/0", "UNITY_CACHE_PASSWORD": "p@ss"}
    # When the settings are loaded
    settings = load_settings(environ=env)
    # Then the password joins the username in the URL
    assert settings.cache.url == "redis://worker:p%40ss@cache.lan:6379/0"


def test_problems_from_file_and_environment_are_reported_together(
    write_config: WriteConfig,
) -> None:
    # Given a bad cache URL in the file and a bad database URL in the environment
    path = write_config("cache: {url: 'memcached://cache.lan'}\n")
    # When the settings are loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"UNITY_DATABASE_URL": "oracle://u@h/db"})
    # Then both are listed, each prefixed with where it came from
    message = str(caught.value)
    assert f"{path}: cache.url: unsupported scheme" in message
    assert 'environment: UNITY_DATABASE_URL: unknown database dialect "oracle"' in message
