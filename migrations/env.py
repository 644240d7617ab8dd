"""Alembic environment for Unity: metadata and connection come from unity_core, never a web app.

Called through unity_core.storage.migrate, which passes the live connection (or, for
rendering SQL offline, a dialect URL) in `config.attributes`.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from unity_core.storage.models import Base

config = context.config
target_metadata = Base.metadata

#: Objects that exist only on one dialect or layout and are not in the portable models.
_DIALECT_EXTRAS = {"ix_metric_series_tags", "ix_plugin_metrics_time_brin"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table" and name and name.startswith("plugin_metrics_p"):
        return False  # native daily partitions
    if type_ == "index" and name in _DIALECT_EXTRAS:
        return False
    return True


def run_migrations_offline() -> None:
    context.configure(
        url=config.attributes.get("offline_url") or config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
