"""The database engine and transactions: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from . import audit

SQLITE_BUSY_MS = 30_000
#: How long a writer retries at once (yielding the core) before it naps: about one short transaction.
SPIN_SECONDS = 0.0002
READONLY = "gateway_readonly"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the gateway's short write transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def _private_file(path: Path) -> None:
    """The database file made (or kept) readable by this user alone; SQLite gives its write-ahead log and
    shared-memory files the database's own mode. A folder made for it is private too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, say when a transaction begins (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
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
        if connection.get_execution_options().get(READONLY, False):
            driver.execute("BEGIN")
        else:
            begin_immediate(driver)


def begin_immediate(driver: sqlite3.Connection, timeout: float = SQLITE_BUSY_MS / 1000) -> None:
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
        driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")


def _locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


class Database:
    """One engine and its session factory; `transaction()` is the unit of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._driver: Any = None
        self._driver_lock = threading.Lock()

    @property
    def driver(self) -> Any:
        """The hot path's kept driver connections (`storage.driver.DriverConnections`), made when first used."""
        if self._driver is None:
            with self._driver_lock:  # one set of kept connections, whichever thread asks first
                if self._driver is None:
                    from .driver import DriverConnections

                    self._driver = DriverConnections(self.engine)
        return self._driver

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction (a consistent snapshot); on SQLite it takes no write lock."""
        with self.engine.connect() as connection:
            connection.execution_options(**{READONLY: True})
            with Session(bind=connection, expire_on_commit=False) as session:
                yield session  # closing the session rolls the snapshot back

    def dispose(self) -> None:
        if self._driver is not None:
            self._driver.close()
        self.engine.dispose()
