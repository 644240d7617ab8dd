"""${VAR} references: substituted in values after parsing, failing closed when unset."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.unit.core.config.conftest import WriteConfig
from unity_core.config import load_settings
from unity_core.errors import ConfigError


def test_a_variable_is_substituted_in_a_value(write_config: WriteConfig) -> None:
    # Given a value made of text around a reference
    path = write_config("api: {bind: '${HOST}:8080'}\n")
    # When the variable is set
    settings = load_settings(path, {"HOST": "192.0.2.10"})
    # Then the value carries it
    assert settings.api.bind == "192.0.2.10:8080"


@pytest.mark.parametrize("environ", [{}, {"API_HOST": ""}], ids=["unset", "empty"])
def test_the_default_is_used_when_the_variable_is_unset_or_empty(
    write_config: WriteConfig, environ: dict[str, str]
) -> None:
    # Given a reference with a default
    path = write_config("api: {bind: '${API_HOST:-127.0.0.1}:9000'}\n")
    # When the variable is unset or empty
    settings = load_settings(path, environ)
    # Then the default is used
    assert settings.api.bind == "127.0.0.1:9000"


def test_the_variable_beats_the_default_when_set(write_config: WriteConfig) -> None:
    # Given a reference with a default
    path = write_config("api: {bind: '${API_HOST:-127.0.0.1}:9000'}\n")
    # When the variable is set
    settings = load_settings(path, {"API_HOST": "10.0.0.5"})
    # Then its value wins
    assert settings.api.bind == "10.0.0.5:9000"


def test_double_dollar_escapes_a_literal_reference(write_config: WriteConfig) -> None:
    # Given a plugin option that needs a literal ${...}, and a set variable of that name
    path = write_config("plugins:\n  - id: shell\n    config: {template: 'echo $${HOME} ${WHO}'}\n")
    # When it is loaded
    settings = load_settings(path, {"HOME": "/root", "WHO": "me"})
    # Then the escaped one stays literal and the other is substituted
    assert settings.plugins[0]["config"]["template"] == "echo ${HOME} me"


@pytest.mark.parametrize(
    "secret",
    ["p: ss # not a comment", "- item\nnext: line", "{a: b}", "*alias", "'quoted\"", "${NESTED}"],
)
def test_a_secret_with_yaml_syntax_stays_one_string(write_config: WriteConfig, secret: str) -> None:
    # Given a password reference in the host form
    path = write_config(
        "database:\n  type: postgresql\n  host: db.lan\n  username: u\n"
        "  password: ${UNITY_DB_PASSWORD}\n"
    )
    # When the secret contains what would be YAML structure if re-parsed
    settings = load_settings(path, {"UNITY_DB_PASSWORD": secret})
    # Then it is the password, verbatim, and changes nothing else
    url = make_url(settings.database.url)
    assert url.password == secret
    assert url.host == "db.lan"
    assert settings.database.pool_size == 10


def test_keys_are_never_interpolated(write_config: WriteConfig) -> None:
    # Given a reference in a key of a plugin's free-form config
    path = write_config("plugins:\n  - id: x\n    config: {'${KEY}': '${VALUE}'}\n")
    # When both variables are set
    settings = load_settings(path, {"KEY": "k", "VALUE": "v"})
    # Then only the value was substituted
    assert settings.plugins[0]["config"] == {"${KEY}": "v"}


def test_an_unset_variable_names_the_key_path_and_the_variable(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the design's password reference, loaded as ./unity.yaml
    write_config("database:\n  type: postgresql\n  password: ${UNITY_DB_PASSWORD}\n")
    monkeypatch.chdir(tmp_path)
    # When the variable is not set
    with pytest.raises(ConfigError) as caught:
        load_settings("unity.yaml", {})
    # Then loading fails closed, naming the file, the key path and the variable
    assert str(caught.value) == (
        "unity.yaml: database.password: environment variable UNITY_DB_PASSWORD is not set "
        "(use ${UNITY_DB_PASSWORD:-default} for a default)"
    )


def test_every_unset_variable_and_schema_problem_is_reported_at_once(
    write_config: WriteConfig,
) -> None:
    # Given two unset references (one where a number belongs) and a wrong type elsewhere
    path = write_config(
        """
        database:
          port: ${DB_PORT}
        plugins:
          - id: web
            config: {token: '${WEB_TOKEN}'}
        collection:
          batch_size: lots
        """
    )
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    # Then all three are listed, and the empty port is not reported a second time
    hint = "for a default)"
    assert caught.value.problems == [
        f"database.port: environment variable DB_PORT is not set (use ${{DB_PORT:-default}} {hint}",
        "plugins[0].config.token: environment variable WEB_TOKEN is not set "
        f"(use ${{WEB_TOKEN:-default}} {hint}",
        "collection.batch_size: Not a valid integer.",
    ]


@pytest.mark.parametrize("value", ["${unterminated", "${1BAD}", "${}"])
def test_a_malformed_reference_is_an_error(write_config: WriteConfig, value: str) -> None:
    # Given a reference that is not ${NAME} or ${NAME:-default}
    path = write_config(f"api: {{bind: '{value}'}}\n")
    # When it is loaded
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"unterminated": "x", "1BAD": "y"})
    # Then it fails closed with a hint about escaping
    assert caught.value.problems == [
        "api.bind: malformed ${…} reference (write $${ for a literal ${)"
    ]


def test_substituted_strings_are_converted_to_the_keys_types(write_config: WriteConfig) -> None:
    # Given numbers and booleans that come from variables
    path = write_config(
        "database: {type: mysql, host: db, port: '${DB_PORT}'}\n"
        "cache: {enabled: '${CACHE_ON:-false}'}\n"
        "collection: {batch_timeout: '${BATCH_TIMEOUT:-2.5}', default_interval: '${EVERY:-1m}'}\n"
    )
    # When they are set, or defaulted
    settings = load_settings(path, {"DB_PORT": "3307"})
    # Then the schema converted them like literal values
    assert settings.database.url == "mysql+pymysql://db:3307/unity"
    assert settings.cache.enabled is False
    assert settings.collection.batch_timeout == 2.5
    assert settings.collection.default_interval == 60
