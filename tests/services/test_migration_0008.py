"""Migration 0008 on a database with data: token IDs unique per bank, the customers' registration counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gateway.storage import migrate
from gateway.storage.db import Database
from gateway.storage.models import Base

WHEN = "2026-11-23 03:00:00.000000"
ROWS = [
    "INSERT INTO banks (id, code, name, colour, token_prefix, token_period, token_digits, token_algorithm, "
    "service_id, is_demo, removal_policy, stop_cooloff_hours, reregister_delay_days, embed_origins_json, "
    f"return_urls_json, created_at) VALUES (1, '0001', 'A', '#004e9a', 'SYMC', 30, 6, 'SHA1', 'SVC1', 0, "
    f"'lost-phone', 0, 1, '[]', '[]', '{WHEN}'), (2, '0002', 'B', '#004e9a', 'OTHR', 30, 6, 'SHA1', 'SVC2', 0, "
    f"'lost-phone', 0, 1, '[]', '[]', '{WHEN}')",
    "INSERT INTO customers (id, bank_id, contract_id, login_password_hash, otp_status, password_failures, "
    f"created_at, updated_at) VALUES (1, 1, '1000000001', 'h', 'active', 0, '{WHEN}', '{WHEN}'), "
    f"(2, 1, '1000000002', 'h', 'none', 3, '{WHEN}', '{WHEN}')",
    "INSERT INTO credentials (id, credential_id, bank_id, customer_id, kind, algorithm, digits, period, counter, "
    "sealed_secret, seal_key_id, state, drift, failure_count, source, created_at) VALUES "
    f"(1, 'SYMC00000001', 1, 1, 'totp', 'SHA1', 6, 30, 0, x'01', 'k', 'active', 0, 0, 'minted', '{WHEN}'), "
    f"(2, 'SYMC00000002', 1, 2, 'totp', 'SHA1', 6, 30, 0, x'02', 'k', 'available', 0, 0, 'issued', '{WHEN}'), "
    f"(3, 'VND123456', 2, NULL, 'totp', 'SHA1', 6, 30, 0, x'03', 'k', 'available', 0, 2, 'pskc', '{WHEN}')",
    "INSERT INTO issuances (id, bank_id, customer_id, credential_id, service_id, user_id, email, "
    "activation_password_hash, activation_failures, state, created_at) VALUES "
    f"(1, 1, 2, 2, 'SVC1', 'U00000000001', 'taro@example.jp', 'h', 0, 'provisioned', '{WHEN}')",
]


@pytest.fixture
def old_database(tmp_path: Path) -> Iterator[Database]:
    """A SQLite database at revision 0007 with banks, customers, bound and reserved tokens, an issuance."""
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(db, "0007")
    with db.engine.begin() as connection:
        for statement in ROWS:
            connection.execute(text(statement))
    yield db
    db.dispose()


def test_0008_keeps_every_row_and_link(old_database: Database) -> None:
    migrate.upgrade(old_database)
    with old_database.engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM banks")).scalar() == 2
        assert connection.execute(text(
            "SELECT id, credential_id, bank_id, customer_id, failure_count FROM credentials ORDER BY id")).all() == [
            (1, "SYMC00000001", 1, 1, 0), (2, "SYMC00000002", 1, 2, 0), (3, "VND123456", 2, None, 2)]
        assert connection.execute(text("SELECT customer_id, credential_id FROM issuances")).all() == [(2, 2)]
        assert connection.execute(text(
            "SELECT contract_id, password_failures, registration_failures, registration_failed_at, "
            "registration_locked_at FROM customers ORDER BY id")).all() == [
            ("1000000001", 0, 0, None, None), ("1000000002", 3, 0, None, None)]
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_0008_makes_token_ids_unique_per_bank(old_database: Database) -> None:
    insert = ("INSERT INTO credentials (credential_id, bank_id, kind, algorithm, digits, period, counter, "
              "sealed_secret, seal_key_id, state, drift, failure_count, source, created_at) VALUES "
              f"(:token_id, :bank, 'totp', 'SHA1', 6, 30, 0, x'04', 'k', 'available', 0, 0, 'pskc', '{WHEN}')")
    migrate.upgrade(old_database)
    with old_database.engine.begin() as connection:
        connection.execute(text(insert), {"token_id": "VND123456", "bank": 1})  # held by bank 2 too
    with pytest.raises(IntegrityError), old_database.engine.begin() as connection:
        connection.execute(text(insert), {"token_id": "VND123456", "bank": 2})
    with old_database.engine.begin() as connection:
        # Still at most one active token per customer (the partial index came through the table's rebuild).
        connection.execute(text("UPDATE credentials SET state = 'revoked' WHERE id = 1"))
        connection.execute(text("UPDATE credentials SET state = 'revoked', customer_id = 1 WHERE id = 2"))
        connection.execute(text("UPDATE credentials SET state = 'active', customer_id = 1 WHERE id = 3"))
    with pytest.raises(IntegrityError), old_database.engine.begin() as connection:
        connection.execute(text("UPDATE credentials SET state = 'active' WHERE id = 1"))


def test_0008_downgrades_while_no_two_banks_share_an_id(old_database: Database) -> None:
    migrate.upgrade(old_database)
    _downgrade(old_database, "0007")
    with old_database.engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM credentials")).scalar() == 3
        assert connection.execute(text("SELECT customer_id, credential_id FROM issuances")).all() == [(2, 2)]


def _downgrade(db: Database, revision: str) -> None:
    from alembic import command

    cfg = migrate.alembic_config(db)
    with db.engine.connect() as connection:  # outside a transaction, as migrations/env.py needs on SQLite
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)
