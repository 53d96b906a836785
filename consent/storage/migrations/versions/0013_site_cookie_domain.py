"""A site's cookie domain: one decision shared by its subdomains

Revision ID: 0013_site_cookie_domain
Revises: 0012_drop_purposes
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_site_cookie_domain"
down_revision = "0012_drop_purposes"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("sites", sa.Column("cookie_domain", sa.String(length=253), nullable=True))


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would copy the table and drop the old one, and with
    # foreign keys on, dropping `sites` deletes every row that cascades from it.
    op.drop_column("sites", "cookie_domain")
