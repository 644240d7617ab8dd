"""The `docker` plugin: containers, images and per-container usage from the Docker Engine API."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from marshmallow import Schema, fields, validate
from unity_plugins.docker.stats import cpu_percent, memory, network_totals

from unity_core.errors import CollectionFailed
from unity_core.plugins.filters import NameFilter, with_filter
from unity_core.plugins.sdk import Accumulator, Collection, MetricSpec, MetricType, Plugin

__all__ = ["DockerPlugin", "EngineUnreachable"]

#: Where the engine listens on a Linux host when neither config nor DOCKER_HOST says otherwise.
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
#: Container states `docker ps` counts as stopped.
STOPPED = frozenset({"exited", "created", "dead"})

GAUGE, COUNTER = MetricType.GAUGE, MetricType.COUNTER
_C = ("container", "image")


def _spec(name: str, unit: str, kind: MetricType, description: str, *tags: str) -> MetricSpec:
    return MetricSpec(name, unit, kind, description, tags, minimum=0)


METRICS = (
    _spec("containers_running", "count", GAUGE, "containers running"),
    _spec("containers_stopped", "count", GAUGE, "containers exited, created or dead"),
    _spec("containers_restarting", "count", GAUGE, "containers restarting"),
    _spec("containers_paused", "count", GAUGE, "containers paused"),
    _spec("containers_unhealthy", "count", GAUGE, "containers whose health check fails"),
    _spec("images_total", "count", GAUGE, "images on the host"),
    _spec("container_stats", "json", GAUGE, "the design's overview object (see below)"),
    _spec("container_state", "text", GAUGE, "running, exited, restarting, paused, …", *_C),
    _spec("container_health", "text", GAUGE, "healthy, unhealthy or starting", *_C),
    _spec("container_restarts", "count", GAUGE, "restarts since the container was created", *_C),
    _spec("container_cpu_percent", "percent", GAUGE, "CPU use, 100 per busy CPU", *_C),
    _spec("container_memory_usage", "bytes", GAUGE, "memory used, page cache excluded", *_C),
    _spec("container_memory_limit", "bytes", GAUGE, "memory limit (host memory if none)", *_C),
    _spec("container_memory_percent", "percent", GAUGE, "memory used, of the limit", *_C),
    _spec("container_net_rx_bytes", "bytes", COUNTER, "bytes received since start", *_C),
    _spec("container_net_tx_bytes", "bytes", COUNTER, "bytes sent since start", *_C),
)


class EngineUnreachable(CollectionFailed):
    """The Docker engine did not answer; nothing could be collected."""


class _EngineConfig(Schema):
    base_url = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "The engine: unix:///path.sock or tcp://host:2375;"
            " default $DOCKER_HOST, else unix:///var/run/docker.sock."
        },
    )
    api_version = fields.String(
        load_default="auto",
        metadata={"description": "Engine API version to speak; auto asks the engine."},
    )
    request_timeout = fields.Float(
        load_default=10.0,
        validate=validate.Range(min=0.5, max=300),
        metadata={"description": "Seconds to wait for each Engine API call."},
    )
    usage = fields.Boolean(
        load_default=True,
        metadata={"description": "Read CPU, memory and network of each running container."},
    )
    parallel = fields.Integer(
        load_default=8,
        validate=validate.Range(min=1, max=64),
        metadata={"description": "Containers whose stats are read at the same time."},
    )


DockerConfig = with_filter(
    _EngineConfig,
    "DockerConfig",
    include="Only containers whose name matches one of these globs.",
    exclude="Never containers whose name matches one of these globs.",
)


class DockerPlugin(Plugin):
    """A Docker host's containers. Must run where the engine's socket is (use `queue`)."""

    id = "docker"
    name = "Docker"
    version = "1.0.0"
    description = "Containers by state, images, and per-container CPU, memory, network, health."
    config_schema = DockerConfig
    metrics = METRICS

    def base_url(self) -> str:
        """The engine's address: config, else $DOCKER_HOST (read at run time), else the socket."""
        return str(self.config.get("base_url") or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET)

    def collect_data(self, acc: Accumulator) -> None:
        url = self.base_url()
        try:
            client = docker.APIClient(
                base_url=url,
                version=str(self.config.get("api_version", "auto")),
                timeout=float(self.config.get("request_timeout", 10.0)),
                max_pool_size=int(self.config.get("parallel", 8)),  # one connection per thread
            )
        except DockerException as error:
            raise self._unreachable(url, error) from None
        try:
            self._collect(client, acc, url)
        finally:
            client.close()

    def summary(self, collection: Collection) -> str:
        running = collection.first("containers_running", 0)
        stopped = collection.first("containers_stopped", 0)
        parts = [f"{running} container{'s' if running != 1 else ''} running", f"{stopped} stopped"]
        for name, word in (
            ("containers_restarting", "restarting"),
            ("containers_paused", "paused"),
            ("containers_unhealthy", "unhealthy"),
        ):
            if count := collection.first(name, 0):
                parts.append(f"{count} {word}")
        return ", ".join(parts)

    def _collect(self, client: docker.APIClient, acc: Accumulator, url: str) -> None:
        try:
            listed: list[dict[str, Any]] = client.containers(all=True)
            images = len(client.images())
        except APIError as error:  # it answered, with an error status
            raise EngineUnreachable(
                self.instance_id, f"the Docker engine at {url} refused the listing: {error}"
            ) from None
        except (DockerException, requests.RequestException) as error:
            raise self._unreachable(url, error) from None
        wanted = NameFilter.from_config(self.config)
        containers = [c for c in listed if wanted.admits(_name(c))]
        states = Counter(str(c.get("State", "")).lower() for c in containers)
        inspected = self._each(client.inspect_container, containers, acc, "inspect")
        unhealthy = 0
        for container in containers:
            details = inspected.get(container["Id"])
            tags = {"container": _name(container), "image": container.get("Image", "")}
            acc.add_gauge("container_state", container.get("State", "unknown"), tags, unit="text")
            if details is None:
                continue
            acc.add_gauge(
                "container_restarts", int(details.get("RestartCount", 0)), tags, unit="count"
            )
            health = ((details.get("State") or {}).get("Health") or {}).get("Status")
            if health:
                acc.add_gauge("container_health", health, tags, unit="text")
                unhealthy += health == "unhealthy"
        running = [c for c in containers if c.get("State") == "running" and c["Id"] in inspected]
        usage = self._usage(client, running, acc) if self.config.get("usage", True) else {}
        acc.add_gauge("containers_running", states["running"], unit="count")
        acc.add_gauge("containers_stopped", sum(states[s] for s in STOPPED), unit="count")
        acc.add_gauge("containers_restarting", states["restarting"], unit="count")
        acc.add_gauge("containers_paused", states["paused"], unit="count")
        acc.add_gauge("containers_unhealthy", unhealthy, unit="count")
        acc.add_gauge("images_total", images, unit="count")
        acc.add_gauge(
            "container_stats",
            {
                "containers_running": states["running"],
                "containers_stopped": sum(states[s] for s in STOPPED),
                "images_total": images,
                "memory_used_gb": round(usage.get("memory", 0) / 2**30, 2),
                "cpu_percent": round(usage.get("cpu", 0.0), 2),
            },
            unit="json",
        )

    def _usage(
        self, client: docker.APIClient, running: list[dict[str, Any]], acc: Accumulator
    ) -> dict[str, float]:
        """Per-container CPU, memory and network; returns the totals for container_stats."""

        def one_sample(container_id: str) -> Any:
            return client.stats(container_id, decode=False, stream=False)

        samples = self._each(one_sample, running, acc, "stats")
        totals = {"cpu": 0.0, "memory": 0.0}
        for container in running:
            stats = samples.get(container["Id"])
            if stats is None:
                continue
            tags = {"container": _name(container), "image": container.get("Image", "")}
            cpu = cpu_percent(stats)
            if cpu is not None:
                acc.add_gauge("container_cpu_percent", cpu, tags, unit="percent")
                totals["cpu"] += cpu
            if (mem := memory(stats)) is not None:
                used, limit = mem
                acc.add_gauge("container_memory_usage", used, tags, unit="bytes")
                acc.add_gauge("container_memory_limit", limit, tags, unit="bytes")
                if limit > 0:
                    percent = round(min(100.0, used / limit * 100), 2)
                    acc.add_gauge("container_memory_percent", percent, tags, unit="percent")
                totals["memory"] += used
            if (net := network_totals(stats)) is not None:
                acc.add_counter("container_net_rx_bytes", net[0], tags, unit="bytes")
                acc.add_counter("container_net_tx_bytes", net[1], tags, unit="bytes")
        return totals

    def _each(
        self, call: Any, containers: list[dict[str, Any]], acc: Accumulator, what: str
    ) -> dict[str, Any]:
        """call(container id) for each container, in parallel; failures become item errors."""

        def attempt(container: dict[str, Any]) -> tuple[str, Any, BaseException | None]:
            try:
                return container["Id"], call(container["Id"]), None
            except NotFound:
                return container["Id"], None, LookupError("gone (removed while being read)")
            except (DockerException, requests.RequestException) as error:
                return container["Id"], None, error

        results: dict[str, Any] = {}
        workers = min(int(self.config.get("parallel", 8)), max(1, len(containers)))
        names = {c["Id"]: _name(c) for c in containers}
        with ThreadPoolExecutor(workers, thread_name_prefix="unity-docker") as pool:
            for container_id, result, error in pool.map(attempt, containers):
                if error is not None:
                    acc.error(error, item=f"container {names[container_id]} ({what})")
                else:
                    results[container_id] = result
        return results

    def _unreachable(self, url: str, error: BaseException) -> EngineUnreachable:
        if "Permission denied" in str(error):
            fix = "the worker's user needs access to the socket (root, or the docker group)"
        else:
            fix = (
                "run this instance on the Docker host (queue: host.NAME)"
                " or set config.base_url / DOCKER_HOST"
            )
        return EngineUnreachable(
            self.instance_id, f"cannot reach the Docker engine at {url}: {error}. To fix: {fix}"
        )


def _name(container: Mapping[str, Any]) -> str:
    names = container.get("Names") or [container.get("Id", "?")[:12]]
    return str(names[0]).lstrip("/")
