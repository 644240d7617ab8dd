"""API benchmark: `unity api` under gunicorn on ≥ 10 million samples, with wrk as the client.

Usage: .venv/bin/python bench/api.py        (make bench-api; UNITY_BENCH_API_SECONDS=N per run)

Set-up (bench/api_data.py): the reusable PostgreSQL database `unity_bench_api` (1,000
series x 7 days of one-minute samples = 10,080,000 rows, rollups filled), a private
redis-server as the cache, and two `unity api` servers started the way `unity up` starts
one (`python -m unity_core api`, gunicorn, api.workers = 2 = the cores): one with the
cache, one without. Then wrk (https://github.com/wg/wrk, `apt install wrk`) drives each
endpoint for UNITY_BENCH_API_SECONDS (default 8) with 1 connection and with 50, after a
short warm-up, and a Lua hook reports requests/s and p50/p95/p99:

- /healthz under the same load: the HTTP ceiling of this machine and server;
- latest values of one plugin (50 series): cache on (Redis) and off (database);
- /api/v1/status and /api/v1/dashboard/summary (cached per the design's TTLs);
- a 7-day hourly range query of one metric (5 series x 168 points) through the API (the
  hot-query cache on; the uncached figure from the server without a cache), and the same
  SQL statements the API issues, replayed with plain psycopg, as the database floor;
  the same 7 days aggregated hourly from the raw table is printed for comparison.

Clients and servers share the machine's 2 cores (as in LIMITS.md); the figures include
wrk's own CPU. Prints a table and ends with one JSON line. It asserts no timings.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import yaml
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_data import prepare
from pipeline_env import free_port, redis_server, until

from unity_core.storage import make_engine, make_sessionmaker, range_query
from unity_core.tokens import create_token

ROOT = Path(__file__).resolve().parent.parent
SECONDS = int(os.environ.get("UNITY_BENCH_API_SECONDS", "8"))
PLUGIN, METRIC = "plugin03", "metric_1"
LATEST = f"/api/v1/metrics/latest?plugin_id={PLUGIN}"
RANGE = f"/api/v1/metrics?plugin_id={PLUGIN}&metric_name={METRIC}&from=7d&resolution=hourly"
SQL_ROUNDS = 200
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def config(folder: Path, database_url: str, cache_url: str | None, port: int) -> Path:
    data: dict[str, Any] = {
        "data_dir": str(folder / "data"),
        "database": {"url": database_url},
        "broker": {"url": "redis://127.0.0.1:1/0"},  # never used: no collect in this bench
        "api": {"bind": f"127.0.0.1:{port}", "workers": 2, "rate_limit": "100000000/minute"},
    }
    if cache_url:
        data["cache"] = {"url": cache_url}
    path = folder / f"unity-{port}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@contextlib.contextmanager
def api_server(config_path: Path, port: int, log: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNITY_")}
    env["UNITY_CONFIG"] = str(config_path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "unity_core", "api"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        def answers() -> bool:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(base + "/healthz", timeout=1) as response:  # noqa: S310
                    return bool(response.status == 200)
            if server.poll() is not None:
                raise SystemExit(f"unity api exited:\n{log.read_text()[-3000:]}")
            return False

        until(answers, 60, "unity api to answer /healthz", interval=0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def wrk(url: str, token: str | None, connections: int, script: Path) -> dict[str, float]:
    """One wrk run after a 1-second warm-up; requests/s and latency percentiles in ms."""
    argv = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-s", str(script)]
    if token:
        argv += ["-H", f"Authorization: Bearer {token}"]
    subprocess.run([*argv, "-d", "1s", url], check=True, capture_output=True, text=True)
    out = subprocess.run(
        [*argv, "-d", f"{SECONDS}s", url], check=True, capture_output=True, text=True
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    if found["errors"] or found["non2xx"]:
        raise SystemExit(f"{url}: {found['errors']} errors, {found['non2xx']} non-2xx answers")
    return {
        "rps": round(found["requests"] / (found["duration_us"] / 1e6), 1),
        "p50_ms": round(found["p50_us"] / 1000, 2),
        "p95_ms": round(found["p95_us"] / 1000, 2),
        "p99_ms": round(found["p99_us"] / 1000, 2),
    }


def issued_sql(url: str, start: Any, end: Any) -> list[tuple[str, Any]]:
    """The statements range_query sends for the benchmarked range (to replay them bare)."""
    engine = make_engine(url)
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with make_sessionmaker(engine)() as session:
            range_query(
                session, plugin_id=PLUGIN, metric_name=METRIC, start=start, end=end,
                resolution="hourly",
            )  # fmt: skip
    finally:
        engine.dispose()
    return [(s, p) for s, p in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def sql_floor(url: str, newest: Any) -> dict[str, float]:
    """p50/p95 of the API's range statements replayed with psycopg, and of a raw scan."""
    from datetime import timedelta

    start, end = newest - timedelta(days=7), newest
    statements = issued_sql(url, start, end)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    timings, raw = [], []
    with psycopg.connect(dsn) as conn:
        for round_ in range(SQL_ROUNDS + 10):
            began = time.perf_counter()
            for statement, params in statements:
                conn.execute(statement, params).fetchall()
            if round_ >= 10:
                timings.append((time.perf_counter() - began) * 1000)
        for _ in range(5):
            began = time.perf_counter()
            conn.execute(
                "SELECT series_key, date_trunc('hour', time), avg(numeric_value)"
                " FROM plugin_metrics WHERE plugin_id = %s AND metric_name = %s"
                " AND time >= %s AND time < %s GROUP BY 1, 2",
                (PLUGIN, METRIC, start, end),
            ).fetchall()
            raw.append((time.perf_counter() - began) * 1000)
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(statistics.quantiles(timings, n=20)[18], 2),
        "raw_scan_p50_ms": round(statistics.median(raw), 1),
    }


def main() -> None:
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        raise SystemExit("wrk is not installed (apt install wrk)")
    print("preparing the database (reused when it is already filled) …")
    url, newest = prepare()
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        token = create_token(session, f"bench-{uuid.uuid4().hex[:8]}", "read")
        session.commit()
    engine.dispose()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="unity-bench-api-") as tmp:
        folder = Path(tmp)
        script = folder / "report.lua"
        script.write_text(WRK_REPORT, encoding="utf-8")
        with redis_server(folder) as (cache_url, _pid):
            cached_port, plain_port = free_port(), free_port()
            cached_cfg = config(folder, url, cache_url, cached_port)
            plain_cfg = config(folder, url, None, plain_port)
            with api_server(cached_cfg, cached_port, folder / "cached.log") as base:
                for clients in (1, 50):
                    for name, path, auth in (
                        ("healthz", "/healthz", None),
                        ("latest_cached", LATEST, token),
                        ("status", "/api/v1/status", token),
                        ("dashboard", "/api/v1/dashboard/summary", token),
                        ("range_7d_hourly", RANGE, token),
                    ):
                        results[f"{name}_c{clients}"] = wrk(base + path, auth, clients, script)
                        print(f"  {name:<22} {clients:>2} clients  {results[f'{name}_c{clients}']}")
            with api_server(plain_cfg, plain_port, folder / "plain.log") as base:
                for clients in (1, 50):
                    for name, path in (("latest_uncached", LATEST), ("range_uncached", RANGE)):
                        results[f"{name}_c{clients}"] = wrk(base + path, token, clients, script)
                        print(f"  {name:<22} {clients:>2} clients  {results[f'{name}_c{clients}']}")
    floor = sql_floor(url, newest)
    report(results, floor)


def report(r: dict[str, dict[str, float]], floor: dict[str, float]) -> None:
    print()
    print(f"{'endpoint':<28}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for key, figures in r.items():
        name, clients = key.rsplit("_c", 1)
        print(
            f"{name:<28}{clients:>8}{figures['rps']:>10.0f}{figures['p50_ms']:>9.2f}"
            f"{figures['p95_ms']:>9.2f}{figures['p99_ms']:>9.2f}"
        )
    print(
        f"{'SQL floor: range statements':<28}{1:>8}{'':>10}{floor['p50_ms']:>9.2f}"
        f"{floor['p95_ms']:>9.2f}"
    )
    raw = floor["raw_scan_p50_ms"]
    print(f"the same 7 days aggregated hourly from the raw table (no rollup): {raw} ms")
    ratio = r["latest_cached_c50"]["rps"] / r["healthz_c50"]["rps"]
    print(f"cached latest / healthz requests/s at 50 clients: {ratio:.2f} (goal ≥ 0.5)")
    line = {
        "healthz_rps": r["healthz_c50"]["rps"],
        "healthz_p95_ms": r["healthz_c50"]["p95_ms"],
        "latest_cached_rps": r["latest_cached_c50"]["rps"],
        "latest_cached_p95_ms": r["latest_cached_c50"]["p95_ms"],
        "latest_uncached_p95_ms": r["latest_uncached_c50"]["p95_ms"],
        "range_7d_hourly_p95_ms": r["range_7d_hourly_c50"]["p95_ms"],
        "sql_range_7d_hourly_p95_ms": floor["p95_ms"],
        "single_client_latest_cached_p95_ms": r["latest_cached_c1"]["p95_ms"],
        "single_client_range_p95_ms": r["range_7d_hourly_c1"]["p95_ms"],
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
