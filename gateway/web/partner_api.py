"""The partner banks' JSON API (`/api/v1`): bearer keys scoped to one bank, RFC 9457 problem+json errors.

This module carries the verify call, the banks' hot path. No cookies, no CSRF (a key is not ambient
authority a browser could be tricked into sending).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from .. import services
from ..domain import errors
from ..services import Client, credentials
from ..services import banks as bank_service
from .limits import limiter
from .provision_api import problem

bp = Blueprint("partner_api", __name__, url_prefix="/api/v1")


def _key_limit() -> str:
    return str(current_app.config["RATELIMIT_API_PER_KEY"])


def _key_scope() -> str:
    """Per key: a bank may hold several keys, each with its own budget (only its hash names it)."""
    if "api_bank" not in g:
        return f"api-anonymous:{request.remote_addr}"
    key = request.headers.get("Authorization", "").partition(" ")[2].strip()
    return f"api-key:{bank_service.hash_api_key(key)[:32]}"


#: One budget per API key across every call of the partner API (RATELIMIT_API_PER_KEY).
per_key = limiter.shared_limit(_key_limit, scope="partner-api", key_func=_key_scope)


@bp.before_request
def authenticate() -> Response | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    bank = bank_service.bank_for_api_key(services(), key.strip()) if scheme.lower() == "bearer" else None
    if bank is None:
        response = problem(401, "unauthorized", "A valid bank API key is needed: Authorization: Bearer <key>.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="otp-gateway"'
        return response
    g.api_bank = bank
    return None


def _body(*fields: str) -> dict[str, Any] | Response:
    """The JSON object with these string fields, or the problem that says what is wrong."""
    if not request.is_json:
        return problem(415, "unsupported-media-type", "Send application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return problem(400, "invalid-json", "The body is not a JSON object.")
    bad = [name for name in fields if not isinstance(body.get(name), str) or not body.get(name)]
    if bad:
        return problem(422, "invalid-input", f"Missing or not a string: {', '.join(bad)}.", fields=bad)
    return body


def _client() -> Client:
    return Client(actor=f"api:{g.api_bank.code}", ip=request.remote_addr,
                  user_agent=request.headers.get("User-Agent"))


@bp.post("/otp/verify")
@per_key
def verify() -> Response:
    """{contract_id, otp} → {"result": accepted | rejected | locked | not_registered, …}; always audited."""
    body = _body("contract_id", "otp")
    if isinstance(body, Response):
        return body
    try:
        accepted = credentials.verify(services(), g.api_bank.code, body["contract_id"], body["otp"], _client())
    except (errors.MalformedOtp, errors.InvalidInput) as error:
        return problem(422, "invalid-input", f"{error.field}: {error.reason}.", fields=[error.field])
    except errors.NotRegistered:
        return jsonify(result="not_registered")
    except errors.CredentialLocked:
        return jsonify(result="locked", reason="credential_locked")
    except errors.OutOfSync as error:
        return jsonify(result="rejected", reason=error.code, clock_skew_steps=error.offset_steps)
    except errors.Throttled as error:
        return jsonify(result="rejected", reason=error.code, retry_after=round(error.retry_after, 3))
    except errors.CodeRejected as error:
        return jsonify(result="rejected", reason=error.code)
    return jsonify(result="accepted", credential_id=accepted.credential_id)


# The other calls live in `gateway.web.api`; importing them attaches their routes to `bp`.
from .api import common as _common  # noqa: E402, F401
from .api import credentials as _credentials  # noqa: E402, F401
from .api import customers as _customers  # noqa: E402, F401
from .api import docs as _docs  # noqa: E402, F401
from .api import events as _events  # noqa: E402, F401
