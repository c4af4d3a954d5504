"""token IDs unique per bank; wrong tries at registration counted against the customer

`credentials.credential_id` was unique across all banks, so a bank's PSKC import answered `duplicate` for
another bank's token ID and told it what that bank holds. UNIQUE(credential_id, bank_id) replaces it: the
token ID leads, so the one index still serves look-ups by token ID alone (operators' commands) as well as
a bank's own. `customers` gets `registration_failures`, `registration_failed_at` and
`registration_locked_at`: wrong codes at registration count against the customer who types them, never
against the token they name (existing customers start at none).

On SQLite the constraint change rebuilds `credentials` (copy, drop, rename), with foreign keys off while it
runs (migrations/env.py), so the issuances' links to it survive and the rows keep their ids. Downgrading needs
every token ID to be held by one bank only (the old constraint is global) and stops otherwise.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Callable

from alembic import op
from alembic.operations import BatchOperations
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('registration_failed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('registration_locked_at', sa.DateTime(), nullable=True))

    def per_bank(batch_op: BatchOperations) -> None:
        batch_op.drop_constraint('uq_credentials_credential_id', type_='unique')
        batch_op.create_unique_constraint('uq_credentials_credential_bank', ['credential_id', 'bank_id'])

    _change_credentials(per_bank)


def downgrade() -> None:
    def global_ids(batch_op: BatchOperations) -> None:
        batch_op.drop_constraint('uq_credentials_credential_bank', type_='unique')
        batch_op.create_unique_constraint('uq_credentials_credential_id', ['credential_id'])

    _change_credentials(global_ids)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        for column in ('registration_locked_at', 'registration_failed_at', 'registration_failures'):
            batch_op.drop_column(column)


def _change_credentials(change: Callable[[BatchOperations], None]) -> None:
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        change(batch_op)
