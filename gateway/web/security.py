"""Response headers every page carries, cookie settings, and the error pages (404, 405, 429, CSRF)."""

from __future__ import annotations

from flask import Flask, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from . import flow, messages
from .layout import VIEW_COOKIE, current_view

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}")


def init_app(app: Flask) -> None:
    secure = str(app.config.get("PUBLIC_BASE_URL", "")).startswith("https://")
    app.config.update(
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the session's own idle limit ends a form's life
        WTF_CSRF_SSL_STRICT=secure,
    )
    app.after_request(_headers)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _http_error)


def _headers(response: Response) -> Response:
    ancestors = g.get("frame_ancestors") or "'none'"
    response.headers.setdefault("Content-Security-Policy", CSP.format(ancestors=ancestors))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if not request.path.startswith("/static/") and not request.path.endswith("/brand.css"):
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure or str(request.environ.get("HTTP_X_FORWARDED_PROTO", "")) == "https":
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if g.get("remember_view"):
        response.set_cookie(VIEW_COOKIE, current_view(), max_age=365 * 86400, httponly=True, samesite="Lax",
                            secure=bool(request.is_secure))
    return response


def _csrf_failed(error: CSRFError) -> Response | tuple[str, int]:
    """A form whose token is gone: the session ran out (say so) or the page was stale; start again."""
    message = messages.SESSION_EXPIRED if getattr(session, "expired", False) else messages.CSRF_FAILED
    if "bank" in g:
        flow.notice_next(message)
        session.pop("flow", None)
        return redirect(url_for("pages.login", bank_code=g.bank.code))
    return _page(400, message)


def _http_error(error: HTTPException) -> Response | tuple[str, int]:
    if request.path.startswith("/api/"):
        from .provision_api import problem

        return problem(error.code or 500, _kind(error), error.description or "")
    code = error.code or 500
    message = {
        404: messages.Message("E0404", "お探しのページは見つかりませんでした。"),
        405: messages.Message("E0405", "この操作はできません。"),
        429: messages.TOO_MANY,
    }.get(code, messages.Message(f"E0{code}", "処理を継続できませんでした。最初からやり直してください。"))
    return _page(code, message)


def _kind(error: HTTPException) -> str:
    return (error.name or "error").lower().replace(" ", "-")


def _page(status: int, message: messages.Message) -> tuple[str, int]:
    return render_template(f"{current_view()}/error.html", message=message, status=status,
                           bank=g.get("bank"), screen_id=f"ERR{status}"), status
