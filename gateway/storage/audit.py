"""The append-only, hash-chained audit trail. Never a password, code or secret in it."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, String, Text, bindparam, exists, insert, literal_column, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from .models import AuditEvent, AuditHead

GENESIS = "0" * 64
#: Called for every appended event with (connection or session, its values, `locked_now`), e.g. the metrics
#: (`observability`), which count it once the transaction commits.
APPEND_LISTENERS: list[Callable[[Any, dict[str, Any], bool | None], None]] = []
#: Keys that must never reach an audit row, whatever a caller passes.
FORBIDDEN_DETAIL = {"password", "otp", "otp1", "otp2", "code", "secret", "seed", "key", "activation_password"}
FIELDS = (
    "seq",
    "created_at",
    "bank_code",
    "contract_id",
    "credential_id",
    "actor",
    "event",
    "result",
    "ip",
    "user_agent",
    "detail",
)
#: The fields an event's values name, after `seq` (its seq and hashes come from the head).
_VALUE_COLUMNS = FIELDS[1:]


def canonical_detail(detail: dict[str, Any] | None) -> str:
    detail = detail or {}
    leaked = FORBIDDEN_DETAIL.intersection(k.lower() for k in detail)
    if leaked:
        raise ValueError(f"audit detail must not carry {sorted(leaked)}")
    return json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def row_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and this row's fields in a fixed, type-stable form."""
    return chain_digest(prev_hash, values["seq"], hashed_tail(values))


def hashed_tail(values: dict[str, Any]) -> str:
    """The fields after `seq` as the hash takes them: each after a separator (\\x1f), None as ''."""
    parts = [""]
    for name in _VALUE_COLUMNS:
        value = values[name]
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts.append("" if value is None else str(value))
    return "\x1f".join(parts)


def chain_digest(prev_hash: str, seq: int, tail: str) -> str:
    """A row's hash from the one before, its seq and its `hashed_tail` (SQLite calls it from SQL)."""
    return hashlib.sha256(f"{prev_hash}\x1f{seq}{tail}".encode()).hexdigest()


class chain_hash(FunctionElement[str]):
    """`chain_digest` in SQL: SQLite calls the Python function (registered on every connection by
    `storage.db`); PostgreSQL computes the same text's SHA-256 itself."""

    type = String()
    name = CHAIN_FUNCTION = "gateway_chain_hash"
    inherit_cache = True


@compiles(chain_hash)
def _chain_hash_by_function(element: chain_hash, compiler: Any, **kw: Any) -> str:
    return f"{chain_hash.CHAIN_FUNCTION}({compiler.process(element.clauses, **kw)})"


@compiles(chain_hash, "postgresql")
def _chain_hash_in_postgresql(element: chain_hash, compiler: Any, **kw: Any) -> str:
    prev, seq, tail = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"encode(sha256(convert_to({prev} || chr(31) || CAST({seq} AS TEXT) || {tail}, 'UTF8')), 'hex')"


_EVENTS = AuditEvent.__table__
_HEAD = AuditHead.__table__


def _advance(*where: Any) -> Any:
    """The head moved on by one event: its lock, the next seq, the previous hash and the new one, in one
    UPDATE whose SET sees the head as it was. Concurrent appends queue on the head's row lock; on
    PostgreSQL the SET is computed again on the newest head once the lock is granted."""
    seq = _HEAD.c.seq + 1
    return (
        update(_HEAD).where(_HEAD.c.id == 1, *where)
        .values(seq=seq, prev_hash=_HEAD.c.hash,
                hash=chain_hash(_HEAD.c.hash, seq, bindparam("audit_tail", type_=Text)))
        .returning(_HEAD.c.seq, _HEAD.c.prev_hash, _HEAD.c.hash)
    )


_ADVANCE = _advance()
_INSERT = insert(_EVENTS)


def append(
    session: Session | Connection,
    *,
    event: str,
    result: str,
    now: dt.datetime,
    actor: str,
    bank_code: str | None = None,
    contract_id: str | None = None,
    credential_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    detail: dict[str, Any] | None = None,
    only_if: tuple[Any, dict[str, Any]] | None = None,
    locked_now: bool | None = None,
) -> int | None:
    """Append one event inside the caller's transaction; returns its sequence number.

    `only_if`: an UPDATE and its parameters, run first; the event is appended only if that changed one
    row, else nothing is written and None is returned. On PostgreSQL the UPDATE, the head and the event
    are one statement: one round trip, and the head's lock is held for no longer than the statement and
    its commit. `locked_now`: for the metrics, whether this attempt locked the credential, if the caller
    knows.
    """
    values: dict[str, Any] = {
        "created_at": now,
        "bank_code": bank_code,
        "contract_id": contract_id,
        "credential_id": credential_id,
        "actor": actor[:64],
        "event": event,
        "result": result,
        "ip": ip[:64] if ip else None,
        "user_agent": user_agent[:500] if user_agent else None,
        "detail": canonical_detail(detail),
    }
    tail = hashed_tail(values)
    if _dialect(session) == "postgresql":
        write, write_params = only_if if only_if is not None else (None, {})
        event_params = {f"audit_{name}": value for name, value in values.items()}
        appended = session.execute(_one_statement(write), {**write_params, **event_params, "audit_tail": tail}).first()
        if appended is None:
            return None
        seq = appended[0]
    else:
        if only_if is not None and session.execute(*only_if).rowcount != 1:
            return None
        seq, prev_hash, digest = session.execute(_ADVANCE, {"audit_tail": tail}).one()
        session.execute(_INSERT, {**values, "seq": seq, "prev_hash": prev_hash, "hash": digest})
    for listener in APPEND_LISTENERS:
        listener(session, values, locked_now)
    return int(seq)


def _dialect(session: Session | Connection) -> str:
    connection = session.connection() if isinstance(session, Session) else session
    return str(connection.engine.dialect.name)


@functools.cache
def _one_statement(write: Any) -> Any:
    """PostgreSQL: `write` (if any, a credential's UPDATE), the head's advance and the event in one
    statement. The head moves only if `write` changed a row. Its row is locked only once it qualifies,
    which needs the EXISTS (a one-time filter, evaluated before the head is scanned): the credential's
    row is locked first, in the order every use case takes them."""
    ctes = []
    where = []
    if write is not None:
        written = write.returning(literal_column("1").label("one")).cte("written")
        where.append(exists(select(written.c.one)))
        ctes.append(written)
    head = _advance(*where).cte("head")
    ctes.append(head)
    columns = ("seq", *_VALUE_COLUMNS, "prev_hash", "hash")
    # (Parameters named apart from every column: an engine sets the columns its parameters name.)
    rows = select(head.c.seq, *(bindparam(f"audit_{name}", type_=_EVENTS.c[name].type) for name in _VALUE_COLUMNS),
                  head.c.prev_hash, head.c.hash)
    return insert(_EVENTS).from_select(columns, rows).returning(_EVENTS.c.seq).add_cte(*ctes)


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"audit row {self.seq}: {self.reason}"


def verify_chain(session: Session, batch: int = 5000) -> ChainProblem | None:
    """The first row that was changed, removed or reordered, or None when the chain holds."""
    prev_hash, expected_seq = GENESIS, 1
    for row in _rows(session, batch):
        if row.seq != expected_seq:
            return ChainProblem(expected_seq, f"missing (next row found is {row.seq})")
        if row.prev_hash != prev_hash:
            return ChainProblem(row.seq, "does not follow the row before it")
        values = {name: getattr(row, name) for name in FIELDS}
        if row_hash(prev_hash, values) != row.hash:
            return ChainProblem(row.seq, "changed after it was written")
        prev_hash, expected_seq = row.hash, row.seq + 1
    head = session.get(AuditHead, 1)
    if head is not None and head.seq != expected_seq - 1:
        return ChainProblem(expected_seq, f"missing (the chain's head says it ends at {head.seq})")
    if head is not None and head.hash != prev_hash:
        return ChainProblem(expected_seq - 1, "is not the head the chain recorded")
    return None


def _rows(session: Session, batch: int) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def export(session: Session, since: int = 0, bank_code: str | None = None) -> Iterator[dict[str, Any]]:
    """Events after id `since`, oldest first, as plain dicts (for JSON lines and the API)."""
    query = select(AuditEvent).where(AuditEvent.id > since).order_by(AuditEvent.id)
    if bank_code is not None:
        query = query.where(AuditEvent.bank_code == bank_code)
    for row in session.scalars(query.execution_options(yield_per=1000)):
        yield as_dict(row)


def as_dict(row: AuditEvent) -> dict[str, Any]:
    """One event as `otp-gateway audit export` and the partner API's `GET /events` show it."""
    return {
        "id": row.id,
        "seq": row.seq,
        "time": row.created_at.isoformat().replace("+00:00", "Z"),
        "bank": row.bank_code,
        "contract_id": row.contract_id,
        "credential_id": row.credential_id,
        "actor": row.actor,
        "event": row.event,
        "result": row.result,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "detail": json.loads(row.detail),
        "hash": row.hash,
    }


def head_seq(session: Session) -> int:
    """How many events the chain holds."""
    head = session.get(AuditHead, 1)
    return head.seq if head is not None else 0
