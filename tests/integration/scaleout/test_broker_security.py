"""A broker reached across hosts: Redis with an ACL user and password, and rediss:// with
certificate checks, through Unity's configuration loader to kombu (what workers and beat use)
and redis-py (what `unity status` uses).

Runs a private redis-server with TLS on loopback and a throwaway CA made with openssl.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from kombu import Connection

from tests.integration.workers.faults import free_port
from tests.integration.workers.harness import wait_for
from tests.services import REQUIRE_SERVICES
from unity_core.config import load_settings
from unity_core.errors import ConfigError
from unity_core.status import probe_broker

USER = "unity-worker"
PASSWORD = "p@ss/w:rd#1"  # every character a URL would otherwise misread


@dataclass
class TlsRedis:
    port: int
    ca: Path
    other_ca: Path

    def url(self, *, password: str = PASSWORD, ca: Path | None = None) -> str:
        """rediss:// with the ACL user, a quoted password and the certificate checked."""
        auth = f"{quote(USER, safe='')}:{quote(password, safe='')}"
        query = f"ssl_cert_reqs=required&ssl_ca_certs={ca or self.ca}"
        return f"rediss://{auth}@127.0.0.1:{self.port}/0?{query}"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(folder: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=folder)  # fmt: skip


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    missing = [tool for tool in ("redis-server", "openssl") if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("tls")
    _ca(folder, "ca")
    _ca(folder, "other-ca")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=broker", "-keyout",
             "server.key", "-out", "server.csr", cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem",
             cwd=folder)  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.pem", "--tls-key-file", "server.key",
         "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no", "--save", "",
         "--appendonly", "no", "--dir", str(folder),
         "--user", "default", "off",
         "--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all", "-config"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    found = TlsRedis(port, folder / "ca.pem", folder / "other-ca.pem")
    try:
        wait_for(lambda: _kombu_ping(found.url()) is None, 20, "the TLS Redis", interval=0.2)
        yield found
    finally:
        server.kill()
        server.wait(timeout=10)


def _kombu_ping(url: str) -> BaseException | None:
    """None when kombu connects (TLS, AUTH) and round-trips a message, else the error."""
    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
            queue = connection.SimpleQueue("unity-tls-probe")
            queue.put({"ping": 1})
            message = queue.get(timeout=3)
            message.ack()
            queue.close()
    except Exception as error:  # the caller asserts on what happened
        return error
    return None


def _config(tmp_path: Path, broker_url: str) -> Path:
    path = tmp_path / "unity.yaml"
    path.write_text(
        f"database: {{url: 'sqlite:///{tmp_path}/u.db'}}\nbroker: {{url: '{broker_url}'}}\n"
    )
    return path


def test_an_acl_user_over_verified_tls_carries_work(tls_redis: TlsRedis, tmp_path: Path) -> None:
    # Given a configuration naming the broker with an ACL user, a password needing quoting,
    # and a certificate check against the broker's CA
    settings = load_settings(_config(tmp_path, tls_redis.url()), environ={})
    assert settings.broker.url is not None
    # Then kombu, as the workers use it, authenticates and carries a message
    assert _kombu_ping(settings.broker.url) is None
    # And `unity status` reaches it, without showing the password
    probe = probe_broker(settings)
    assert probe.ok, probe.detail
    assert PASSWORD not in probe.detail and quote(PASSWORD, safe="") not in probe.detail
    # And the ACL user may not run CONFIG, which status reports as a warning, not a failure
    assert any("CONFIG GET denied" in warning for warning in probe.warnings), probe.warnings


def test_a_broker_certificate_from_another_ca_is_refused(tls_redis: TlsRedis) -> None:
    error = _kombu_ping(tls_redis.url(ca=tls_redis.other_ca))
    assert error is not None and "certificate verify failed" in str(error), error


def test_a_wrong_password_is_refused_without_echoing_it(
    tls_redis: TlsRedis, tmp_path: Path
) -> None:
    settings = load_settings(_config(tmp_path, tls_redis.url(password="wrong-secret")), environ={})
    probe = probe_broker(settings)
    assert not probe.ok and "wrong-secret" not in probe.detail, probe.detail
    assert _kombu_ping(tls_redis.url(password="wrong-secret")) is not None


def test_rediss_must_say_whether_certificates_are_checked(tmp_path: Path) -> None:
    # A rediss:// URL without ssl_cert_reqs would skip certificate checks silently
    with pytest.raises(ConfigError, match="ssl_cert_reqs"):
        load_settings(_config(tmp_path, "rediss://u:p@broker.lan:6380/0"), environ={})


def test_the_broker_url_from_the_environment_wins(tls_redis: TlsRedis, tmp_path: Path) -> None:
    # Given a file naming another broker, and UNITY_BROKER_URL (e.g. from a systemd
    # EnvironmentFile) naming the TLS one with its credentials
    path = _config(tmp_path, "redis://nowhere.invalid:6379/0")
    settings = load_settings(path, environ={"UNITY_BROKER_URL": tls_redis.url()})
    # Then the environment's URL is used, and works
    assert settings.broker.url is not None and _kombu_ping(settings.broker.url) is None
