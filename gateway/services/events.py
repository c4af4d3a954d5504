"""A bank's own audit events, a page at a time (the partner API's `GET /api/v1/events`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..domain.errors import InvalidInput
from ..storage import audit
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
        events = [audit.as_dict(row) for row in rows[:limit]]
    return EventPage(events, events[-1]["id"] if events else after, len(rows) > limit)
