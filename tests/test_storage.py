"""Storage settings that durability depends on."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from consent.storage import db, operations  # noqa: F401  (operations: its tables join Base.metadata)
from consent.storage.models import Base


def test_sqlite_is_durable_wal(app):
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite pragmas")
    with app.app_context():
        session = db.get_session()
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_reach_the_models(app):
    """The migrated database is exactly what the models describe: tables, columns, types, indexes, keys."""
    with app.app_context(), db.get_engine(app).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
