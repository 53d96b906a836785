"""verified subjects: subject secrets per site; events record verification, decision time, request hash

Revision ID: 0008_verified_subjects
Revises: 0007_auditor_disabled

Bindings stored before this migration named a user only because a browser said so. They are kept as
they are (events are append-only) with `subject_verified` NULL, which every reader treats as "not
verified": the backend API reports them as `verified: false` and never as allowed. README.md,
"Identifying your users", says so to operators.
"""
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008_verified_subjects"
down_revision = "0007_auditor_disabled"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "subject_secrets",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_id", "kid"),
    )
    # Adding columns rewrites no row: the append-only triggers refuse UPDATE, not ALTER TABLE ADD.
    op.add_column("consent_events", sa.Column("subject_verified", sa.Boolean(), nullable=True))
    op.add_column("consent_events", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("consent_events", sa.Column("request_hash", sa.String(length=64), nullable=True))
    # Every existing site gets its first subject secret, so its operator can start issuing tokens.
    sites = sa.table("sites", sa.column("id", sa.String))
    subject_secrets = sa.table(
        "subject_secrets", sa.column("site_id", sa.String), sa.column("kid", sa.String),
        sa.column("secret", sa.String), sa.column("created_at", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    now = datetime.now(UTC)
    rows = [{"site_id": site_id, "kid": secrets.token_hex(4), "secret": "sts_" + secrets.token_urlsafe(32),
             "created_at": now} for site_id in connection.execute(sa.select(sites.c.id)).scalars()]
    if rows:
        op.bulk_insert(subject_secrets, rows)


def downgrade():
    with op.batch_alter_table("consent_events") as batch:
        batch.drop_column("request_hash")
        batch.drop_column("decided_at")
        batch.drop_column("subject_verified")
    op.drop_table("subject_secrets")
