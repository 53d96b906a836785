"""A site's revision: raised by every change to its configuration, so workers know their cached copy is current

Revision ID: 0020_site_revision
Revises: 0019_statistics
"""
import sqlalchemy as sa
from alembic import op

revision = "0020_site_revision"
down_revision = "0019_statistics"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("sites", sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    op.drop_column("sites", "revision")  # a plain DROP COLUMN: see 0013
