"""Alembic environment of the results store.

Run by ``lume_prefect.results.sql.migrate`` on a connection it passes in
``config.attributes["connection"]``; the version is kept in its own table so the results
store can share a database with the model registry.
"""

from alembic import context

from lume_prefect.results.sql import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
