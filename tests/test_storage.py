"""Storage settings that durability depends on."""
import pytest
from sqlalchemy import text

from consent.storage import db


def test_sqlite_is_durable_wal(app):
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite pragmas")
    with app.app_context():
        session = db.get_session()
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_reach_the_models(app):
    with app.app_context():
        tables = set(db.get_session().execute(text(
            "SELECT name FROM sqlite_master WHERE type='table'" if app.config["DATABASE_URL"].startswith("sqlite")
            else "SELECT tablename FROM pg_tables WHERE schemaname='public'"
        )).scalars())
    assert {"sites", "site_origins", "purposes", "policy_versions", "consent_events", "receipts"} <= tables
