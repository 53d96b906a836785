"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 08:53:46.982372
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sites',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.JSON(), nullable=False),
    sa.Column('controller', sa.JSON(), nullable=False),
    sa.Column('jurisdiction', sa.String(length=8), nullable=False),
    sa.Column('default_language', sa.String(length=8), nullable=False),
    sa.Column('texts', sa.JSON(), nullable=False),
    sa.Column('age_gate', sa.Boolean(), nullable=False),
    sa.Column('current_policy_version', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('consent_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('subject_ref', sa.String(length=36), nullable=True),
    sa.Column('visitor_id', sa.String(length=64), nullable=False),
    sa.Column('policy_version', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=True),
    sa.Column('client_hash', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('event_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id'),
    sa.UniqueConstraint('site_id', 'idempotency_key'),
    sa.UniqueConstraint('site_id', 'seq')
    )
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index('ix_consent_events_site_subject', ['site_id', 'subject_ref'], unique=False)
        batch_op.create_index('ix_consent_events_site_visitor', ['site_id', 'visitor_id'], unique=False)

    op.create_table('policy_versions',
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('text', sa.JSON(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=True),
    sa.Column('texts', sa.JSON(), nullable=False),
    sa.Column('purposes', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', 'version')
    )
    op.create_table('purposes',
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('tracking', sa.Boolean(), nullable=False),
    sa.Column('sensitive', sa.Boolean(), nullable=False),
    sa.Column('title', sa.JSON(), nullable=False),
    sa.Column('description', sa.JSON(), nullable=False),
    sa.Column('cookies', sa.JSON(), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', 'id')
    )
    op.create_table('subjects',
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=128), nullable=False),
    sa.Column('pseudonym', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', 'subject_id'),
    sa.UniqueConstraint('pseudonym')
    )
    op.create_table('site_origins',
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('origin', sa.String(length=255), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', 'origin')
    )
    with op.batch_alter_table('site_origins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_origins_origin'), ['origin'], unique=False)

    op.create_table('receipts',
    sa.Column('receipt_id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('hmac_signature', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['consent_events.event_id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('receipt_id'),
    sa.UniqueConstraint('event_id')
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipts_site_id'), ['site_id'], unique=False)



def downgrade():
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipts_site_id'))

    op.drop_table('receipts')
    with op.batch_alter_table('site_origins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_origins_origin'))

    op.drop_table('site_origins')
    op.drop_table('subjects')
    op.drop_table('purposes')
    op.drop_table('policy_versions')
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_events_site_visitor')
        batch_op.drop_index('ix_consent_events_site_subject')

    op.drop_table('consent_events')
    op.drop_table('sites')
