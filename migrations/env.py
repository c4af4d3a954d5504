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
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run otp-gateway init-db")
run_migrations_online()
