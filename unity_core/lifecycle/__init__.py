"""Data lifecycle: hourly/daily rollups, retention, and moving data between databases.

- `run_rollups`: incremental rollups with late-data recomputation (rollup.py, rollup_sql.py,
  triggers.py); on TimescaleDB the continuous aggregates do this inside the database.
- `run_retention`: partition drops or bounded batched deletes per the `retention:`
  settings, never ahead of the rollups (retention.py).
- `export_data` / `import_data`: streaming json/jsonl files, idempotent batched import
  (transfer/).

Everything takes an Engine and manages its own transactions (each step is one unit of
work); nothing here imports Celery or Flask: `unity.rollup`/`unity.retention` and the CLI
are thin shells around these functions.
"""

from __future__ import annotations

from unity_core.lifecycle.retention import RetentionReport, TableRetention, run_retention
from unity_core.lifecycle.rollup import RollupReport, run_rollups

__all__ = [
    "RetentionReport",
    "RollupReport",
    "TableRetention",
    "run_retention",
    "run_rollups",
]
