"""checkpoint publication: checkpoints name their lane; webhook deliveries carry a checkpoint or an event

Revision ID: 0009_checkpoint_publication
Revises: 0008_verified_subjects

Checkpoints stored before this migration keep `lane` NULL: their signed payload has no lane, and
they must keep verifying exactly as signed. Newer ones sign `"lane": 0` (README, "For auditors").
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_checkpoint_publication"
down_revision = "0008_verified_subjects"
branch_labels = None
depends_on = None

ATTEMPTS = sa.table(
    "webhook_attempts", sa.column("id", sa.Integer), sa.column("delivery_id", sa.Integer),
    sa.column("attempted_at", sa.DateTime(timezone=True)), sa.column("status_code", sa.Integer),
    sa.column("error", sa.String),
)


def upgrade():
    # Adding a column rewrites no row: the append-only triggers refuse UPDATE, not ALTER TABLE ADD.
    op.add_column("checkpoints", sa.Column("lane", sa.Integer(), nullable=True))
    # SQLite changes a column's NOT NULL only by rebuilding the table, and dropping the old one
    # deletes its delivery log through ON DELETE CASCADE (foreign keys are on, and cannot be turned
    # off inside the migration's transaction): keep the log aside and put it back.
    connection = op.get_bind()
    rebuilt = connection.dialect.name == "sqlite"
    attempts = [dict(row) for row in connection.execute(sa.select(ATTEMPTS)).mappings()] if rebuilt else []
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column("event_id", existing_type=sa.String(length=36), nullable=True)
        batch.add_column(sa.Column("checkpoint_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_webhook_deliveries_checkpoint_id", "checkpoints", ["checkpoint_id"], ["id"])
        batch.create_check_constraint("ck_webhook_deliveries_one_message",
                                      "(event_id IS NULL) <> (checkpoint_id IS NULL)")
    if rebuilt and attempts:
        connection.execute(sa.delete(ATTEMPTS))
        op.bulk_insert(ATTEMPTS, attempts)


def downgrade():
    # Without `lane`, checkpoints signed with one could no longer be checked against their signature.
    raise NotImplementedError("signed checkpoints are never dropped: their lane is part of what was signed")
