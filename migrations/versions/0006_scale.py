"""Scale-out: the collecting worker's host on every sample, and worker heartbeats (issue 8).

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from unity_core.storage.types import PortableJSON, UTCDateTime

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A nullable column without a default: a catalog-only change on PostgreSQL (partitions
    # and TimescaleDB chunks included) and MariaDB; SQLite's ADD COLUMN needs no rebuild.
    op.add_column("plugin_metrics", sa.Column("worker_host", sa.String(255), nullable=True))
    op.create_table(
        "worker_heartbeats",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("queues", PortableJSON, nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("last_heartbeat", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
    with op.batch_alter_table("plugin_metrics") as batch:
        batch.drop_column("worker_host")
