"""SQLite as the gateway uses it: WAL, foreign keys, the write lock taken at BEGIN, private files."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from . import audit

#: How long a writer waits for the write lock before it gives up.
BUSY_MS = 30_000
#: How long a writer retries at once (yielding the core) before it naps: about one short transaction.
SPIN_SECONDS = 0.0002


def private_file(path: Path) -> None:
    """The database file made (or kept) readable by this user alone; SQLite gives its write-ahead log and
    shared-memory files the database's own mode. A folder made for it is private too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def tune(engine: Engine, readonly_option: str) -> None:
    """WAL, foreign keys, the busy wait, the audit chain's hash function; BEGIN IMMEDIATE unless read-only."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, say when a transaction begins (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # The audit chain's hash, called from the head's UPDATE (`audit.chain_hash`).
        dbapi_connection.create_function(audit.chain_hash.CHAIN_FUNCTION, 3, audit.chain_digest, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock at BEGIN: a deferred transaction that reads and then writes fails at once
        # with "database is locked" when another process wrote in between; an immediate one waits.
        # Read-only work (Database.reading) needs no lock: WAL readers never block or wait.
        driver = connection.connection.driver_connection
        if connection.get_execution_options().get(readonly_option, False):
            driver.execute("BEGIN")
        else:
            begin_immediate(driver)


def begin_immediate(driver: sqlite3.Connection, timeout: float = BUSY_MS / 1000) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock in short naps.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries: under load the writers of
    several processes (each holding the lock well under a millisecond) then wait far longer than the
    lock is held, in convoys. Retrying at once for about one transaction's length (yielding the core
    between tries), then after 50–800 µs, keeps the lock busy and the wait short.
    """
    deadline = time.monotonic() + timeout
    spin_until = time.monotonic() + SPIN_SECONDS
    nap = 0.00005
    driver.execute("PRAGMA busy_timeout=0")  # this wait only; other statements keep the long timeout
    try:
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                now = time.monotonic()
                if not _locked(error) or now > deadline:
                    raise
            if now < spin_until:
                os.sched_yield()  # the holder is running on another core and about done
                continue
            time.sleep(nap)
            nap = min(nap * 2, 0.0008)
    finally:
        driver.execute(f"PRAGMA busy_timeout={BUSY_MS}")


def _locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)
