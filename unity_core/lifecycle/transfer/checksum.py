"""An order-independent checksum of a table's rows, equal across the three databases.

Each row is rendered canonically (sorted keys, times as aware UTC ISO 8601, numbers as
floats, so JSONB's `1` and MariaDB's `1.0` agree) and hashed; the checksum is the row
count and the sum of the hashes modulo 2**64. No ORDER BY is needed, so it streams.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from unity_core.lifecycle.transfer.records import encode_row, table


def table_checksum(engine: Engine, name: str, columns: list[str] | None = None) -> tuple[int, str]:
    """(row count, 16-hex-digit checksum) of `columns` (default: all) of table `name`."""
    source = table(name)
    names = columns or list(source.c.keys())
    total = 0
    count = 0
    options: dict[str, Any] = {"stream_results": True, "max_row_buffer": 5_000}
    if engine.dialect.name == "sqlite":
        options["sqlite_deferred"] = True
    with engine.connect().execution_options(**options) as connection:
        result = connection.execute(select(*(source.c[n] for n in names)))
        for chunk in result.partitions(5_000):
            for values in chunk:
                row = _canonical(encode_row(names, tuple(values)))
                text = json.dumps(row, sort_keys=True, separators=(",", ":"))
                total += int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
                count += 1
    return count, f"{total % 2**64:016x}"


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
            try:
                return datetime.fromisoformat(value).isoformat()
            except ValueError:
                return value
        return value
    if isinstance(value, int | float):
        return repr(float(value))
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value
