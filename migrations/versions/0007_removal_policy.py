"""one bank policy for how a token may be removed, a cooling-off after removal, and when it happened

`stop_requires_otp` (the stop pages) and `release_requires_otp` (IB 利用解除) become one `removal_policy`
that every path obeys: `code` where either asked for the code (the stricter setting is kept), else
`lost-phone`. `stop_cooloff_hours` (default 0) and `customers.otp_removed_at` let the API and the signed
results say that OTP was removed recently.

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('banks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removal_policy', sa.String(length=16), nullable=False,
                                      server_default='lost-phone'))
        batch_op.add_column(sa.Column('stop_cooloff_hours', sa.Integer(), nullable=False, server_default='0'))
    op.execute("UPDATE banks SET removal_policy = 'code' WHERE stop_requires_otp OR release_requires_otp")
    with op.batch_alter_table('banks', schema=None) as batch_op:
        batch_op.drop_column('stop_requires_otp')
        batch_op.drop_column('release_requires_otp')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('otp_removed_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('otp_removed_at')
    with op.batch_alter_table('banks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stop_requires_otp', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('release_requires_otp', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    op.execute("UPDATE banks SET stop_requires_otp = (removal_policy = 'code'), "
               "release_requires_otp = (removal_policy = 'code')")
    with op.batch_alter_table('banks', schema=None) as batch_op:
        batch_op.drop_column('removal_policy')
        batch_op.drop_column('stop_cooloff_hours')
