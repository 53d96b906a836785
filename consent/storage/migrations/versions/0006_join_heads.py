"""Join the auditing and operator schema branches into one head

Both were written side by side on top of 0001 and touch different tables; from here on every
migration has a single parent again.

Revision ID: 0006_join_heads
Revises: 0004_audit, 0005_operators
"""

revision = "0006_join_heads"
down_revision = ("0004_audit", "0005_operators")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
