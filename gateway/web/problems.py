"""RFC 9457 problem details (`application/problem+json`): every error of the JSON calls, one shape."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from .bodies import encode

PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, kind: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The problem's members: a stable `type`, its `title`, the `status`, a `detail` and any extension."""
    return {"type": f"/problems/{kind}", "title": kind.replace("-", " "), "status": status, "detail": detail,
            **extra}


def problem(status: int, kind: str, detail: str, **extra: Any) -> Response:
    return Response(encode(problem_body(status, kind, detail, **extra)), status, mimetype=PROBLEM_JSON)


def too_large(limit: int) -> Response:
    """413: the body is larger than this call takes (`limit` bytes)."""
    return problem(413, "request-entity-too-large", f"The body may have at most {limit} bytes.", max_bytes=limit)
