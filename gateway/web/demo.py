"""The demo token page: each available demo token's ID and live code, so a demo needs no phone."""

from __future__ import annotations

from flask import abort, g, jsonify
from werkzeug.wrappers import Response

from ..services import credentials
from . import flow
from .context import app_services
from .pages import bp


def _codes() -> list[credentials.DemoCode]:
    if not g.bank.is_demo:
        abort(404)  # a real bank's codes never show anywhere
    return credentials.demo_codes(app_services(), g.bank.code)


@bp.get("/demo/token")
def demo_token() -> str:
    return flow.render("demo_token.html", "DEMO01", codes=_codes())


@bp.get("/demo/token.json")
def demo_token_json() -> Response:
    return jsonify(tokens=[{"token_id": c.credential_id, "state": c.state, "code": c.code, "period": c.period,
                            "seconds_left": c.seconds_left} for c in _codes()])
