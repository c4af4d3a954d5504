"""The partner banks' JSON API (`/api/v1`): its blueprint, the bearer key, the key's budget, body limits, 405s.

Every call needs `Authorization: Bearer <bank API key>` and reaches only that key's bank; errors are RFC 9457
problem+json. No cookies and no CSRF: a key is not ambient authority a browser could be tricked into sending.
The call modules (`customers`, `credentials`, `events`, `docs`, `verify`) register their routes on `bp`.
Verify checks its key and spends its budget itself, in `verify.answer` (the look-up that finds the key also
finds the customer); every other call goes through `authenticate` first.
"""

from __future__ import annotations

import functools
import math
import time

from flask import Blueprint, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from limits import RateLimitItem, parse
from werkzeug.exceptions import MethodNotAllowed

from ...services import Client
from ...services import banks as bank_service
from .. import security
from ..context import app_services
from ..limits import limiter, own_budget
from ..problems import problem, too_large

bp = Blueprint("partner_api", __name__, url_prefix="/api/v1")
#: Flask-Limiter's per-request machinery stays off this blueprint: the key's budget is spent with the same
#: storage and strategy, once, before anything else.
own_budget(bp)
VERIFY = "partner_api.verify"

#: Ordinary calls carry a few hundred bytes; a PSKC document may be large.
JSON_BODY_LIMIT = 64 * 1024
IMPORT_BODY_LIMIT = 16 * 1024 * 1024
BODY_LIMITS = {"partner_api.import_credentials": IMPORT_BODY_LIMIT}


def unauthorized() -> Response:
    response = problem(401, "unauthorized", "A valid bank API key is needed: Authorization: Bearer <key>.")
    response.headers["WWW-Authenticate"] = 'Bearer realm="otp-gateway"'
    return response


def presented_key(authorization: str) -> str | None:
    """The bearer key in an Authorization header, if it has the shape of one of ours (else no look-up is
    spent on it)."""
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(bank_service.API_KEY_PREFIX) or len(key) > 200:
        return None
    return key


@functools.lru_cache(maxsize=16)
def _parsed(limit: str) -> RateLimitItem:
    return parse(limit)


def spend_budget(limit: str, key_hash: str) -> int | None:
    """One call against the key's budget (RATELIMIT_API_PER_KEY), in the limiter's storage (shared by the
    host's workers, or Redis): None while it lasts, else the seconds until it is renewed."""
    item = _parsed(limit)
    strategy = limiter.limiter
    if strategy.hit(item, "partner-api", key_hash[:32]):
        return None
    reset = strategy.get_window_stats(item, "partner-api", key_hash[:32]).reset_time
    return max(1, math.ceil(reset - time.time()))


def over_budget(retry_after: int) -> Response:
    response = problem(429, "too-many-requests", "This key's request budget is used up; try again later.")
    response.headers["Retry-After"] = str(retry_after)
    return response


def client() -> Client:
    """The caller for the audit trail: the key's bank, and where the request came from."""
    return Client(actor=f"api:{g.api_bank.code}", ip=request.remote_addr,
                  user_agent=request.headers.get("User-Agent"))


@bp.before_request
def authenticate() -> Response | None:
    """The key's budget, then the key itself (verify does both in `verify.answer`), then the body's limit:
    a stranger's large body is refused with 401 without being read.

    (The OpenAPI document is an application route, outside this blueprint: it needs no key.)
    """
    if request.endpoint == VERIFY:
        return None
    key = presented_key(request.headers.get("Authorization", ""))
    if key is None:
        return unauthorized()
    retry_after = spend_budget(str(current_app.config["RATELIMIT_API_PER_KEY"]), bank_service.hash_api_key(key))
    if retry_after is not None:
        return over_budget(retry_after)
    bank = bank_service.bank_for_api_key(app_services(), key)
    if bank is None:
        return unauthorized()
    g.api_bank = bank
    limit = min(BODY_LIMITS.get(request.endpoint or "", JSON_BODY_LIMIT), current_app.config["MAX_CONTENT_LENGTH"])
    request.max_content_length = limit  # also bounds bodies sent without a Content-Length
    if request.content_length is not None and request.content_length > limit:
        return too_large(limit)
    return None


def _method_not_allowed(error: MethodNotAllowed) -> ResponseReturnValue:
    """405 on the API: a problem that names the allowed methods (RFC 9110 asks for `Allow`)."""
    if not request.path.startswith(bp.url_prefix or "/api/v1"):
        return security.http_error(error)
    response = problem(405, "method-not-allowed", error.description or "This method is not allowed here.")
    response.headers["Allow"] = ", ".join(sorted(error.valid_methods or ()))
    return response


def _register_error_handlers(state: BlueprintSetupState) -> None:
    state.app.register_error_handler(MethodNotAllowed, _method_not_allowed)


bp.record_once(_register_error_handlers)
