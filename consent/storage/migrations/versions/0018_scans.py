"""The compliance scanner's scans: queued, running and finished, each with its date and result

Revision ID: 0018_scans
Revises: 0017_policy_modelling
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_scans"
down_revision = "0017_policy_modelling"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('queued', 'running')"


def upgrade():
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(254), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=False),
        sa.Column("follow_links", sa.Boolean(), nullable=False),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("high", sa.Integer(), nullable=True),
        sa.Column("medium", sa.Integer(), nullable=True),
        sa.Column("low", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
    )
    op.create_index("ix_scans_site_id", "scans", ["site_id"])
    # One scan per site at a time, whichever process asks: the database refuses a second active one.
    op.create_index("ux_scans_one_active", "scans", ["site_id"], unique=True,
                    sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))


def downgrade():
    op.drop_table("scans")
