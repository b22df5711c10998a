"""Alembic's environment: migrations run on the connection the store hands over in
`config.attributes["connection"]` (see exporter.store.migrate); never from a URL."""

from __future__ import annotations

from alembic import context

from exporter.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # ALTER via table copies
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
