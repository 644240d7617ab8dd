"""The `http` plugin: an uptime check of one URL (status, latency, keyword, redirects, TLS)."""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from marshmallow import Schema, ValidationError, fields, validate
from urllib3.exceptions import InsecureRequestWarning

from unity_core.errors import PluginConfigError
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

GAUGE = MetricType.GAUGE
_URL = ("url",)

METRICS = (
    MetricSpec("http_up", "bool", GAUGE, "answered and met every expectation", _URL),
    MetricSpec("http_status_code", "code", GAUGE, "status of the final response", _URL),
    MetricSpec("http_response_time_ms", "ms", GAUGE, "whole request, redirects included", _URL, 0),
    MetricSpec("http_redirects", "count", GAUGE, "redirects followed", _URL, 0),
    MetricSpec("http_content_length", "bytes", GAUGE, "body bytes read", _URL, 0),
    MetricSpec("http_status_match", "bool", GAUGE, "the status was an expected one", _URL),
    MetricSpec("http_keyword_match", "bool", GAUGE, "the body held expect_keyword", _URL),
    MetricSpec("http_cert_expiry_days", "days", GAUGE, "days until the certificate expires", _URL),
)


def _http_url(value: str) -> None:
    parts = urlsplit(value)
    if value and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValidationError("expected an http:// or https:// URL with a host")


class HttpConfig(Schema):
    url = fields.String(
        load_default="",
        validate=_http_url,
        metadata={"description": "The URL to check (http:// or https://)."},
    )
    method = fields.String(
        load_default="GET",
        validate=validate.OneOf(["GET", "HEAD", "POST"]),
        metadata={"description": "GET, HEAD or POST."},
    )
    request_timeout = fields.Float(
        load_default=10.0,
        validate=validate.Range(min=0.1, max=300),
        metadata={"description": "Seconds to wait for connecting and for each read."},
    )
    expect_status = fields.List(
        fields.Integer(validate=validate.Range(min=100, max=599)),
        load_default=list,
        metadata={"description": "Statuses that count as up; empty = any below 400."},
    )
    expect_keyword = fields.String(
        load_default="", metadata={"description": "Text the body must contain; empty = none."}
    )
    follow_redirects = fields.Boolean(load_default=True)
    max_redirects = fields.Integer(load_default=10, validate=validate.Range(min=0, max=50))
    verify_tls = fields.Boolean(load_default=True)
    ca_file = fields.String(
        load_default=None, allow_none=True, metadata={"description": "CA bundle to trust."}
    )
    headers = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    max_body_bytes = fields.Integer(
        load_default=1_048_576, validate=validate.Range(min=0, max=100_000_000)
    )


class HttpPlugin(Plugin):
    """Is this URL up and answering as expected, how fast, and how long its certificate lasts.

    A site that is down is data, not a plugin failure: the run stores http_up 0 and
    records the reason as an error of the run, so checks keep running at their interval
    instead of backing off. Only a missing or invalid URL fails the run.
    """

    id = "http"
    name = "HTTP check"
    version = "1.0.0"
    description = "Status code, latency, expected status and keyword, redirects, TLS expiry."
    config_schema = HttpConfig
    metrics = METRICS

    def setup(self) -> None:
        if not self.config.get("url"):
            raise PluginConfigError(
                self.instance_id,
                "config.url: no URL to check; set it, e.g. `unity plugins set"
                f" {self.instance_id} config.url=https://nas.lan/`",
            )
        self._session = requests.Session()
        self._session.max_redirects = int(self.config.get("max_redirects", 10))

    def teardown(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None:
            session.close()

    def collect_data(self, acc: Accumulator) -> None:
        url = str(self.config["url"])
        tags = {"url": url}
        final_url = url
        started = time.perf_counter()
        try:
            response, body = self._request(url)
        except requests.RequestException as error:
            acc.add_gauge("http_up", False, tags, unit="bool")
            acc.add_gauge("http_response_time_ms", _ms_since(started), tags, unit="ms")
            acc.error(_reason(error), item=url)
        else:
            elapsed = _ms_since(started)
            final_url = response.url
            status_ok = self._status_ok(response.status_code)
            up = status_ok
            acc.add_gauge("http_status_code", response.status_code, tags, unit="code")
            acc.add_gauge("http_response_time_ms", elapsed, tags, unit="ms")
            acc.add_gauge("http_redirects", len(response.history), tags, unit="count")
            acc.add_gauge("http_content_length", len(body), tags, unit="bytes")
            acc.add_gauge("http_status_match", status_ok, tags, unit="bool")
            keyword = str(self.config.get("expect_keyword") or "")
            if keyword:
                found = keyword in body.decode(response.encoding or "utf-8", errors="replace")
                acc.add_gauge("http_keyword_match", found, tags, unit="bool")
                up = up and found
            acc.add_gauge("http_up", up, tags, unit="bool")
        tls_url = final_url if final_url.startswith("https://") else url
        if tls_url.startswith("https://"):
            try:
                days = certificate_days_left(tls_url, float(self.config["request_timeout"]))
            except (OSError, ValueError) as error:
                acc.error(f"cannot read the TLS certificate: {error}", item=url)
            else:
                acc.add_gauge("http_cert_expiry_days", days, tags, unit="days")

    def _request(self, url: str) -> tuple[requests.Response, bytes]:
        verify: bool | str = bool(self.config.get("verify_tls", True))
        if verify and self.config.get("ca_file"):
            verify = str(self.config["ca_file"])
        timeout = float(self.config["request_timeout"])
        with warnings.catch_warnings():
            # verify_tls: false is the user's explicit choice; urllib3 would warn every run.
            warnings.simplefilter("ignore", InsecureRequestWarning)
            return self._fetch(url, verify, timeout)

    def _fetch(
        self, url: str, verify: bool | str, timeout: float
    ) -> tuple[requests.Response, bytes]:
        with self._session.request(
            str(self.config.get("method", "GET")),
            url,
            headers=self.config.get("headers") or None,
            timeout=(timeout, timeout),
            allow_redirects=bool(self.config.get("follow_redirects", True)),
            verify=verify,
            stream=True,
        ) as response:
            limit = int(self.config.get("max_body_bytes", 1_048_576))
            body = bytearray()
            for chunk in response.iter_content(65_536):
                body += chunk[: limit - len(body)]
                if len(body) >= limit:
                    break
        return response, bytes(body)

    def _status_ok(self, status: int) -> bool:
        expected = self.config.get("expect_status") or []
        return status in expected if expected else status < 400

    def summary(self, collection: Collection) -> str:
        url = self.config.get("url", "")
        status = collection.first("http_status_code")
        up = collection.first("http_up")
        if status is None:
            reason = collection.errors[0].split(": ", 1)[-1] if collection.errors else "no answer"
            text = f"{url} is down: {reason}"
        else:
            took = collection.first("http_response_time_ms", 0.0)
            text = f"{url} {'is up' if up else 'is failing its checks'}: {status} in {took:.0f} ms"
        days = collection.first("http_cert_expiry_days")
        if days is not None:
            text += f", certificate expires in {days:.0f} days"
        return text


def certificate_days_left(url: str, timeout: float) -> float:
    """Days until the certificate `url`'s server presents expires (negative: expired).

    Read in a handshake of its own without verification, so an expired or self-signed
    certificate still reports its date (whether it is trusted is http_up's business).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, parts.port or 443), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ValueError(f"{host} presented no certificate")
    expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    return round((expires - datetime.now(UTC)).total_seconds() / 86_400, 2)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _reason(error: requests.RequestException) -> str:
    """A short cause: requests nests urllib3's errors several levels deep."""
    if isinstance(error, requests.TooManyRedirects):
        return f"more than the allowed redirects ({error})"
    inner: Any = error.args[0] if error.args else None
    cause: Any = getattr(inner, "reason", None) or inner or error  # urllib3's MaxRetryError
    text = str(cause) or type(cause).__name__
    if text.startswith("<"):  # "<urllib3.connection.HTTPConnection object at 0x…>: Failed …"
        text = text.split(">: ", 1)[-1]
    return f"{type(error).__name__}: {text}"[:300]
