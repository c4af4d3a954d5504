"""The database engine and transactions: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from . import sqlite

#: An execution option: a transaction that only reads (on SQLite it takes no write lock).
READONLY = "gateway_readonly"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for the gateway's short write transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            sqlite.private_file(Path(parsed.database))
        engine = create_engine(
            url,
            connect_args={"timeout": sqlite.BUSY_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        sqlite.tune(engine, READONLY)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


class Database:
    """One engine and its session factory; `transaction()` is the unit of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: Called with a committed driver transaction's `info` (the metrics of the audit events it noted).
        self.commit_listeners: list[Callable[[dict[str, Any]], None]] = []
        self._driver: Any = None
        self._driver_lock = threading.Lock()

    @property
    def driver(self) -> Any:
        """Verification's kept driver connections (`storage.driver.DriverConnections`), made when first used."""
        if self._driver is None:
            with self._driver_lock:  # one set of kept connections, whichever thread asks first
                if self._driver is None:
                    from .driver import DriverConnections

                    self._driver = DriverConnections(self.engine, self.commit_listeners)
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
