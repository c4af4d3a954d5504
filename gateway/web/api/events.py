"""Partner API: the bank's own audit events, a page at a time (`GET /api/v1/events?after=ID&limit=N`)."""

from __future__ import annotations

import re

from flask import Response, g, jsonify, request

from ...services import events
from ..context import app_services
from .blueprint import bp
from .common import Invalid, guarded

WHOLE = re.compile(r"[0-9]{1,19}")
ID_MAX = 2**63 - 1


def _whole(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise Invalid([name], f"{name}: a whole number from {low} to {high}.")
    return int(raw)


@bp.get("/events")
@guarded
def list_events() -> Response:
    """Events of the key's bank with IDs after `after`, oldest first; `next` is the `after` to ask with next."""
    after = _whole("after", 0, 0, ID_MAX)
    limit = _whole("limit", events.DEFAULT_LIMIT, 1, events.MAX_LIMIT)
    page = events.bank_events(app_services(), g.api_bank.code, after, limit)
    return jsonify({"events": page.events, "next": page.next, "has_more": page.has_more})
