"""Alembic environment of the registry: always run programmatically on a connection we hold.

``lume_prefect.registry.migrate`` opens the connection, takes the migration lock and the
transaction, and passes the connection in ``config.attributes["connection"]``.
"""

from alembic import context

from lume_prefect.registry.migrate import VERSION_TABLE
from lume_prefect.registry.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run registry migrations through lume_prefect.registry.migrate (or `lume-prefect registry upgrade`)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
