"""proof for auditors: signing keys, receipt JWS, checkpoints, auditors; append-only triggers

Revision ID: 0004_audit
Revises: 0001
Create Date: 2026-11-25 09:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_audit"
down_revision = "0001"
branch_labels = None
depends_on = None

# The proof tables: the database itself refuses to change or remove their rows, whatever the code does.
APPEND_ONLY_TABLES = ("consent_events", "receipts", "receipt_signatures", "checkpoints")


def upgrade():
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_table(
        "receipt_signatures",
        sa.Column("receipt_id", sa.String(length=36), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["kid"], ["signing_keys.kid"]),
        sa.ForeignKeyConstraint(["receipt_id"], ["receipts.receipt_id"]),
        sa.PrimaryKeyConstraint("receipt_id"),
    )
    op.create_index("ix_receipt_signatures_kid", "receipt_signatures", ["kid"])
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["kid"], ["signing_keys.kid"]),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_checkpoints_site_count", "checkpoints", ["site_id", "count"])
    op.create_table(
        "auditors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "auditor_sites",
        sa.Column("auditor_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["auditor_id"], ["auditors.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("auditor_id", "site_id"),
    )
    for table in APPEND_ONLY_TABLES:
        for statement in refuse_changes_sql(op.get_bind().dialect.name, table):
            op.execute(statement)


def refuse_changes_sql(dialect, table):
    """Statements creating triggers that make `table` append-only on this database.

    A later migration that rebuilds one of these tables (SQLite batch mode drops and recreates it)
    must run these statements again: the triggers go with the old table.
    """
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_append_only_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
            for verb in ("UPDATE", "DELETE")
        ]
    return [
        "CREATE OR REPLACE FUNCTION consent_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION consent_refuse_change()",
        f"CREATE TRIGGER {table}_append_only_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION consent_refuse_change()",
    ]


def downgrade():
    raise NotImplementedError("consent records are never dropped")
