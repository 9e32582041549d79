"""Alembic environment: always runs on a connection handed over by `adapters.postgres.database.migrate`."""

from alembic import context

from auth_service.adapters.postgres.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
