"""lanes: a site's log may be several hash chains, so that its writers need not all wait for one lock

Revision ID: 0021_lanes
Revises: 0020_site_revision

Every event stored so far is in lane 0, numbered as before, and every site has one lane: existing logs,
checkpoints and receipts verify exactly as they did. A subject's lane is stored with its pseudonym, so
raising a site's lane count moves no user (README, "Lanes"). The statistics roll-up keeps one position per
lane from now on; its counters are derived from the log alone, so they are counted again from the start.
"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0021_lanes"
down_revision = "0020_site_revision"
branch_labels = None
depends_on = None


def upgrade():
    connection = op.get_bind()
    op.add_column("sites", sa.Column("lanes", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("subjects", sa.Column("lane", sa.Integer(), nullable=False, server_default="0"))
    # Adding a column rewrites no row: the append-only triggers refuse UPDATE, not ALTER TABLE ADD.
    op.add_column("checkpoints", sa.Column("lanes", sa.JSON(), nullable=True))
    if connection.dialect.name == "sqlite":
        _rebuild_events_on_sqlite(connection, _with_lanes)
    else:
        op.add_column("consent_events", sa.Column("lane", sa.Integer(), nullable=False, server_default="0"))
        op.drop_constraint("consent_events_site_id_seq_key", "consent_events", type_="unique")
        op.create_unique_constraint("consent_events_site_id_lane_seq_key", "consent_events",
                                    ["site_id", "lane", "seq"])
    _recreate_stats_progress(lanes=True)


def _with_lanes(batch):
    batch.add_column(sa.Column("lane", sa.Integer(), nullable=False, server_default="0"))
    batch.drop_constraint("uq_consent_events_site_id_seq", type_="unique")
    batch.create_unique_constraint("uq_consent_events_site_id_lane_seq", ["site_id", "lane", "seq"])


def _without_lanes(batch):
    batch.drop_constraint("uq_consent_events_site_id_lane_seq", type_="unique")
    batch.drop_column("lane")
    batch.create_unique_constraint("uq_consent_events_site_id_seq", ["site_id", "seq"])


def _recreate_stats_progress(lanes):
    """The roll-up's positions, one per site (and lane): derived data, so the counters are counted again."""
    op.drop_table("stats_progress")
    op.create_table(
        "stats_progress",
        sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
        *([sa.Column("lane", sa.Integer(), primary_key=True, autoincrement=False)] if lanes else []),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
    )
    decision_stats = sa.table("decision_stats")
    op.execute(decision_stats.delete())  # counted again, lane by lane, by the next roll-up


def _rebuild_events_on_sqlite(connection, change):
    """SQLite drops a table's UNIQUE constraint only by rebuilding the table. Done as SQLite's documentation
    says ("Making Other Kinds Of Table Schema Changes"): foreign keys off, which only takes effect outside a
    transaction, so the migration's work so far is committed first; the rebuild in a transaction of its own,
    checked with foreign_key_check before it commits. Receipts and webhook deliveries refer to the events:
    with foreign keys on, dropping the old table would count them as orphans. The append-only triggers go
    with the old table and are created again."""
    driver = connection.connection.driver_connection
    driver.execute("COMMIT")
    driver.execute("PRAGMA foreign_keys=OFF")
    driver.execute("BEGIN IMMEDIATE")
    try:
        with op.batch_alter_table("consent_events", recreate="always",
                                  naming_convention={"uq": "uq_%(table_name)s_%(column_0_N_name)s"}) as batch:
            change(batch)
        for statement in _migration("0004_audit").refuse_changes_sql("sqlite", "consent_events"):
            driver.execute(statement)
        orphans = driver.execute("PRAGMA foreign_key_check").fetchall()
        if orphans:
            raise RuntimeError(f"rows refer to nothing after the rebuild: {orphans[:5]}")
        driver.execute("COMMIT")
    except BaseException:
        driver.execute("ROLLBACK")
        raise
    finally:
        driver.execute("PRAGMA foreign_keys=ON")
        driver.execute("BEGIN")  # the migration's transaction goes on, for the rest and for Alembic's version


def _migration(name):
    """Another migration's module (0004 wrote the triggers): their names start with a digit, so not importable."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"consent_migration_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade():
    connection = op.get_bind()
    laned = connection.execute(sa.text("SELECT count(*) FROM consent_events WHERE lane <> 0")).scalar()
    laned += connection.execute(sa.text("SELECT count(*) FROM checkpoints WHERE lanes IS NOT NULL")).scalar()
    if laned:
        # Consent records are never dropped, and the older schema has no place for these.
        raise RuntimeError("Some sites' logs have events or checkpoints of several lanes: the schema before "
                           "0021_lanes cannot hold them, so it cannot be gone back to.")
    _recreate_stats_progress(lanes=False)
    if connection.dialect.name == "sqlite":
        _rebuild_events_on_sqlite(connection, _without_lanes)
    else:
        op.drop_constraint("consent_events_site_id_lane_seq_key", "consent_events", type_="unique")
        op.drop_column("consent_events", "lane")
        op.create_unique_constraint("consent_events_site_id_seq_key", "consent_events", ["site_id", "seq"])
    for table, column in (("checkpoints", "lanes"), ("subjects", "lane"), ("sites", "lanes")):
        op.drop_column(table, column)  # plain DROP COLUMNs: see 0013
