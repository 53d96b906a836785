"""Statistics: each site's time zone, and aggregate counters rolled up outside the decision path

Revision ID: 0019_statistics
Revises: 0018_scans
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_statistics"
down_revision = "0018_scans"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("sites", sa.Column("time_zone", sa.String(64), nullable=True))
    # Whether the widget sends its anonymous banner marks (shown, decided): on unless the site turns it off.
    op.add_column("sites", sa.Column("banner_statistics", sa.Boolean(), nullable=False, server_default=sa.true()))
    site = sa.ForeignKey("sites.id", ondelete="CASCADE")
    op.create_table(
        "decision_stats",
        sa.Column("site_id", sa.String(64), site, primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("language", sa.String(8), primary_key=True),
        sa.Column("policy_version", sa.String(64), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in (
            "decisions", "accept_all", "reject_all", "custom", "withdrawals", "under_age", "dnt", "gpc")),
        sa.Column("granted", sa.JSON(), nullable=False),
    )
    op.create_table(
        "funnel_marks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=True),
    )
    op.create_table(
        "funnel_stats",
        sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("language", sa.String(8), primary_key=True),
        sa.Column("outcome", sa.String(16), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.JSON(), nullable=False),
    )
    op.create_table(
        "stats_progress",
        sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
    )


def downgrade():
    for table in ("stats_progress", "funnel_stats", "funnel_marks", "decision_stats"):
        op.drop_table(table)
    op.drop_column("sites", "banner_statistics")  # plain DROP COLUMNs: see 0013
    op.drop_column("sites", "time_zone")
