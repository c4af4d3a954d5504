"""Alembic environment: the gateway's metadata, its own engine settings (SQLite batch mode)."""

from __future__ import annotations

import os

from alembic import context

from gateway.storage.db import make_engine
from gateway.storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("GATEWAY_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    """The migrations in one transaction. On SQLite, foreign keys are off meanwhile: a batch operation rebuilds
    a table (copy, drop, rename), and dropping the old one would run every ON DELETE action of the rows that
    refer to it (CASCADE: customers, tokens and keys gone; SET NULL: links lost). They are checked at the end."""
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:  # before the transaction: SQLite ignores this pragma inside one
        if connection.in_transaction():
            raise RuntimeError("SQLite migrations need a connection outside a transaction (engine.connect())")
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            violation = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
            connection.commit()  # what Alembic's own per-migration transactions left open; the pragma waits for it
            if violation is not None:
                raise RuntimeError(f"a migration left rows of {violation[0]} pointing at rows that do not exist")
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run otp-gateway init-db")
run_migrations_online()
