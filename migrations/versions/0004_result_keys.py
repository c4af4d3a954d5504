"""per-bank keys that sign flow results (redirect and embed modes)

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa
import gateway.storage.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('result_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=32), nullable=False),
    sa.Column('sealed_key', sa.LargeBinary(), nullable=False),
    sa.Column('seal_key_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', gateway.storage.models.UTCDateTime(), nullable=False),
    sa.Column('retired_at', gateway.storage.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['bank_id'], ['banks.id'], name=op.f('fk_result_keys_bank_id_banks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_result_keys')),
    sa.UniqueConstraint('kid', name=op.f('uq_result_keys_kid'))
    )
    with op.batch_alter_table('result_keys', schema=None) as batch_op:
        batch_op.create_index('ix_result_keys_bank', ['bank_id', 'retired_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('result_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_result_keys_bank')

    op.drop_table('result_keys')
