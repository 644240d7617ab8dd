"""`unity config show` and the masking behind it: what an operator may paste into a bug report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.unit.core.config.conftest import WriteConfig
from unity_core.cli import main
from unity_core.config import load_settings, mask_secrets, mask_url, settings_as_dict


@pytest.fixture(autouse=True)
def _no_unity_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The CLI reads os.environ; keep the developer's own UNITY_* variables out of these tests."""
    for name in [name for name in os.environ if name.startswith("UNITY_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


SECRET_CONFIG = """
database:
  type: postgresql
  host: db.lan
  username: unity
  password: ${UNITY_DB_PASSWORD}
cache:
  url: rediss://worker:cachepw@cache.lan:6380/0?ssl_cert_reqs=required
retention:
  raw_metrics: 2w
plugins:
  - id: nas-web
    plugin: http
    config:
      url: https://admin:webpw@nas.lan/
      api_key: key123
      Auth_Token: tok456
      nested: {client_secret: sec789, port: 443}
"""


def test_show_prints_the_source_and_the_effective_yaml_with_secrets_masked(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a file with secrets in URLs, in the environment and in plugin options
    path = write_config(SECRET_CONFIG)
    monkeypatch.setenv("UNITY_DB_PASSWORD", "dbpw")
    # When `unity --config FILE config show` runs
    result = CliRunner().invoke(main, ["--config", str(path), "config", "show"])
    # Then it prints the source comment, then YAML in which no secret appears
    assert result.exit_code == 0, result.output
    first, _, body = result.output.partition("\n")
    assert first == f"# source: {path.resolve()}"
    for secret in ("dbpw", "cachepw", "webpw", "key123", "tok456", "sec789"):
        assert secret not in result.output
    shown = yaml.safe_load(body)
    assert shown["database"]["url"] == "postgresql+psycopg://unity:***@db.lan:5432/unity"
    assert shown["cache"]["url"] == "rediss://worker:***@cache.lan:6380/0?ssl_cert_reqs=required"
    assert shown["retention"]["raw_metrics"] == "14d"
    assert shown["database"]["timeseries"]["compress_after"] == "7d"
    config = shown["plugins"][0]["config"]
    assert config == {
        "url": "https://admin:***@nas.lan/",
        "api_key": "***",
        "Auth_Token": "***",
        "nested": {"client_secret": "***", "port": 443},
    }


def test_show_without_a_file_says_defaults() -> None:
    # Given no --config, no UNITY_CONFIG and no ./unity.yaml
    # When `unity config show` runs
    result = CliRunner().invoke(main, ["config", "show"])
    # Then the source is the defaults and the database is the embedded SQLite file
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# source: defaults (no file)\n")
    assert yaml.safe_load(result.output)["database"]["url"].endswith("/data/unity.db")


def test_show_as_json_puts_the_source_first(write_config: WriteConfig) -> None:
    # Given a file
    path = write_config("collection: {batch_size: 9}\n")
    # When `unity config show --format json` runs
    result = CliRunner().invoke(main, ["--config", str(path), "config", "show", "--format", "json"])
    # Then the output is JSON with the source as its first key
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert next(iter(shown)) == "source"
    assert shown["source"] == str(path.resolve())
    assert shown["collection"]["batch_size"] == 9
    assert shown["retention"]["daily_aggregates"] == "5y"


def test_show_reports_a_configuration_error_without_a_traceback(write_config: WriteConfig) -> None:
    # Given a file with a typo
    path = write_config("database:\n  pool_sise: 5\n")
    # When `unity config show` runs
    result = CliRunner().invoke(main, ["--config", str(path), "config", "show"])
    # Then it fails with the loader's message
    assert result.exit_code != 0
    assert f'{path}: database.pool_sise: unknown key — did you mean "pool_size"?' in result.output
    assert "Traceback" not in result.output


def test_show_reads_unity_config_through_the_root_option(write_config: WriteConfig) -> None:
    # Given UNITY_CONFIG naming a file
    path = write_config("api: {workers: 6}\n")
    # When `unity config show` runs without --config
    result = CliRunner().invoke(main, ["config", "show"], env={"UNITY_CONFIG": str(path)})
    # Then that file is the source
    assert result.output.startswith(f"# source: {path.resolve()}\n")
    assert yaml.safe_load(result.output)["api"]["workers"] == 6


def test_settings_as_dict_can_leave_secrets_in(write_config: WriteConfig) -> None:
    # Given settings with a database password
    path = write_config("database: {url: 'mysql://u:pw@h/db'}\n")
    settings = load_settings(path, {})
    # When they are turned into plain data without masking
    tree = settings_as_dict(settings, masked=False)
    # Then the password is there, and nothing is a Path or a timedelta
    assert tree["database"]["url"] == "mysql+pymysql://u:pw@h/db"
    assert yaml.safe_load(yaml.safe_dump(tree)) == tree


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://u:p%40ss@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
        ("redis://:pw@r:6379/0", "redis://:***@r:6379/0"),
        ("redis://user@r:6379/0", "redis://user@r:6379/0"),
        ("sqlite:////data/unity.db", "sqlite:////data/unity.db"),
        (
            "sentinel://:a@s1:26379;sentinel://:b@s2:26379",
            "sentinel://:***@s1:26379;sentinel://:***@s2:26379",
        ),
        (
            "postgresql://h/db?user=u&password=pw&sslmode=require",
            "postgresql://h/db?user=u&password=***&sslmode=require",
        ),
        ("https://api.lan/?token=abc", "https://api.lan/?token=***"),
    ],
)
def test_mask_url_hides_passwords_in_userinfo_and_query(url: str, masked: str) -> None:
    # Given a URL that may hold a secret
    # When it is masked
    # Then the secret is *** and the rest is unchanged
    assert mask_url(url) == masked


def test_mask_secrets_masks_secret_named_keys_at_any_depth() -> None:
    # Given a tree with secret-looking keys, empty ones, lists and URLs
    tree = {
        "PASSWORD": "x",
        "list": [{"secret": "y"}, "redis://:z@r/0"],
        "token": None,
        "api_key": "",
        "name": "visible",
    }
    # When it is masked
    masked = mask_secrets(tree)
    # Then values are hidden, absent ones stay absent, and the input is unchanged
    assert masked == {
        "PASSWORD": "***",
        "list": [{"secret": "***"}, "redis://:***@r/0"],
        "token": None,
        "api_key": "",
        "name": "visible",
    }
    assert tree["PASSWORD"] == "x"
