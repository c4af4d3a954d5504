"""The partner banks' JSON API (`/api/v1`): bearer keys scoped to one bank, RFC 9457 problem+json errors.

This module carries the verify call, the banks' hot path. No cookies, no CSRF (a key is not ambient
authority a browser could be tricked into sending).
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from limits import RateLimitItem, parse

from .. import services
from ..domain import errors
from ..services import Client, verification
from ..services import banks as bank_service
from .limits import limiter, own_budget
from .provision_api import problem

bp = Blueprint("partner_api", __name__, url_prefix="/api/v1")
#: Flask-Limiter's per-request machinery stays off this blueprint: `authenticate` spends the key's budget
#: with the same storage and strategy, once, before anything else.
own_budget(bp)


def _unauthorized() -> Response:
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
    """One call against the key's budget (RATELIMIT_API_PER_KEY), in the limiter's storage (memory, or
    Redis when several processes serve): None while it lasts, else the seconds until it is renewed."""
    item = _parsed(limit)
    strategy = limiter.limiter
    if strategy.hit(item, "partner-api", key_hash[:32]):
        return None
    reset = strategy.get_window_stats(item, "partner-api", key_hash[:32]).reset_time
    return max(1, math.ceil(reset - time.time()))


def _over_limit(key_hash: str) -> Response | None:
    """The key's budget, checked before anything else is done."""
    retry_after = spend_budget(str(current_app.config["RATELIMIT_API_PER_KEY"]), key_hash)
    if retry_after is None:
        return None
    response = problem(429, "too-many-requests", "This key's request budget is used up; try again later.")
    response.headers["Retry-After"] = str(retry_after)
    return response


@bp.before_request
def authenticate() -> Response | None:
    """The key's budget, then the key itself. Verify checks the key in its own look-up (one round trip).

    (The OpenAPI document is an application route, outside this blueprint: it needs no key.)
    """
    key = presented_key(request.headers.get("Authorization", ""))
    if key is None:
        return _unauthorized()
    g.api_key_hash = bank_service.hash_api_key(key)
    refused = _over_limit(g.api_key_hash)
    if refused is not None:
        return refused
    if request.endpoint == "partner_api.verify":
        return None
    bank = bank_service.bank_for_api_key(services(), key)
    if bank is None:
        return _unauthorized()
    g.api_bank = bank
    return None


def _verify_body() -> tuple[str, str] | Response:
    """Verify's contract ID and code, or the problem that says what is wrong with the body (strict, as
    documented: only those two members, each one that can be valid for some customer)."""
    try:
        body = _common.json_object(_common.VERIFY_MEMBERS, _common.VERIFY_MEMBERS)
        return _common.verify_fields(body)
    except _common.ProblemRaised as raised:
        return raised.response
    except _common.Invalid as invalid:
        return invalid.response()


def _client() -> Client:
    return Client(actor=f"api:{g.api_bank.code}", ip=request.remote_addr,
                  user_agent=request.headers.get("User-Agent"))


@bp.post("/otp/verify")
def verify() -> Response:
    """{contract_id, otp} → {"result": accepted | rejected | locked | not_registered, …}; always audited.

    The banks' hot path: the key, the customer and the credential come from one look-up.
    """
    fields = _verify_body()
    if isinstance(fields, Response):
        return fields if _key_is_live() else _unauthorized()
    contract_id, otp = fields
    client = Client(actor="api", ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))
    try:
        found = verification.verify_with_key(services(), g.api_key_hash, contract_id, otp, client)
    except errors.UnknownApiKey:
        return _unauthorized()
    except (errors.MalformedOtp, errors.InvalidInput) as error:
        if not _key_is_live():
            return _unauthorized()
        return problem(422, "invalid-input", f"{error.field}: {error.reason}.", fields=[error.field])
    g.api_bank_code = found.bank_code
    return _verify_result(found.outcome)


def _key_is_live() -> bool:
    """Bad input from a caller without a live key is a 401, as for every other call."""
    return bank_service.bank_for_key_hash(services(), g.api_key_hash) is not None


def _verify_result(outcome: verification.Accepted | errors.GatewayError) -> Response:
    return jsonify(verify_answer(outcome))


def verify_answer(outcome: verification.Accepted | errors.GatewayError) -> dict[str, Any]:
    """The body of verify's 200 answer for each outcome."""
    if isinstance(outcome, verification.Accepted):
        return {"result": "accepted", "credential_id": outcome.credential_id}
    if isinstance(outcome, errors.NotRegistered):
        return {"result": "not_registered"}
    if isinstance(outcome, errors.CredentialLocked):
        return {"result": "locked", "reason": "credential_locked"}
    if isinstance(outcome, errors.OutOfSync):
        return {"result": "rejected", "reason": outcome.code, "clock_skew_steps": outcome.offset_steps}
    if isinstance(outcome, errors.Throttled):
        return {"result": "rejected", "reason": outcome.code, "retry_after": round(outcome.retry_after, 3)}
    return {"result": "rejected", "reason": outcome.code}


# The other calls live in `gateway.web.api`; importing them attaches their routes to `bp`.
from .api import common as _common  # noqa: E402 - also verify's body check
from .api import credentials as _credentials  # noqa: E402, F401
from .api import customers as _customers  # noqa: E402, F401
from .api import docs as _docs  # noqa: E402, F401
from .api import events as _events  # noqa: E402, F401
