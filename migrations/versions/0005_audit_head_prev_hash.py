"""the audit head keeps the hash before its own, so that one UPDATE hands both to the row it appends

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=False, server_default=GENESIS))
    # The chain's last row names the hash before the head's.
    op.execute(
        "UPDATE audit_head SET prev_hash = COALESCE("
        "(SELECT audit_events.prev_hash FROM audit_events WHERE audit_events.seq = audit_head.seq), "
        f"'{GENESIS}')"
    )


def downgrade() -> None:
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('prev_hash')
