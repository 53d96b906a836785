"""Drop the purposes table: written on every site import, never read

A site's purposes are read from its published policy version (policy_versions.purposes), the
immutable copy receipts pin; the purposes table was a second, mutable copy nothing read. Downgrading
recreates it from each site's current policy version.

Revision ID: 0012_drop_purposes
Revises: 0011_join_heads
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_drop_purposes"
down_revision = "0011_join_heads"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_table("purposes")


def downgrade():
    purposes = op.create_table(
        "purposes",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("tracking", sa.Boolean(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("cookies", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_id", "id"),
    )
    sites = sa.table("sites", sa.column("id"), sa.column("current_policy_version"))
    versions = sa.table("policy_versions", sa.column("site_id"), sa.column("version"), sa.column("purposes", sa.JSON))
    current = sa.select(versions.c.site_id, versions.c.purposes).join(
        sites, (sites.c.id == versions.c.site_id) & (sites.c.current_policy_version == versions.c.version))
    columns = [column.name for column in purposes.columns if column.name not in ("site_id", "position")]
    rows = [
        {"site_id": site_id, "position": position, **{name: purpose.get(name) for name in columns}}
        for site_id, snapshot in op.get_bind().execute(current)
        for position, purpose in enumerate(snapshot)
    ]
    if rows:
        op.bulk_insert(purposes, rows)
