"""Alembic environment: runs on the connection `consent.storage.db.upgrade` hands over."""
from alembic import context

from consent.storage import operations  # noqa: F401  (its tables join Base.metadata)
from consent.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("Run migrations with `flask --app app consent db upgrade`.")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
