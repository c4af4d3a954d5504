"""Partner API: the bank's token registry — mint a soft token, import a PSKC document."""

from __future__ import annotations

import re

from flask import Response, g, jsonify

from ...domain import errors
from ...services import credentials, imports
from ..context import app_services
from ..problems import problem
from .blueprint import IMPORT_BODY_LIMIT, bp, client
from .common import guarded, json_object, string

#: A pre-shared AES key in hex: 16, 24 or 32 bytes.
HEX_KEY = re.compile(r"[0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64}")


@bp.post("/credentials")
@guarded
def mint_credential() -> Response:
    """A new available soft token of the bank: its token ID and the otpauth:// URI (shown once)."""
    minted = credentials.mint(app_services(), g.api_bank.code, 1, client())[0]
    response = jsonify({"credential_id": minted.credential_id, "otpauth_uri": minted.otpauth_uri})
    response.status_code = 201
    return response


@bp.post("/credentials/import")
@guarded
def import_credentials() -> Response:
    """Import a PSKC (RFC 6030) document: every key is reported as imported or rejected with a reason."""
    body = json_object(("pskc", "password", "key"), ("pskc",))
    document = string(body, "pskc", max_length=IMPORT_BODY_LIMIT)
    password = string(body, "password", max_length=256)
    key = string(body, "key", HEX_KEY, max_length=64)
    assert document is not None
    if password is not None and key is not None:
        return problem(422, "invalid-input", "Give a password or a key, not both.", fields=["key", "password"])
    try:
        report = imports.import_pskc(app_services(), g.api_bank.code, document.encode("utf-8"), password=password,
                                     key=key, client=client())
    except imports.DocumentRefused as refused:
        return problem(422, "pskc-refused", refused.detail, reason=refused.reason)
    except errors.InvalidInput as error:
        return problem(422, "invalid-input", f"{error.field}: {error.reason}.", fields=[error.field])
    return jsonify(report.as_dict())
