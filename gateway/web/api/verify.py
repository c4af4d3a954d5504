"""`POST /api/v1/otp/verify` `{contract_id, otp}`: the banks' hot path, every login and transfer.

One function, `answer`, reads the request and makes the whole answer (status, headers and body bytes): the
key's shape, the key's budget (spent once, whatever the outcome), the body (the one parser: `read_call`), the
verification (`services.verification.verify`, which also finds whether the key is live), the rendering. Two
thin ways in call it:

- `FastPath`, WSGI middleware in front of Flask, answers every POST to the path without Flask's per-request
  work (request context, session, hooks): the same function, so the same bytes by construction;
- the Flask view `verify`, for the requests the fast path leaves to Flask (an app mounted under a prefix).

Neither hands a request on once it has begun, so no request is verified twice; an exception is logged with
the request's ID (never the code) and answered as a problem. Step by step: docs/verification.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.http import HTTP_STATUS_CODES

from ... import observability
from ...domain import errors, tokens
from ...domain.customers import normalise_contract_id
from ...services import Client, verification
from ...services import banks as bank_service
from ...storage.driver import DatabaseUnavailable
from .. import security
from ..bodies import encode, loads
from ..context import app_services
from ..problems import PROBLEM_JSON, problem_body
from .blueprint import JSON_BODY_LIMIT, VERIFY, bp, presented_key, spend_budget
from .common import Invalid, members, typed

PATH = "/api/v1/otp/verify"
#: Verify's body: exactly these.
MEMBERS = ("contract_id", "otp")
LOG = logging.getLogger("gateway.verify")


@dataclass(frozen=True)
class Call:
    """What verify reads of a request (nothing else of it counts)."""

    authorization: str
    content_type: str
    body: bytes | None  # None: larger than JSON_BODY_LIMIT (not read, or read only that far)
    ip: str | None
    user_agent: str | None
    https: bool


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    bank_code: str | None = None


def read_call(environ: dict[str, Any]) -> Call:
    """The request's parts, its body read at most JSON_BODY_LIMIT + 1 bytes far (a chunked one too)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        body = stream.read(int(length)) if int(length) <= JSON_BODY_LIMIT else None
    elif "wsgi.input_terminated" in environ:
        body = stream.read(JSON_BODY_LIMIT + 1)
    else:
        body = b""
    return Call(
        authorization=environ.get("HTTP_AUTHORIZATION", ""),
        content_type=environ.get("CONTENT_TYPE", ""),
        body=body if body is None or len(body) <= JSON_BODY_LIMIT else None,
        ip=environ.get("REMOTE_ADDR"),
        user_agent=environ.get("HTTP_USER_AGENT"),
        https=security.served_over_https(environ),
    )


def answer(app: Flask, call: Call) -> Answer:
    """The whole answer to one verify request."""
    key = presented_key(call.authorization)
    if key is None:
        return _unauthorized()
    key_hash = bank_service.hash_api_key(key)
    retry_after = spend_budget(str(app.config["RATELIMIT_API_PER_KEY"]), key_hash)
    if retry_after is not None:
        return _problem(429, "too-many-requests", "This key's request budget is used up; try again later.",
                        headers=[("Retry-After", str(retry_after))])
    svc = app_services(app)
    client = Client(actor="api", ip=call.ip, user_agent=call.user_agent)
    try:
        fields = _fields(call)
        if isinstance(fields, Answer):  # bad input: a 401 to a caller without a live key, as on every call
            return fields if bank_service.bank_for_key_hash(svc, key_hash) is not None else _unauthorized()
        contract_id, otp = fields
        verified = verification.verify(svc, verification.Asker(key_hash=key_hash), contract_id, otp, client)
    except errors.InvalidInput as error:  # a code of the wrong length for this customer's token
        return _problem(422, "invalid-input", f"{error.field}: {error.reason}.", fields=[error.field])
    except DatabaseUnavailable:
        return _problem(503, "database-unavailable", "The database does not answer; try again shortly.",
                        headers=[("Retry-After", str(security.RETRY_AFTER_UNAVAILABLE))])
    if verified.bank_code is None or verified.outcome is None:
        return _unauthorized()
    return Answer(200, encode(result(verified.outcome)), bank_code=verified.bank_code)


def _fields(call: Call) -> tuple[str, str] | Answer:
    """The contract ID and the code as sent, if they can be valid for some customer (the code's own length
    is checked against the token once it is found); else the problem that says what is wrong."""
    if call.content_type.split(";", 1)[0].strip().lower() != "application/json":
        return _problem(415, "unsupported-media-type", "Send application/json.")
    if call.body is None:
        return _problem(413, "request-entity-too-large", f"The body may have at most {JSON_BODY_LIMIT} bytes.",
                        max_bytes=JSON_BODY_LIMIT)
    try:
        body = loads(call.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _problem(400, "invalid-json", "The body is not a JSON object.")
    try:
        members(body, MEMBERS, MEMBERS)
        typed(body, "contract_id", normalise_contract_id)
        typed(body, "otp", tokens.normalise_otp)
    except Invalid as invalid:
        return _problem(422, "invalid-input", invalid.detail, fields=invalid.fields)
    return body["contract_id"], body["otp"]


def result(outcome: verification.Outcome) -> dict[str, Any]:
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


def _problem(status: int, kind: str, detail: str, headers: list[tuple[str, str]] | None = None,
             **extra: Any) -> Answer:
    return Answer(status, encode(problem_body(status, kind, detail, **extra)), PROBLEM_JSON, headers or [])


def _unauthorized() -> Answer:
    return _problem(401, "unauthorized", "A valid bank API key is needed: Authorization: Bearer <key>.",
                    headers=[("WWW-Authenticate", 'Bearer realm="otp-gateway"')])


def _failed(environ: dict[str, Any]) -> Answer:
    """An exception nobody expected: logged with the request's ID (the body, with its code, never is)."""
    LOG.exception("verify failed (request %s)", environ.get("gateway.request_id", "-"))
    return _problem(500, "internal-error", "The request could not be answered.")


def respond(app: Flask, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, the headers and the body of the answer to the request in `environ`, noted for the
    request log and the metrics (its endpoint and bank)."""
    try:
        call = read_call(environ)
        answered, https = answer(app, call), call.https
    except Exception:
        answered, https = _failed(environ), security.served_over_https(environ)
    observability.note_request(environ, VERIFY, answered.bank_code)
    headers = [("Content-Type", answered.content_type), ("Content-Length", str(len(answered.body))),
               *answered.headers, ("Content-Security-Policy", security.CSP_PLAIN), security.NOSNIFF,
               security.NO_REFERRER, security.NO_STORE]
    if https:
        headers.append(security.HSTS)
    return f"{answered.status} {HTTP_STATUS_CODES[answered.status].upper()}", headers, answered.body


@bp.post("/otp/verify")
def verify() -> Response:
    """{contract_id, otp} → {"result": accepted | rejected | locked | not_registered, …}; always audited."""
    status, headers, body = respond(current_app, request.environ)
    return Response(body, status, headers)


class FastPath:
    """WSGI middleware in front of the Flask app (inside the request observer): verify without Flask."""

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST" or environ.get("SCRIPT_NAME"):
            return self.wsgi_app(environ, start_response)
        status, headers, body = respond(self.app, environ)
        start_response(status, headers)
        return _Sent(body, app_services(self.app).db)


class _Sent(list[bytes]):
    """The answer's body; once the server has sent it (WSGI close()), a SQLite checkpoint if one is due."""

    def __init__(self, body: bytes, db: Any) -> None:
        super().__init__([body])
        self.db = db

    def close(self) -> None:
        self.db.driver.checkpoint_if_due()
