"""Transactions: writers serialise (SQLite takes the write lock at BEGIN), readers never wait for them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gateway.services import banks


@pytest.mark.db
def test_readers_do_not_wait_for_a_writer(svc, bank) -> None:
    with svc.db.transaction() as writer:
        writer.execute(text("UPDATE banks SET name = 'renamed' WHERE code = '0001'"))
        # Another connection reads the last committed snapshot while the write is still open.
        assert [b.name for b in banks.list_banks(svc)] == ["テスト信用組合"]
    assert banks.get_bank(svc, "0001").name == "renamed"


def test_sqlite_pragmas(svc) -> None:
    """Not marked `db`: it is about the embedded SQLite default only."""
    if svc.db.dialect != "sqlite":
        pytest.skip("SQLite only")
    with svc.db.reading() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() == 30000
