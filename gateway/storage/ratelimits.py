"""Rate-limit counters in a SQLite file: one count for every worker process of a host, without Redis.

`limits` (Flask-Limiter's storage layer) keeps `memory://` counters in each process, so with several gunicorn
workers each would count alone and a limit would let through as many times its number as there are workers.
This storage, `sqlite:///PATH`, keeps them in one file every process of the host writes to (each count is one
atomic UPSERT, the counter's window restarting when it has expired). Several hosts need Redis (`redis://…`):
a file is one host's.

Counters are kept in write-ahead-log mode without syncing to disk: losing the last counts in a power cut
costs nothing, and a count never waits for the disk.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

from limits.storage import Storage

#: Expired counters are swept out every this many counts made by a process.
SWEEP_EVERY = 1000

_SCHEMA = "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, " \
          "expires_at REAL NOT NULL) WITHOUT ROWID"
_INCR = (
    "INSERT INTO counters (key, value, expires_at) VALUES (:key, :amount, :now + :expiry) "
    "ON CONFLICT (key) DO UPDATE SET "
    "value = CASE WHEN expires_at <= :now THEN excluded.value ELSE value + excluded.value END, "
    "expires_at = CASE WHEN expires_at <= :now THEN excluded.expires_at ELSE expires_at END "
    "RETURNING value"
)


class SQLiteStorage(Storage):
    """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db` (the form SQLAlchemy uses)."""

    STORAGE_SCHEME = ["sqlite"]  # noqa: RUF012 - the name limits' registry looks for

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        path = uri.split("://", 1)[1]
        if not path.startswith("/") or path == "/":
            raise ValueError(f"{uri}: give a file, sqlite:///PATH")
        self.path = path[1:]
        self._local = threading.local()
        self._counts = 0
        with self._connection() as connection:
            connection.execute(_SCHEMA)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (made again in a forked worker: a connection never crosses a fork)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            folder = os.path.dirname(self.path)
            if folder:
                os.makedirs(folder, mode=0o700, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # this user's alone, as the database
            connection = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=True)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")
            local.connection, local.pid = connection, os.getpid()
        return local.connection  # type: ignore[no-any-return]

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        connection = self._connection()
        (value,) = connection.execute(_INCR, {"key": key, "amount": amount, "now": now, "expiry": expiry}).fetchone()
        self._counts += 1
        if self._counts % SWEEP_EVERY == 0:
            connection.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        return int(value)

    def get(self, key: str) -> int:
        row = self._connection().execute("SELECT value FROM counters WHERE key = ? AND expires_at > ?",
                                         (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = self._connection().execute("SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?",
                                         (key, now)).fetchone()
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._connection().execute("SELECT 1 FROM counters LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return self._connection().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._connection().execute("DELETE FROM counters WHERE key = ?", (key,))
