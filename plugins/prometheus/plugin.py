"""The `prometheus` plugin: scrapes one Prometheus text endpoint into Unity metrics."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from marshmallow import Schema, fields, validate
from unity_plugins.prometheus.exposition import ExpositionError, Sample, emit, parse_exposition

from unity_core.errors import CollectionFailed
from unity_core.plugins.filters import NameFilter, matches, with_filter
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

__all__ = ["PrometheusPlugin", "ScrapeFailed"]

#: Where node_exporter listens by default: the endpoint a homelab most likely has.
DEFAULT_URL = "http://127.0.0.1:9100/metrics"
#: Bodies larger than this are refused rather than parsed (node_exporter sends ~100 KiB).
MAX_BODY_BYTES = 32 * 2**20
_OWN = ("scrape_duration_ms", "scrape_samples")


class ScrapeFailed(CollectionFailed):
    """The endpoint could not be read or did not answer Prometheus text; the run has nothing."""


class _ScrapeConfig(Schema):
    url = fields.Url(
        load_default=DEFAULT_URL,
        require_tld=False,
        schemes={"http", "https"},
        metadata={"description": "The endpoint to scrape (node_exporter's by default)."},
    )
    request_timeout = fields.Float(
        load_default=5.0,
        validate=validate.Range(min=0.1, max=120),
        metadata={"description": "Seconds to wait for the connection and for each read."},
    )
    label_rename = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        load_default=dict,
        metadata={"description": "Label -> tag name, for labels that should be stored renamed."},
    )
    label_drop = fields.List(
        fields.String(),
        load_default=list,
        metadata={"description": "Labels (globs) not stored as tags."},
    )
    buckets = fields.Boolean(
        load_default=False,
        metadata={"description": "Also store histogram buckets (`_bucket`, tagged le)."},
    )
    headers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        load_default=dict,
        metadata={"description": "Extra request headers, e.g. Authorization."},
    )
    verify_tls = fields.Boolean(
        load_default=True, metadata={"description": "Check the HTTPS certificate."}
    )
    max_samples = fields.Integer(
        load_default=20000,
        validate=validate.Range(min=1),
        metadata={"description": "Keep at most this many samples per scrape."},
    )


PrometheusConfig = with_filter(
    _ScrapeConfig,
    "PrometheusConfig",
    include="Only metrics whose name matches one of these globs.",
    exclude="Never metrics whose name matches one of these globs.",
)


class PrometheusPlugin(Plugin):
    """Any Prometheus endpoint (node_exporter, a router, an application) as Unity metrics."""

    id = "prometheus"
    name = "Prometheus"
    version = "1.0.0"
    description = "Scrapes a Prometheus text endpoint, with name filters and label mapping."
    config_schema = PrometheusConfig
    dynamic_metrics = True
    metrics = (
        MetricSpec("scrape_duration_ms", "ms", MetricType.GAUGE, "time to fetch and parse", (), 0),
        MetricSpec(
            "scrape_samples", "count", MetricType.GAUGE, "samples stored from the scrape", (), 0
        ),
    )

    def collect_data(self, acc: Accumulator) -> None:
        started = time.perf_counter()
        url = str(self.config.get("url", DEFAULT_URL))
        text = self._fetch(url)
        try:
            samples = parse_exposition(text, buckets=bool(self.config.get("buckets")))
        except ExpositionError as error:
            raise ScrapeFailed(
                self.instance_id, f"{url}: {error}; body starts {text[:200]!r}"
            ) from None
        wanted = NameFilter.from_config(self.config)
        kept = [s for s in samples if wanted.admits(s.name, s.family)]
        limit = int(self.config.get("max_samples", 20000))
        if len(kept) > limit:
            acc.error(
                f"{len(kept)} samples after filtering, more than max_samples={limit}: stored"
                " the first ones only; narrow `include`/`exclude` or raise max_samples",
                item=url,
            )
            kept = kept[:limit]
        stored = self._store(acc, kept, url)
        acc.add_gauge(
            "scrape_duration_ms", round((time.perf_counter() - started) * 1000, 3), unit="ms"
        )
        acc.add_gauge("scrape_samples", stored, unit="count")

    def summary(self, collection: Collection) -> str:
        where = urlsplit(str(self.config.get("url", DEFAULT_URL))).netloc
        samples = collection.first("scrape_samples", 0)
        names = {m.name for m in collection.metrics if m.name not in _OWN}
        text = f"{samples} samples of {len(names)} metrics from {where}"
        if collection.errors:
            count = len(collection.errors)
            text += f", {count} error{'' if count == 1 else 's'}"
        return text

    def _fetch(self, url: str) -> str:
        headers = {"Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1"}
        headers.update(self.config.get("headers") or {})
        # The schema admits http and https URLs only, so no file: or custom schemes here.
        request = urllib.request.Request(url, headers=headers)  # noqa: S310
        context = None
        if url.startswith("https:") and not self.config.get("verify_tls", True):
            context = ssl._create_unverified_context()  # noqa: S323 - the user opted out
        timeout = float(self.config.get("request_timeout", 5.0))
        try:
            opened = urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310
            with opened as response:
                body: bytes = response.read(MAX_BODY_BYTES + 1)
                charset = response.headers.get_content_charset() or "utf-8"
        except urllib.error.HTTPError as error:
            raise ScrapeFailed(
                self.instance_id, f"{url} answered HTTP {error.code} {error.reason}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ScrapeFailed(
                self.instance_id,
                f"cannot scrape {url}: {reason}; is the exporter running there?"
                f" Set config.url to the endpoint to scrape",
            ) from None
        if len(body) > MAX_BODY_BYTES:
            raise ScrapeFailed(self.instance_id, f"{url} sent more than {MAX_BODY_BYTES} bytes")
        return body.decode(charset, errors="replace")

    def _store(self, acc: Accumulator, samples: list[Sample], url: str) -> int:
        """Add the samples with their labels mapped to tags; returns how many were added."""
        rename = dict(self.config.get("label_rename") or {})
        drop = list(self.config.get("label_drop") or [])
        seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
        for sample in samples:
            tags = _tags(sample.labels, rename, drop)
            series = (sample.name, frozenset(tags.items()))
            if series in seen:  # two series became one: storing both would be ambiguous
                continue
            seen.add(series)
            emit(acc, sample, tags)
        if collided := len(samples) - len(seen):
            acc.error(
                f"{collided} samples dropped: after label_drop/label_rename they had the same"
                " name and tags as another one; keep the labels that tell series apart",
                item=url,
            )
        return len(seen)


def _tags(
    labels: Mapping[str, str], rename: Mapping[str, str], drop: Sequence[str]
) -> dict[str, str]:
    return {
        rename.get(label, label): value
        for label, value in labels.items()
        if not matches(label, drop)
    }
