"""Rate limits (Flask-Limiter): in memory by default, Redis through RATELIMIT_STORAGE_URI."""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)


def contract_id_key() -> str:
    """Per contract ID (whatever address it comes from): the form's or the JSON body's `contract_id`."""
    value = request.form.get("contract_id")
    if value is None and request.is_json:
        body = request.get_json(silent=True)
        value = body.get("contract_id") if isinstance(body, dict) else None
    return f"contract:{request.view_args.get('bank_code', '') if request.view_args else ''}:{value or '-'}"
