"""Policy modelling: each site's age threshold, each policy version's effective date

Everything else issue 15 adds to a purpose (legal basis, categories, tags, dependencies, in-context
asking) lives in the policy version's purposes snapshot, a JSON column, and arrives with a new version.

Revision ID: 0017_policy_modelling
Revises: 0016_consent_lifetime
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_policy_modelling"
down_revision = "0016_consent_lifetime"
branch_labels = None
depends_on = None


def upgrade():
    # PIPL art. 31's 14 for existing sites; a site may raise it to 18.
    op.add_column("sites", sa.Column("age_threshold", sa.Integer(), nullable=False, server_default="14"))
    # Versions published before this have none: their archive shows when they were published instead.
    op.add_column("policy_versions", sa.Column("effective_date", sa.Date(), nullable=True))


def downgrade():
    op.drop_column("policy_versions", "effective_date")  # plain DROP COLUMNs: see 0013
    op.drop_column("sites", "age_threshold")
