"""Collection: framework options on plugins, richer status, scheduler state, lock, rejects.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from unity_core.storage.types import PortableJSON, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("plugins") as batch:
        batch.add_column(sa.Column("plugin", sa.String(100), nullable=False, server_default=""))
        batch.add_column(sa.Column("interval_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cron", sa.String(100), nullable=True))
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=True))
        batch.add_column(sa.Column("timeout_seconds", sa.Double(), nullable=True))
        batch.add_column(sa.Column("retry_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retry_delay", sa.Double(), nullable=True))
        batch.add_column(sa.Column("retry_backoff", sa.Double(), nullable=True))
        batch.add_column(sa.Column("queue", sa.String(100), nullable=True))
        batch.add_column(sa.Column("tags", PortableJSON, nullable=True))
    # Existing rows were single-instance plugins: their implementation is their id.
    op.execute("UPDATE plugins SET plugin = plugin_id WHERE plugin = ''")
    with op.batch_alter_table("plugins") as batch:
        batch.alter_column("plugin", server_default=None, existing_type=sa.String(100))

    with op.batch_alter_table("plugin_status") as batch:
        batch.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("rejected_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_duration_ms", sa.Double(), nullable=True))
        batch.add_column(sa.Column("worker_host", sa.String(255), nullable=True))
    with op.batch_alter_table("plugin_status") as batch:
        batch.alter_column("consecutive_failures", server_default=None, existing_type=sa.Integer())
        batch.alter_column("rejected_count", server_default=None, existing_type=sa.Integer())

    op.create_table(
        "schedule_state",
        sa.Column("plugin_id", sa.String(100), nullable=False),
        sa.Column("last_slot", UTCDateTime(), nullable=True),
        sa.Column("next_due", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plugin_id"],
            ["plugins.plugin_id"],
            name=op.f("fk_schedule_state_plugin_id_plugins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("plugin_id", name=op.f("pk_schedule_state")),
    )
    op.create_table(
        "scheduler_locks",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_locks")),
    )
    op.create_table(
        "metric_rejects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("plugin_id", sa.String(100), nullable=False),
        sa.Column("metric_name", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("value", PortableJSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_rejects")),
    )
    op.create_index("ix_metric_rejects_plugin_id_time", "metric_rejects", ["plugin_id", "time"])


def downgrade() -> None:
    op.drop_index("ix_metric_rejects_plugin_id_time", table_name="metric_rejects")
    op.drop_table("metric_rejects")
    op.drop_table("scheduler_locks")
    op.drop_table("schedule_state")
    with op.batch_alter_table("plugin_status") as batch:
        for column in ("worker_host", "last_duration_ms", "rejected_count", "consecutive_failures"):
            batch.drop_column(column)
    with op.batch_alter_table("plugins") as batch:
        for column in (
            "tags",
            "queue",
            "retry_backoff",
            "retry_delay",
            "retry_count",
            "timeout_seconds",
            "timezone",
            "cron",
            "interval_seconds",
            "plugin",
        ):
            batch.drop_column(column)
