"""A site's reload after withdrawal: the widget reloads the page so that trackers already running stop

Revision ID: 0015_purpose_cookies
Revises: 0014_google_consent_mode

The purposes' declared cookies and storage keys need no migration: they live in each policy version's
purposes snapshot (JSON), and a snapshot without them reads as declaring none.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_purpose_cookies"
down_revision = "0014_google_consent_mode"
branch_labels = None
depends_on = None


def upgrade():
    # The server default fills the sites that exist: they keep today's behaviour, no reload.
    op.add_column("sites", sa.Column("reload_on_withdrawal", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    op.drop_column("sites", "reload_on_withdrawal")  # a plain DROP COLUMN: see 0013
