"""Rate limits (Flask-Limiter): in memory by default, Redis through RATELIMIT_STORAGE_URI."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


#: Blueprints that spend their own budgets (the partner API's per-key limit): Flask-Limiter's per-request
#: hooks, which find no limit there, are not run for them at all (see `own_budget`).
OWN_LIMITS: set[str] = set()


def own_budget(bp: Blueprint) -> None:
    """Declare that `bp` spends its own rate-limit budget: Flask-Limiter neither limits it nor runs for it."""
    limiter.exempt(bp)
    OWN_LIMITS.add(bp.name)


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    hooks = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    before = [list(table.get(None, ())) for table in hooks]
    limiter.init_app(app)
    for table, existing in zip(hooks, before, strict=True):
        table[None] = [hook if hook in existing else _not_for_own_limits(hook) for hook in table.get(None, ())]


def _not_for_own_limits(hook: Callable[..., Any]) -> Callable[..., Any]:
    """Flask-Limiter's hook, skipped on the blueprints in OWN_LIMITS (an after-request hook passes the
    response through)."""

    @functools.wraps(hook)
    def maybe(*args: Any) -> Any:
        if request.blueprint in OWN_LIMITS:
            return args[0] if args else None
        return hook(*args)

    return maybe


def contract_id_key() -> str:
    """Per contract ID (whatever address it comes from): the form's or the JSON body's `contract_id`."""
    value = request.form.get("contract_id")
    if value is None and request.is_json:
        body = request.get_json(silent=True)
        value = body.get("contract_id") if isinstance(body, dict) else None
    return f"contract:{request.view_args.get('bank_code', '') if request.view_args else ''}:{value or '-'}"
