"""credentials keep a fifth of each page free on PostgreSQL, so a verify's UPDATE is a HOT update

A verify changes no indexed column of its credential. With room on the row's page, PostgreSQL writes the
new row version on the same page and no index entry; on a full page (the default fill) it writes the row
elsewhere and an entry in each of the table's five indexes, and after every checkpoint each of those pages
goes into the write-ahead log whole. In a registry of 1,000,000 bulk-loaded credentials that was 28 kB of
log a wrong code; with the room, 7 kB.

The setting applies to pages written from now on; `VACUUM FULL credentials` (which locks the table while
it rewrites it) applies it to the pages already there. SQLite has no such setting.

Revision ID: 0006
Revises: 0005
"""

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

FILLFACTOR = 80  # gateway.storage.models.CREDENTIALS_FILLFACTOR when this revision was written


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE credentials SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE credentials RESET (fillfactor)")
