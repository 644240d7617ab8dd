"""Lifecycle: rollup watermarks, the stale-bucket marks and the trigger that writes them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

On TimescaleDB the rollups are continuous aggregates that follow late data by themselves,
so the trigger is not installed there (the two small tables are, and stay unused).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from unity_core.lifecycle import triggers
from unity_core.storage.types import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _timescale() -> bool:
    if op.get_context().dialect.name != "postgresql":
        return False
    if context.is_offline_mode():
        return bool(context.config.attributes["unity_options"].force_timescaledb)
    found = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_matviews WHERE matviewname = 'plugin_metrics_hourly'")
    )
    return found.first() is not None


def upgrade() -> None:
    watermarks = op.create_table(
        "rollup_watermarks",
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("watermark", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_watermarks")),
    )
    op.create_table(
        "rollup_stale",
        sa.Column("rollup", sa.String(16), nullable=False),
        sa.Column("bucket", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("rollup", "bucket", name=op.f("pk_rollup_stale")),
    )
    # The rows exist from the start so the rollup job always has a row to lock.
    op.bulk_insert(watermarks, [{"name": "hourly"}, {"name": "daily"}])
    if not _timescale():
        for statement in triggers.create_sql(op.get_context().dialect.name):
            op.execute(statement)


def downgrade() -> None:
    if not _timescale():
        for statement in triggers.drop_sql(op.get_context().dialect.name):
            op.execute(statement)
    op.drop_table("rollup_stale")
    op.drop_table("rollup_watermarks")
