"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.storage import migrate
from gateway.storage.db import Database
from gateway.storage.models import Base

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
