"""Transactions on a kept driver connection: the verify's few Core statements at driver speed.

SQLAlchemy's execution pipeline costs more per statement than SQLite takes to run one, and a pool
checkout with pre-ping costs PostgreSQL a round trip. Verification instead keeps one driver connection per
thread and runs the same Core statements, compiled once for the dialect, straight on its cursors, with
the same type conversions (`TypeEngine.bind_processor` / `result_processor`). `transaction()` gives an
object with the `execute(statement, params)` the shared code (`codes`, `audit`) already calls.

A PostgreSQL connection is kept in autocommit: a read is one round trip with no BEGIN or COMMIT, and a
write of one statement (`transaction(one_statement=True)`) commits with it, durably, in the same round trip.

A connection the server dropped is replaced: a read that finds it so runs once more on a new one; a
transaction never runs twice (its write may have committed before the connection broke) and raises
DatabaseUnavailable, as every failure to reach the database does.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from .sqlite import begin_immediate

#: SQLite: the kept connections copy the write-ahead log back into the database after every this many
#: of a process's commits, once the response is sent (`checkpoint`), not inside a request's commit.
CHECKPOINT_EVERY = 100


class DatabaseUnavailable(Exception):
    """The database did not answer (down, restarting, unreachable, or its lock not granted in time)."""


class Compiled:
    """One Core statement compiled for one dialect: its SQL text, how to bind, how to read its rows."""

    __slots__ = ("fixed", "names", "positional", "processors", "readers", "row", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: tuple[str, ...] = ()) -> None:
        # As the engine does: an INSERT without values() sets the columns its parameters name.
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        binds = compiled.binds
        self.names: tuple[str, ...] = (tuple(compiled.positiontup or ()) if self.positional
                                       else tuple(dict.fromkeys(compiled.bind_names.values())))
        # One conversion per name, from whichever use of the name has a type (as the engine does: a
        # parameter used in a SET and in a CASE is typed by the column it sets).
        converters: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                converters.setdefault(name, process)
        self.fixed: dict[str, Any] = {}  # literal values in the statement, converted once
        self.processors: dict[str, Callable[[Any], Any] | None] = {}
        for name in dict.fromkeys(self.names):
            bind, process = binds[name], converters.get(name)
            if bind.required or bind.callable is not None:
                self.processors[name] = process
            else:
                self.fixed[name] = process(bind.value) if process and bind.value is not None else bind.value
        columns = list(getattr(statement, "exported_columns", ()) or ())
        self.row: type[tuple[Any, ...]] | None = None
        self.readers: tuple[Callable[[Any], Any] | None, ...] = ()
        if columns:
            self.row = collections.namedtuple("Row", [c.key for c in columns], rename=True)  # type: ignore[misc]
            self.readers = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)

    def parameters(self, given: dict[str, Any]) -> Any:
        values = dict(self.fixed)
        for name, process in self.processors.items():
            value = given[name]
            values[name] = process(value) if process is not None and value is not None else value
        if self.positional:
            return tuple(values[name] for name in self.names)
        return values

    def rows(self, raw: list[Any]) -> list[Any]:
        assert self.row is not None
        readers, make = self.readers, self.row._make  # type: ignore[attr-defined]
        if not any(readers):
            return [make(record) for record in raw]
        return [make(value if read is None or value is None else read(value)
                     for read, value in zip(readers, record, strict=True)) for record in raw]


class Result(NamedTuple):
    rowcount: int
    all_rows: list[Any]

    def first(self) -> Any:
        return self.all_rows[0] if self.all_rows else None

    def one(self) -> Any:
        if len(self.all_rows) != 1:
            raise LookupError(f"expected one row, got {len(self.all_rows)}")
        return self.all_rows[0]


def _read(cursor: Any, compiled: Compiled) -> Result:
    return Result(cursor.rowcount, compiled.rows(cursor.fetchall()) if compiled.row is not None else [])


class Transaction:
    """What `codes` and `audit` need of a connection: `execute`, `info` (pending metrics) and `engine`.

    `limit`: how many more statements it may execute (None: any number); a write that must be one
    statement on PostgreSQL (`DriverConnections.transaction(one_statement=True)`) is held to it.
    """

    __slots__ = ("_compile", "_connection", "engine", "info", "limit")

    def __init__(self, engine: Engine, connection: Any,
                 compile_: Callable[[ClauseElement, tuple[str, ...]], Compiled]) -> None:
        self.engine = engine
        self.info: dict[str, Any] = {}
        self._connection = connection
        self._compile = compile_
        self.limit: int | None = None

    def execute(self, statement: ClauseElement, params: dict[str, Any] | None = None) -> Result:
        if self.limit is not None:
            if self.limit == 0:
                raise RuntimeError("this write must be one statement (it runs in autocommit)")
            self.limit -= 1
        params = params or {}
        compiled = self._compile(statement, tuple(params))
        cursor = self._connection.cursor()
        try:
            cursor.execute(compiled.sql, compiled.parameters(params))
            return _read(cursor, compiled)
        finally:
            cursor.close()


class DriverConnections:
    """One driver connection per thread, taken from the engine once (its connect events applied) and kept.

    `on_commit` callbacks get a committed transaction's `info` (the audit events it noted, for metrics).
    """

    def __init__(self, engine: Engine, on_commit: list[Callable[[dict[str, Any]], None]] | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.sqlite = engine.dialect.name == "sqlite"
        self.on_commit = on_commit if on_commit is not None else []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._kept: list[Any] = []
        self._compiled: dict[tuple[int, tuple[str, ...]], tuple[ClauseElement, Compiled]] = {}
        self._pid = os.getpid()
        self._commits = 0  # SQLite: commits since the last checkpoint
        dbapi = engine.dialect.loaded_dbapi
        self._errors: tuple[type[BaseException], ...] = (dbapi.OperationalError, dbapi.InterfaceError)

    def compiled(self, statement: ClauseElement, keys: tuple[str, ...] = ()) -> Compiled:
        """`statement` compiled for the parameters named `keys`, once (statements are module constants)."""
        found = self._compiled.get((id(statement), keys))
        if found is None or found[0] is not statement:
            found = (statement, Compiled(statement, self.dialect, keys))
            self._compiled[(id(statement), keys)] = found  # holds the statement, so its id stays its own
        return found[1]

    def read(self, statement: ClauseElement, params: dict[str, Any]) -> Any:
        """The first row of one read (None: no row), outside any write transaction: SQLite reads a snapshot
        without the write lock (WAL); PostgreSQL in autocommit. A dropped connection is replaced and the
        read made once more; raises DatabaseUnavailable if the database does not answer."""
        for attempt in (1, 2):
            connection = self._connection()
            try:
                return Transaction(self.engine, connection, self.compiled).execute(statement, params).first()
            except self._errors as error:
                self._rollback(connection)
                if self._broken(connection, error):
                    self._discard(connection)
                    if attempt == 1:
                        continue
                raise DatabaseUnavailable(str(error)) from error
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def transaction(self, one_statement: bool = False) -> Iterator[Transaction]:
        """One transaction on the thread's connection: committed when the block ends, rolled back if it
        raises. `one_statement`: the block runs a single statement, which PostgreSQL commits with its own
        round trip (autocommit); on SQLite it is a transaction like any other (BEGIN IMMEDIATE … COMMIT)."""
        connection = self._connection()
        transaction = Transaction(self.engine, connection, self.compiled)
        try:
            if self.sqlite:
                begin_immediate(connection)
                yield transaction
                connection.execute("COMMIT")
                self._commits += 1
            elif one_statement:
                transaction.limit = 1
                yield transaction
            else:
                with connection.transaction():
                    yield transaction
        except self._errors as error:
            self._rollback(connection)
            if self._broken(connection, error):
                self._discard(connection)
            raise DatabaseUnavailable(str(error)) from error
        except BaseException:
            self._rollback(connection)
            raise
        if self._commits >= 10 * CHECKPOINT_EVERY:  # nobody called checkpoint(): the log still stays short
            self.checkpoint()
        if transaction.info:
            for listener in self.on_commit:  # nothing after a commit may raise
                with contextlib.suppress(Exception):
                    listener(transaction.info)

    @property
    def checkpoint_due(self) -> bool:
        return self._commits >= CHECKPOINT_EVERY

    def checkpoint_if_due(self) -> None:
        if self.checkpoint_due:
            self.checkpoint()

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log back into the database (PASSIVE: waits for no reader or writer).

        SQLite would do it itself at the commit that crosses its threshold, inside that request, which would
        then wait for the copy and its fsync. The kept connections leave it to whoever
        answers after the response is sent (`web.api.verify`); reads and writes are never blocked.
        """
        self._commits = 0
        connection = getattr(self._local, "connection", None)
        if self.sqlite and connection is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            _close_quietly(connection)
        self._local = threading.local()

    # --- the kept connections ------------------------------------------------------------------------
    def _connection(self) -> Any:
        connection, pid = getattr(self._local, "connection", None), os.getpid()
        if connection is None or self._pid != pid:
            if self._pid != pid:  # a forked child never uses its parent's connections
                self._pid, self._kept, self._local, self._commits = pid, [], threading.local(), 0
            try:
                fairy = self.engine.raw_connection()
            except Exception as error:  # the server is down or refuses: nothing was sent
                raise DatabaseUnavailable(str(error)) from error
            connection = fairy.driver_connection
            fairy.detach()  # ours for the thread's life, outside the pool's count
            if self.sqlite:
                connection.execute("PRAGMA wal_autocheckpoint=0")  # see checkpoint()
            else:
                connection.rollback()  # whatever the pool's checkout left open
                connection.autocommit = True  # see the module's docstring
            self._local.connection = connection
            with self._lock:
                self._kept.append(connection)
        return connection

    def _broken(self, connection: Any, error: BaseException) -> bool:
        if self.sqlite:
            return False
        return bool(getattr(connection, "broken", False) or getattr(connection, "closed", False)
                    or self.dialect.is_disconnect(error, connection, None))  # type: ignore[arg-type]

    def _rollback(self, connection: Any) -> None:
        try:
            if self.sqlite:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
            else:
                connection.rollback()
        except (sqlite3.Error, *self._errors):
            pass

    def _discard(self, connection: Any) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._kept:
                self._kept.remove(connection)
        _close_quietly(connection)


def _close_quietly(connection: Any) -> None:
    """Close a driver connection that may be broken or closed already."""
    with contextlib.suppress(Exception):
        connection.close()
