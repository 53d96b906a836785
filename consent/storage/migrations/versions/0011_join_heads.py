"""Join the checkpoint publication and console roles branches into one head

Both were written side by side on top of 0008 and touch different tables; from here on every
migration has a single parent again.

Revision ID: 0011_join_heads
Revises: 0009_checkpoint_publication, 0010_console_roles_sessions
"""

revision = "0011_join_heads"
down_revision = ("0009_checkpoint_publication", "0010_console_roles_sessions")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
