"""auditors can be disabled: disabled_at on auditors

Revision ID: 0007_auditor_disabled
Revises: 0006_join_heads
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_auditor_disabled"
down_revision = "0006_join_heads"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("auditors", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("auditors") as batch:
        batch.drop_column("disabled_at")
