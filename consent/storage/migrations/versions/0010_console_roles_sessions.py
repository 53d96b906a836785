"""console roles and sessions: admin users are owners or operators of named sites; session generations

Revision ID: 0010_console_roles_sessions
Revises: 0008_verified_subjects

Every admin user that exists before this migration could manage every site, so each becomes an
owner (the role that keeps exactly that). `session_generation` on admin users and auditors is raised
at sign-out, password change and disabling: a console session cookie issued under an older
generation, copies included, stops working (consent/accounts/sessions.py).
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_console_roles_sessions"
down_revision = "0008_verified_subjects"
branch_labels = None
depends_on = None


def upgrade():
    # server_default fills the rows that exist: every current admin keeps managing every site.
    op.add_column("admin_users", sa.Column("role", sa.String(length=16), nullable=False, server_default="owner"))
    op.add_column("admin_users",
                  sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("auditors", sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "admin_user_sites",
        sa.Column("admin_user_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["admin_user_id"], ["admin_users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("admin_user_id", "site_id"),
    )


def downgrade():
    op.drop_table("admin_user_sites")
    with op.batch_alter_table("auditors") as batch:
        batch.drop_column("session_generation")
    with op.batch_alter_table("admin_users") as batch:
        batch.drop_column("session_generation")
        batch.drop_column("role")
