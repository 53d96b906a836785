"""A decision's lifetime: each site's consent_lifetime_months

Each decision's expiry needs no column: it is in the event's hashed document (`expires_at`) and its
signed receipt (`expiresAt`), read from there (consent/ledger/lifetime.py). Events recorded before this
migration hold none and cannot be given one (they are append-only); they are read as lasting the default
12 months from their decision.

Revision ID: 0016_consent_lifetime
Revises: 0015_purpose_cookies
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_consent_lifetime"
down_revision = "0015_purpose_cookies"
branch_labels = None
depends_on = None


def upgrade():
    # Existing sites get the default lifetime, 12 months.
    op.add_column("sites", sa.Column("consent_lifetime_months", sa.Integer(), nullable=False, server_default="12"))


def downgrade():
    op.drop_column("sites", "consent_lifetime_months")  # a plain DROP COLUMN: see 0013
