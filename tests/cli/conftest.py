"""Fixtures of the command-line tests: the console script run against this test's database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.storage.db import Database
from tests.cli.support import Outcome, Run, environment, invoke


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    # The same instance folder and database as the `svc` fixture, so tests can check effects in-process.
    return environment(tmp_path / "instance", database_url)


@pytest.fixture
def run(cli_env: dict[str, str]) -> Run:
    """run(*args, ok=True, input=None, env={...}) → Outcome; `ok` asserts exit status 0."""

    def run_(*args: str, ok: bool = True, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        return invoke({**cli_env, **(env or {})}, *args, ok=ok, input=input)

    return run_


@pytest.fixture
def writable_audit(database_url: str) -> Iterator[Database]:
    """The audit table with its append-only trigger out of the way, restored afterwards (PostgreSQL's is shared)."""
    db = Database(database_url)
    with db.transaction() as session:
        if db.dialect == "postgresql":
            session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            session.execute(text("DROP TRIGGER audit_events_no_update"))
            session.execute(text("DROP TRIGGER audit_events_no_delete"))
    try:
        yield db
    finally:
        if db.dialect == "postgresql":
            with db.transaction() as session:
                session.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
        db.dispose()
