"""The customer pages' blueprint: `/b/<bank_code>/…`, the bank loaded for every request."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, make_response, render_template

from . import flow

bp = Blueprint("pages", __name__, url_prefix="/b/<bank_code>")


@bp.url_value_preprocessor
def _bank(endpoint: str | None, values: dict[str, Any] | None) -> None:
    flow.load_bank((values or {}).pop("bank_code", ""))


@bp.url_defaults
def _keep_bank(endpoint: str, values: dict[str, Any]) -> None:
    if "bank_code" not in values and "bank" in g:
        values["bank_code"] = g.bank.code


@bp.get("/brand.css")
def brand_css() -> Response:
    """The bank's colour as a CSS custom property (styles stay in files: no inline style under our CSP)."""
    response = make_response(render_template("brand.css", bank=g.bank))
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
