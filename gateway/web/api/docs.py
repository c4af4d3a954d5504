"""`GET /api/v1/openapi.json`: the partner API's OpenAPI 3.1 document, public (no key needed).

The document is a data file shipped in the package (`gateway/web/openapi.json`). The route is added to
the application itself rather than to the blueprint, so the blueprint's key check does not apply to it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Response
from flask.blueprints import BlueprintSetupState

from .blueprint import bp

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.json"


@functools.cache
def _document() -> bytes:
    return DOCUMENT.read_bytes()


def openapi_document() -> Response:
    return Response(_document(), mimetype="application/json")


def _add_public_routes(state: BlueprintSetupState) -> None:
    state.app.add_url_rule(f"{state.url_prefix}/openapi.json", "partner_api_openapi", openapi_document,
                           methods=["GET"])


bp.record_once(_add_public_routes)
