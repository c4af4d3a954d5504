"""`POST /api/v1/otp/verify` answered before Flask: the banks' hot path, as plain WSGI.

A bank's every login and transfer calls verify, so it skips the per-request work of the pages (request
context, session, CSRF, hooks, response objects). Only a request of the ordinary shape is answered here:
a bearer key of ours, a JSON object of at most JSON_BODY_LIMIT bytes with a well-formed contract ID and
code, within the key's budget, for a live key. Anything else goes on, body and all, to the Flask view
(`partner_api.verify`), which gives every refusal (401, 413, 415, 422, 429…). For the same request both
give the same answer, byte for byte (held equal by tests/api/test_hot_verify.py), audited and counted the
same way; the request log and metrics see the same endpoint and bank.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from .. import observability, services
from ..domain import errors
from ..services import Client, verification
from ..services import banks as bank_service
from . import security
from .api.common import JSON_BODY_LIMIT, Invalid, verify_fields
from .bodies import loads
from .partner_api import presented_key, spend_budget, verify_answer

PATH = "/api/v1/otp/verify"
ENDPOINT = "partner_api.verify"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class HotVerify:
    """WSGI middleware in front of the Flask app (inside the request observer)."""

    def __init__(self, app: Flask, flask_app: WSGIApp) -> None:
        self.app = app
        self.flask_app = flask_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "POST" \
                and not environ.get("SCRIPT_NAME"):
            answer = self._answer(environ)
            if answer is not None:
                body = json.dumps(answer, sort_keys=True, separators=(",", ":")).encode() + b"\n"
                headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                           ("Content-Security-Policy", security.CSP_PLAIN), security.NOSNIFF,
                           security.NO_REFERRER, security.NO_STORE]
                if security.served_over_https(environ):
                    headers.append(security.HSTS)
                start_response("200 OK", headers)
                return _Answer(body, services(self.app).db)
        return self.flask_app(environ, start_response)

    def _answer(self, environ: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to an ordinary request, or None: Flask answers (the body is left for it to read)."""
        key = presented_key(environ.get("HTTP_AUTHORIZATION", ""))
        if key is None or environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != "application/json":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 < length <= JSON_BODY_LIMIT:
            return None
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)  # readable again if Flask answers after all
        found = _fields(raw)
        if found is None:
            return None
        contract_id, otp = found
        key_hash = bank_service.hash_api_key(key)
        if spend_budget(str(self.app.config["RATELIMIT_API_PER_KEY"]), key_hash) is not None:
            return None  # Flask answers 429 with Retry-After (the budget is spent already)
        svc = services(self.app)
        client = Client(actor="api", ip=environ.get("REMOTE_ADDR"), user_agent=environ.get("HTTP_USER_AGENT"))
        try:
            result = verification.verify_with_key(svc, key_hash, contract_id, otp, client)
        except (errors.UnknownApiKey, errors.MalformedOtp, errors.InvalidInput):
            return None  # nothing was written: Flask says 401 or 422
        except Exception:  # rolled back (nothing raises after a commit): Flask answers it, or logs why not
            return None
        observability.note_request(environ, ENDPOINT, result.bank_code)
        return verify_answer(result.outcome)


class _Answer(list[bytes]):
    """The answer's body; once the server has sent it (WSGI close()), a SQLite checkpoint if one is due."""

    def __init__(self, body: bytes, db: Any) -> None:
        super().__init__([body])
        self.db = db

    def close(self) -> None:
        self.db.driver.checkpoint_if_due()


def _fields(raw: bytes) -> tuple[str, str] | None:
    """The contract ID and the code, if the body is a JSON object of exactly those two, both well formed
    (the Flask view's own check, `verify_fields`)."""
    try:
        body = loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    try:
        return verify_fields(body)
    except Invalid:
        return None
