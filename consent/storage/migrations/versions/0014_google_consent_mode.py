"""A site's Google Consent Mode mapping: which purposes grant each consent type

Revision ID: 0014_google_consent_mode
Revises: 0013_site_cookie_domain
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_google_consent_mode"
down_revision = "0013_site_cookie_domain"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("sites", sa.Column("google_consent_mode", sa.JSON(), nullable=True))


def downgrade():
    op.drop_column("sites", "google_consent_mode")  # a plain DROP COLUMN: see 0013
