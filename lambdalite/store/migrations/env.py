"""Alembic environment: runs on the connection `Database.migrate` passes in."""

from alembic import context

from lambdalite.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
