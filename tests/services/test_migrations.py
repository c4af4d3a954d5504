"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select, text

from gateway.services import codes
from gateway.storage import migrate
from gateway.storage.db import Database
from gateway.storage.models import Bank, Base, Credential

pytestmark = pytest.mark.db


def test_models_and_migrations_agree(database_url) -> None:
    db = Database(database_url)
    try:
        assert migrate.is_current(db)
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
    finally:
        db.dispose()


def test_upgrade_is_idempotent(database_url) -> None:
    db = Database(database_url)
    try:
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.head_revision(db)
    finally:
        db.dispose()


def test_a_failure_counted_on_postgresql_leaves_the_credential_on_its_page(svc, bank, now) -> None:  # type: ignore[no-untyped-def]
    """Migration 0006: every credentials page keeps room, so a verify's UPDATE is a HOT update (the new row
    version on the same page, no index entry), even among rows inserted in bulk."""
    if svc.db.dialect != "postgresql":
        pytest.skip("fillfactor is PostgreSQL's")
    page = text("SELECT (ctid::text::point)[0]::int FROM credentials WHERE id = :id")
    with svc.db.engine.begin() as connection:
        bank_id = connection.execute(select(Bank.id).where(Bank.code == bank.code)).scalar_one()
        connection.execute(insert(Credential), [
            {"credential_id": f"FILL{n:08d}", "bank_id": bank_id, "sealed_secret": b"\x01" * 60,
             "seal_key_id": "k1", "created_at": now} for n in range(300)
        ])
        first = connection.execute(select(Credential.id).where(Credential.credential_id == "FILL00000000")).scalar_one()
        before = connection.execute(page, {"id": first}).scalar_one()
        assert connection.execute(text("SELECT count(DISTINCT (ctid::text::point)[0]) FROM credentials")).scalar_one() > 1
    with svc.db.engine.begin() as connection:
        connection.execute(codes.RECORD_FAILURE, {"credential_row": first, "now": now, "limit": 10})
        assert connection.execute(page, {"id": first}).scalar_one() == before
