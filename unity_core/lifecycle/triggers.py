"""The database triggers that tell the rollup job which closed hourly buckets got new samples.

A sample written into an hour that has already ended (a redelivered batch, a dead letter
replayed hours later, an import) marks that hour in `rollup_stale`; the next `unity.rollup`
recomputes it. The test is the database's own clock at write time ("is this sample's hour
over?"), never the rollup watermark, so a writer never has to read or wait for the rollup
job, and a sample in the current hour needs no mark: the job rolls an hour up only after
it has ended (plus ROLLUP_SETTLE), and any later write to it is late and marked.

The mark is an upsert that *locks* the mark row (ON CONFLICT DO UPDATE / ON DUPLICATE KEY
UPDATE, not DO NOTHING): the rollup job reads marks with FOR UPDATE, so it waits for every
writer that relied on an existing mark to commit before it recomputes the bucket.

PostgreSQL: one statement-level trigger per INSERT/COPY with a transition table (cheap:
one pass over the inserted rows, one mark per distinct hour). MariaDB and SQLite have row
triggers only; they do nothing unless the row is late. Not installed on TimescaleDB, whose
continuous aggregates track late data themselves. The statements are plain strings so
tests can read them.
"""

# ruff: noqa: S608 - every name and interval in this SQL is a module constant, never input

from __future__ import annotations

TRIGGER = "plugin_metrics_mark_stale"
FUNCTION = "unity_mark_stale_rollups"

_PG_EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"


def create_sql(dialect: str) -> list[str]:
    """DDL installing the late-sample trigger on `plugin_metrics` for `dialect`."""
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            "  INSERT INTO rollup_stale (rollup, bucket)\n"
            f"  SELECT DISTINCT 'hourly', date_bin(INTERVAL '1 hour', time, {_PG_EPOCH})\n"
            "  FROM inserted\n"
            f"  WHERE time < date_bin(INTERVAL '1 hour', clock_timestamp(), {_PG_EPOCH})\n"
            "  ON CONFLICT (rollup, bucket) DO UPDATE SET bucket = EXCLUDED.bucket;\n"
            "  RETURN NULL;\n"
            "END $$",
            f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON plugin_metrics "
            "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {FUNCTION}()",
        ]
    if dialect in ("mysql", "mariadb"):
        return [
            f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON plugin_metrics FOR EACH ROW\n"
            "BEGIN\n"
            "  IF NEW.time < DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:00:00') THEN\n"
            "    INSERT INTO rollup_stale (rollup, bucket)\n"
            "    VALUES ('hourly', DATE_FORMAT(NEW.time, '%Y-%m-%d %H:00:00'))\n"
            "    ON DUPLICATE KEY UPDATE bucket = bucket;\n"
            "  END IF;\n"
            "END"
        ]
    if dialect == "sqlite":
        # Times are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text, so text order is time
        # order; a bucket is written in the same format so it equals what Python binds.
        return [
            f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON plugin_metrics\n"
            "WHEN NEW.time < strftime('%Y-%m-%d %H:00:00', 'now')\n"
            "BEGIN\n"
            "  INSERT OR IGNORE INTO rollup_stale (rollup, bucket)\n"
            "  VALUES ('hourly', strftime('%Y-%m-%d %H:00:00', NEW.time) || '.000000');\n"
            "END"
        ]
    raise ValueError(f"unsupported dialect {dialect!r}")


def drop_sql(dialect: str) -> list[str]:
    """DDL removing what create_sql installed."""
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {TRIGGER} ON plugin_metrics",
            f"DROP FUNCTION IF EXISTS {FUNCTION}()",
        ]
    return [f"DROP TRIGGER IF EXISTS {TRIGGER}"]
