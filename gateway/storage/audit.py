"""The append-only, hash-chained audit trail. Never a password, code or secret in it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ..observability import audit_appended
from .models import AuditEvent, AuditHead

GENESIS = "0" * 64
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


def canonical_detail(detail: dict[str, Any] | None) -> str:
    detail = detail or {}
    leaked = FORBIDDEN_DETAIL.intersection(k.lower() for k in detail)
    if leaked:
        raise ValueError(f"audit detail must not carry {sorted(leaked)}")
    return json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def row_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and this row's fields in a fixed, type-stable form."""
    parts = [prev_hash]
    for name in FIELDS:
        value = values[name]
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts.append("" if value is None else str(value))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


_EVENTS = AuditEvent.__table__
_HEAD = AuditHead.__table__
#: Taking the head row's lock and the previous hash in one statement orders concurrent appends.
_CLAIM = (
    update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + 1).returning(_HEAD.c.seq, _HEAD.c.hash)
)
_INSERT = insert(_EVENTS)
_SET_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("new_hash"))


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
    claimed: Any = None,
) -> int:
    """Append one event inside the caller's transaction; returns its sequence number.

    `claimed`: the result of `claim` sent earlier in the same transaction, if the caller sent it.
    """
    seq, prev_hash = (claimed if claimed is not None else claim(session)).one()
    values: dict[str, Any] = {
        "seq": seq,
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
    digest = row_hash(prev_hash, values)
    session.execute(_INSERT, {**values, "prev_hash": prev_hash, "hash": digest})
    session.execute(_SET_HEAD, {"new_hash": digest})
    audit_appended(session, values)  # metrics, counted when the transaction commits
    return seq


def claim(session: Session | Connection) -> Any:
    """Take the chain's head (its lock, the next sequence number and the previous hash) for `append`."""
    return session.execute(_CLAIM)


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
