"""A bank's own audit events, a page at a time (the partner API's `GET /api/v1/events`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..domain.errors import InvalidInput
from ..storage.models import AuditEvent
from . import Services

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class EventPage:
    events: list[dict[str, Any]]
    #: The `after` to ask with next: the last event's ID, or the one asked with when the page is empty.
    next: int
    has_more: bool


def bank_events(svc: Services, bank_code: str, after: int = 0, limit: int = DEFAULT_LIMIT) -> EventPage:
    """Events of this bank only, oldest first, with IDs greater than `after`; at most `limit` of them."""
    if after < 0:
        raise InvalidInput("after", "0 or more")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"between 1 and {MAX_LIMIT}")
    with svc.db.reading() as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.bank_code == bank_code, AuditEvent.id > after)
            .order_by(AuditEvent.id)
            .limit(limit + 1)
        ).all()
        events = [event_dict(row) for row in rows[:limit]]
    return EventPage(events, events[-1]["id"] if events else after, len(rows) > limit)


def event_dict(row: AuditEvent) -> dict[str, Any]:
    """One audit row as the API shows it (the same fields as `otp-gateway audit export`)."""
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
