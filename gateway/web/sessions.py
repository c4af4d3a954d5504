"""Server-side sessions: the cookie carries only a random ID; data, idle and absolute limits live in the database.

`regenerate()` gives the session a new ID (after the password step and after the code step) and deletes
the old row, so an old cookie no longer works; `clear_server_side()` ends it (logout).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, insert, or_, select, update
from werkzeug.datastructures import CallbackDict

from ..services import utcnow
from ..storage.models import WebSession

TABLE = WebSession.__table__
COOKIE = "gw_session"
#: Paths that never carry a session (the partner API sets no cookies; static files need none).
STATELESS = ("/static/", "/api/", "/healthz", "/metrics")
SECURE_COOKIE = "__Host-gw_session"
#: Embedded pages (`/b/<bank>/embed/…`) keep their own session, in a cookie a cross-site frame can use:
#: `SameSite=None; Secure; Partitioned` (partitioned by the bank's site, CHIPS).
EMBED_PATH = re.compile(r"^/b/[^/]+/embed(/|$)")
EMBED_COOKIE = "gw_embed"
SECURE_EMBED_COOKIE = "__Host-gw_embed"


class ServerSession(CallbackDict[str, Any], SessionMixin):  # type: ignore[misc]
    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None,
                 created: dt.datetime | None = None, expired: bool = False) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.created = created
        #: True when the request came with a session that ran out (idle or absolute limit).
        self.expired = expired
        self.modified = False
        self.rotate = False
        self.ended = False

    def regenerate(self) -> None:
        """A new identifier for the same data; the old one stops working when this response is saved."""
        self.rotate = True
        self.modified = True

    def end(self) -> None:
        """Forget everything, server-side too (logout)."""
        self.clear()
        self.ended = True


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


#: Seconds between two sweeps of expired sessions by one process (made when a session is created).
PURGE_EVERY = 60.0


class DatabaseSessionInterface(SessionInterface):
    def __init__(self) -> None:
        self._purged_at: dt.datetime | None = None

    def cookie_name(self, app: Flask, embedded: bool = False) -> str:
        secure = app.config.get("SESSION_COOKIE_SECURE")
        if embedded:
            return SECURE_EMBED_COOKIE if secure else EMBED_COOKIE
        return SECURE_COOKIE if secure else COOKIE

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if request.path.startswith(STATELESS):
            return ServerSession()
        sid = request.cookies.get(self.cookie_name(app, embedded=bool(EMBED_PATH.match(request.path))))
        if not sid or len(sid) > 128:
            return ServerSession()
        db = app.extensions["gateway"].db
        with db.reading() as session:
            row = session.execute(select(TABLE).where(TABLE.c.id_hash == _hash(sid))).first()
        if row is None:
            return ServerSession(expired=True)
        now = utcnow()
        idle = dt.timedelta(seconds=app.config["SESSION_IDLE_SECONDS"])
        absolute = dt.timedelta(seconds=app.config["SESSION_ABSOLUTE_SECONDS"])
        created = row.created_at
        if now - row.last_seen_at > idle or now - created > absolute:
            with db.transaction() as session:
                session.execute(delete(TABLE).where(TABLE.c.id_hash == _hash(sid)))
            return ServerSession(expired=True)
        return ServerSession(json.loads(row.data), sid=sid, created=created)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        embedded = bool(EMBED_PATH.match(request.path))
        name = self.cookie_name(app, embedded)
        db = app.extensions["gateway"].db
        options: dict[str, Any] = {
            "domain": None,
            "path": "/",
            "httponly": True,
            "secure": app.config.get("SESSION_COOKIE_SECURE", False),
            "samesite": app.config.get("SESSION_COOKIE_SAMESITE", "Lax"),
            "partitioned": app.config.get("SESSION_COOKIE_PARTITIONED", False),
        }
        if embedded:
            # Browsers treat http://localhost and 127.0.0.1 as secure, so this works in local runs too.
            options.update(secure=True, samesite="None", partitioned=True)
        now = utcnow()
        if session.ended or (not session and session.sid is not None and session.modified):
            if session.sid:
                with db.transaction() as tx:
                    tx.execute(delete(TABLE).where(TABLE.c.id_hash == _hash(session.sid)))
            response.delete_cookie(name, path="/", secure=options["secure"], samesite=options["samesite"],
                                   partitioned=options["partitioned"])
            return
        if not session:
            return
        data = json.dumps(dict(session), separators=(",", ":"), default=str)
        with db.transaction() as tx:
            if session.sid is None or session.rotate:
                if session.sid is not None:
                    tx.execute(delete(TABLE).where(TABLE.c.id_hash == _hash(session.sid)))
                session.sid = secrets.token_urlsafe(32)
                created = session.created or now
                tx.execute(insert(TABLE).values(id_hash=_hash(session.sid), data=data, created_at=created,
                                                last_seen_at=now))
                if self._purged_at is None or (now - self._purged_at).total_seconds() >= PURGE_EVERY:
                    # Refused sessions are deleted when they come back; the ones that never do, here.
                    self._purged_at = now
                    tx.execute(_expired(app, now))
            else:
                tx.execute(update(TABLE).where(TABLE.c.id_hash == _hash(session.sid))
                           .values(data=data, last_seen_at=now))
        response.set_cookie(name, session.sid, **options)
        response.vary.add("Cookie")


def _expired(app: Flask, now: dt.datetime) -> Any:
    """The DELETE of every session past its idle or its absolute limit."""
    idle = now - dt.timedelta(seconds=app.config["SESSION_IDLE_SECONDS"])
    absolute = now - dt.timedelta(seconds=app.config["SESSION_ABSOLUTE_SECONDS"])
    return delete(TABLE).where(or_(TABLE.c.last_seen_at < idle, TABLE.c.created_at < absolute))
