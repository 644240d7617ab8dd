"""Alert latency: from the offending metric's write to the webhook's receipt, 1,000 rules loaded.

Real workers (collect+maintenance, persist) on a private redis-server and a throwaway
PostgreSQL database; a local HTTP webhook receiver. Each firing hands the persist stage one
outcome carrying a value over its rule's threshold, as a collection does (an entry on the
outcome stream `unity:outcomes`); the clock starts at that hand-over, so the figure includes
the broker hop and the write, and stops when the webhook has it. Each
firing is followed by a resolution, measured the same way.

Peer measured in the same run: the notification path alone (a queued outbox row sent with
`unity.notify.send` to the same webhook), the floor of every alert. Also timed: one full
evaluation pass over all rules, as beat runs it.

Configuration used (printed): persist batch_timeout 0.05 s (a metric is written at once; with
a larger batch_timeout the write itself waits for its batch), notifications.group_wait at its
default. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from celery import Celery
from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline_env import BenchTimeout, Worker, database, redis_server, running

from unity_workers.outcome_stream import OutcomeStream

BENCH_DEADLINE = 900
HOT_RULES = 10


class Webhook:
    """A local receiver: remembers when each alert name's firing/resolution arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[tuple[str, str], float] = {}
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.monotonic()
                with receiver.changed:
                    for alert in body["alerts"]:
                        receiver.arrivals.setdefault((alert["alert"], alert["event"]), now)
                    receiver.changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, alert: str, event: str, timeout: float = 30) -> float:
        key = (alert, event)
        with self.changed:
            if not self.changed.wait_for(lambda: key in self.arrivals, timeout):
                raise BenchTimeout(f"no {event} of {alert!r} at the webhook after {timeout:g} s")
            return self.arrivals.pop(key)


def write_config(folder: Path, db: URL, broker: str, hook: str) -> Path:
    config = {
        "data_dir": str(folder / "data"),
        "database": {"url": db.render_as_string(hide_password=False)},
        "broker": {"url": broker, "visibility_timeout": 900},
        "collection": {"batch_size": 100, "batch_timeout": 0.05, "host": "bench"},
        "notifications": {"channels": [{"name": "hook", "type": "webhook", "url": hook}]},
    }
    path = folder / "unity.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def load_rules(url: str, count: int) -> None:
    """`count` rules on plugin "bench": HOT_RULES that the bench fires, the rest never fire
    (each on its own metric, which has a few samples so a full pass reads real data)."""
    from unity_core.storage import (
        MetricRow,
        create_alert,
        make_engine,
        make_sessionmaker,
        write_batch,
    )
    from unity_core.storage.models import Plugin

    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        with make_sessionmaker(engine)() as session:
            session.add(Plugin(plugin_id="bench", name="Bench"))
            for i in range(count):
                hot = i < HOT_RULES
                metric = f"hot{i}" if hot else f"filler{i}"
                create_alert(
                    session,
                    name=f"rule {metric}",
                    condition={"plugin": "bench", "metric": metric, "operator": ">",
                               "threshold": 50 if hot else 1e12, "hysteresis": 5},
                )  # fmt: skip
            filler = [
                MetricRow(time=now, plugin_id="bench", metric_name=f"filler{i}",
                          value={"v": 1}, numeric_value=1.0)
                for i in range(HOT_RULES, count)
            ]  # fmt: skip
            write_batch(session, filler)
            session.commit()
    finally:
        engine.dispose()


def publish_value(stream: OutcomeStream, metric: str, value: float) -> None:
    """One outcome with one sample, as a collect task hands it to the persist stage."""
    from unity_core.collection import encode_outcome
    from unity_core.collection.outcome import Outcome
    from unity_core.storage import MetricRow

    now = datetime.now(UTC)
    row = MetricRow(time=now, plugin_id="bench", metric_name=metric, value={"v": value},
                    numeric_value=value)  # fmt: skip
    payload = encode_outcome(Outcome(plugin_id="bench", slot_time=now, ok=True, rows=[row]))
    stream.add(payload, rows=1)


def notify_floor(client: Celery, url: str, hook: Webhook, runs: int) -> list[float]:
    """Queue an outbox row in-process, send `unity.notify.send`: the path every alert ends on."""
    from unity_core.config import NotificationSettings
    from unity_core.notify import queue_notices
    from unity_core.storage import make_engine, make_sessionmaker

    settings = NotificationSettings(
        channels=({"name": "hook", "type": "webhook", "url": hook.url},)
    )
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    took = []
    try:
        for i in range(runs):
            notice = {"event": "firing", "alert": f"floor {i}", "severity": "info",
                      "condition": "-", "tags": {}, "value": 1.0}  # fmt: skip
            with sessions() as session:
                started = time.monotonic()
                (row_id,) = queue_notices(session, settings, [notice])
                session.commit()
            client.send_task("unity.notify.send", args=[str(row_id)], queue="maintenance")
            took.append(hook.take(f"floor {i}", "firing") - started)
    finally:
        engine.dispose()
    return took


def full_pass(url: str) -> tuple[float, int]:
    """Seconds for one evaluation of every enabled rule (what beat sends), in this process."""
    from unity_core.alerts import enabled_rules, evaluate
    from unity_core.storage import make_engine, make_sessionmaker

    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            outcome = evaluate(session, enabled_rules(session))
            return time.perf_counter() - started, outcome.evaluated
    finally:
        engine.dispose()


def quantile(values: Sequence[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def summary(name: str, values: Sequence[float]) -> str:
    return (
        f"{name}: n={len(values)} p50 {statistics.median(values) * 1000:.0f} ms, "
        f"p95 {quantile(values, 95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
    )


def bench(args: argparse.Namespace) -> dict[str, Any]:
    server = make_url(
        os.environ.get("UNITY_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
    )
    for name in [n for n in os.environ if n.startswith(("UNITY_", "CELERY_"))]:
        del os.environ[name]  # the bench and its workers read only the config written here
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="unity-bench-")))
        broker_url, _ = stack.enter_context(redis_server(folder))
        db = stack.enter_context(database(server))
        url = db.render_as_string(hide_password=False)
        hook = Webhook()
        stack.callback(hook.server.shutdown)
        os.environ["UNITY_CONFIG"] = str(write_config(folder, db, broker_url, hook.url))
        load_rules(url, args.rules)

        from unity_core.config import load_settings
        from unity_workers.processes import expand_queues, worker_commands

        settings = load_settings()
        commands = worker_commands(
            expand_queues("default"), concurrency=2, batch_size=100, loglevel="WARNING",
            name="bench",
        )  # fmt: skip
        workers = [Worker(c.role, c.argv, folder / f"{c.role}.log") for c in commands]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        client = Celery("bench", broker=broker_url)
        client.conf.update(task_serializer="json", accept_content=["json"])
        stack.enter_context(running(workers, env, client))
        stream = OutcomeStream.from_url(broker_url)
        stack.callback(stream.close)
        print(
            f"{args.rules} rules ({HOT_RULES} fired in turn), {args.firings} firings + as many "
            f"resolutions; persist batch_timeout {settings.collection.batch_timeout} s, "
            f"group_wait {settings.notifications.group_wait} s; PostgreSQL; "
            f"load {os.getloadavg()[0]:.2f}"
        )
        # Warm-up: the first evaluation in each worker process imports and connects.
        publish_value(stream, "hot0", 100)
        hook.take("rule hot0", "firing", timeout=60)
        publish_value(stream, "hot0", 0)
        hook.take("rule hot0", "resolved", timeout=60)

        floor = notify_floor(client, url, hook, args.firings)
        fired, resolved = [], []
        for i in range(args.firings):
            metric = f"hot{i % HOT_RULES}"
            started = time.monotonic()
            publish_value(stream, metric, 100)
            fired.append(hook.take(f"rule {metric}", "firing") - started)
            started = time.monotonic()
            publish_value(stream, metric, 0)
            resolved.append(hook.take(f"rule {metric}", "resolved") - started)
        pass_seconds, evaluated = full_pass(url)
        for line in (
            summary("write -> webhook, firing", fired),
            summary("write -> webhook, resolved", resolved),
            summary("peer: outbox row -> webhook (unity.notify.send alone)", floor),
            f"one full evaluation pass: {evaluated} rules in {pass_seconds:.2f} s",
        ):
            print(line)
        return {
            "rules": args.rules,
            "firings": args.firings,
            "p50_write_to_webhook_s": round(statistics.median(fired), 3),
            "p95_write_to_webhook_s": round(quantile(fired, 95), 3),
            "p95_resolved_s": round(quantile(resolved, 95), 3),
            "p50_notify_floor_s": round(statistics.median(floor), 3),
            "p95_notify_floor_s": round(quantile(floor, 95), 3),
            "full_pass_s": round(pass_seconds, 3),
            "group_wait_s": settings.notifications.group_wait,
        }


ROOT = Path(__file__).resolve().parents[1]


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000, help="rules loaded (default 1000)")
    parser.add_argument("--firings", type=int, default=40, help="firings measured (default 40)")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    args = arguments(argv)

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt if signum == signal.SIGTERM else BenchTimeout("bench deadline")

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(BENCH_DEADLINE)
    print(json.dumps(bench(args)))


if __name__ == "__main__":
    main(sys.argv[1:])
