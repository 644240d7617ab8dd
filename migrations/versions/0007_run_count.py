"""plugin_status.run_count: every stored outcome, a monotonic counter for /metrics.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("plugin_status") as batch:
        batch.add_column(
            sa.Column("run_count", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("plugin_status") as batch:
        batch.alter_column("run_count", server_default=None, existing_type=sa.BigInteger())


def downgrade() -> None:
    with op.batch_alter_table("plugin_status") as batch:
        batch.drop_column("run_count")
