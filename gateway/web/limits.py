"""Rate limits (Flask-Limiter): counted in a file every worker of the host shares by default (`sqlite:///…`,
gateway.storage.ratelimits), in Redis where several hosts serve (`redis://…`), or in one process's memory
(`memory://`, for a single worker process: `otp-gateway serve` refuses it with several)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from ..storage import ratelimits  # noqa: F401 - registers the sqlite:// storage with limits

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


#: Blueprints that spend their own budgets (the partner API's per-key limit): Flask-Limiter's per-request
#: hooks, which find no limit there, are not run for them at all (see `own_budget`).
OWN_LIMITS: set[str] = set()


def own_budget(bp: Blueprint) -> None:
    """Declare that `bp` spends its own rate-limit budget: Flask-Limiter neither limits it nor runs for it."""
    limiter.exempt(bp)
    OWN_LIMITS.add(bp.name)


def init_app(app: Flask) -> None:
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

