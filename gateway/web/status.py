"""The status page, the health check and the Prometheus metrics."""

from __future__ import annotations

import logging
import sqlite3
import urllib.parse
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from .. import observability
from ..services import banks
from . import proxies
from .context import app_services
from .limits import limiter
from .problems import problem

bp = Blueprint("status", __name__)
log = logging.getLogger("gateway.health")
#: How long the health check waits for the database before it answers 503.
HEALTH_TIMEOUT_SECONDS = 2


@bp.get("/status")
def index() -> str:
    return render_template("status.html", banks=banks.list_banks(app_services()))


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    """200 when the database answers within a couple of seconds, else 503 problem+json.

    No session, no cookie, no rate limit: load balancers ask every few seconds.
    """
    reason = _probe(current_app)
    if reason is None:
        return jsonify(status="ok", database="up")
    response = problem(503, "database-unavailable", "The database does not answer.", database="down")
    response.headers["Retry-After"] = "5"
    return response


@bp.get("/metrics")
@limiter.exempt
def metrics() -> Response:
    """Prometheus text exposition, for the addresses in METRICS_ALLOW only (per-bank traffic is private)."""
    if not observability.metrics_allowed(current_app, request.environ.get(proxies.PEER, request.remote_addr)):
        return problem(403, "forbidden", "Metrics are readable only from the addresses in METRICS_ALLOW.")
    return Response(observability.render_metrics(), content_type=observability.METRICS_CONTENT_TYPE)


# --- the database probe --------------------------------------------------------------------------------
class _Probe:
    """A connection of its own for each check, with short timeouts: a busy pool or a hung server must not
    make the health check hang, and a pooled connection to a since-deleted SQLite file must not pass."""

    def __init__(self, engine: Engine) -> None:
        url = engine.url
        self.sqlite_path: str | None = None
        self.engine: Engine | None = None
        self.healthy: bool | None = None
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
                self.sqlite_path = url.database
            else:
                self.engine = engine  # an in-memory database lives only in the app's own pool
        else:
            connect_args: dict[str, Any] = {}
            if url.get_backend_name() == "postgresql":
                connect_args = {"connect_timeout": HEALTH_TIMEOUT_SECONDS,
                                "options": f"-c statement_timeout={HEALTH_TIMEOUT_SECONDS * 1000}"}
            self.engine = create_engine(make_url(url), poolclass=NullPool, connect_args=connect_args)

    def check(self) -> None:
        if self.sqlite_path is not None:
            uri = f"file:{urllib.parse.quote(self.sqlite_path)}?mode=rw"
            connection = sqlite3.connect(uri, uri=True, timeout=HEALTH_TIMEOUT_SECONDS)
            try:
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                connection.close()
            return
        assert self.engine is not None
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def record(self, healthy: bool, error: BaseException | None = None) -> None:
        """Log when the state changes, not at every check."""
        if healthy != self.healthy:
            if healthy:
                log.info("database is reachable again")
            else:
                log.warning("database unavailable: %s: %s", type(error).__name__, str(error)[:300])
        self.healthy = healthy


def _probe(app: Flask) -> str | None:
    """None when the database answers, else a short reason (kept out of the response)."""
    probe: _Probe | None = app.extensions.get("gateway.health")
    if probe is None:
        probe = app.extensions["gateway.health"] = _Probe(app_services(app).db.engine)
    try:
        probe.check()
    except Exception as error:  # whatever the driver raises, the database is down
        probe.record(False, error)
        return type(error).__name__
    probe.record(True)
    return None
