"""The status page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from .. import services
from ..services import banks

bp = Blueprint("status", __name__)


@bp.get("/status")
def index() -> str:
    return render_template("status.html", banks=banks.list_banks(services()))


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    try:
        with services().db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return jsonify(status="unavailable", database="down"), 503
    return jsonify(status="ok", database="up")
