"""Migrations that move data: what a deployment upgrading, or rolling back, keeps."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from consent.sites.configs import current_policy, get_site
from consent.storage import db
from consent.storage.models import Base


def test_dropping_purposes_keeps_them_in_the_policy_and_a_downgrade_restores_the_table(app):
    """Purposes are read from the published policy version; 0012 drops the copy nothing read, and going
    back to 0011 rebuilds it from each site's current version. Upgrading again leaves the models' schema."""
    with app.app_context():
        session = db.get_session()
        expected = [purpose["id"] for purpose in current_policy(session, get_site(session, "shop")).purposes]
    db.downgrade(app, "0011_join_heads")
    with app.app_context(), db.get_engine(app).connect() as connection:
        restored = connection.execute(text("SELECT id FROM purposes WHERE site_id = 'shop' ORDER BY position"))
        assert restored.scalars().all() == expected and len(expected) > 1
    db.upgrade(app)
    with app.app_context(), db.get_engine(app).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_sites_that_exist_do_not_reload_after_a_withdrawal_and_a_downgrade_drops_the_setting(app):
    """0015 adds reload_on_withdrawal with a server default: the sites already there keep today's behaviour."""
    db.downgrade(app, "0014_google_consent_mode")
    with app.app_context(), db.get_engine(app).connect() as connection:
        assert "reload_on_withdrawal" not in {column["name"] for column in inspect(connection).get_columns("sites")}
    db.upgrade(app)
    with app.app_context(), db.get_engine(app).connect() as connection:
        stored = connection.execute(text("SELECT reload_on_withdrawal FROM sites WHERE id = 'shop'")).scalar_one()
        assert stored in (False, 0)
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    with app.app_context():
        assert get_site(db.get_session(), "shop").reload_on_withdrawal is False


def test_lifetimes_arrive_with_the_default_for_existing_sites_and_leave_on_downgrade(app):
    """0016 gives every existing site the default lifetime, 12 months; going back to 0015 drops the column
    (and with it every site's own setting), and upgrading again gives the default once more."""
    from tests.conftest import import_site, load_site_config

    import_site(app, load_site_config(consent_lifetime_months=6))
    db.downgrade(app, "0015_purpose_cookies")
    with app.app_context(), db.get_engine(app).connect() as connection:
        assert "consent_lifetime_months" not in {column["name"] for column in inspect(connection).get_columns("sites")}
    db.upgrade(app)
    with app.app_context(), db.get_engine(app).connect() as connection:
        assert connection.execute(text("SELECT consent_lifetime_months FROM sites WHERE id = 'shop'")).scalar() == 12
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
