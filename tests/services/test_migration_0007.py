"""Migration 0007 on a SQLite database with data: the banks' table is rebuilt and nothing under it is lost."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from gateway.storage import migrate
from gateway.storage.db import Database

WHEN = "2026-11-23 03:00:00.000000"


def test_0007_keeps_every_row_and_maps_the_two_flags_to_one_policy(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(db, "0006")
    with db.engine.begin() as connection:
        for code, stop, release in (("0001", 0, 0), ("0002", 0, 1), ("0003", 1, 0)):
            connection.execute(text(
                "INSERT INTO banks (code, name, colour, token_prefix, token_period, token_digits, token_algorithm, "
                "service_id, is_demo, stop_requires_otp, release_requires_otp, reregister_delay_days, "
                f"embed_origins_json, return_urls_json, created_at) VALUES ('{code}', 'B', '#004e9a', 'SYMC', 30, 6, "
                f"'SHA1', '1000{code}', 0, {stop}, {release}, 1, '[]', '[]', '{WHEN}')"))
        connection.execute(text(
            "INSERT INTO customers (bank_id, contract_id, login_password_hash, otp_status, password_failures, "
            f"created_at, updated_at) VALUES (1, '1000000001', 'h', 'none', 0, '{WHEN}', '{WHEN}')"))
        connection.execute(text(
            "INSERT INTO api_keys (bank_id, key_hash, prefix, created_at) VALUES (1, 'x', 'ogw_', :when)"),
            {"when": WHEN})
    migrate.upgrade(db)
    with db.engine.begin() as connection:
        assert connection.execute(text("SELECT code, removal_policy, stop_cooloff_hours FROM banks ORDER BY code")
                                  ).all() == [("0001", "lost-phone", 0), ("0002", "code", 0), ("0003", "code", 0)]
        assert connection.execute(text("SELECT count(*) FROM customers")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM api_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1  # back on for the pooled connection
    db.dispose()
