"""Response headers every page carries, cookie settings, and the error pages (404, 405, 429, CSRF)."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..domain.embedding import normalise_origin
from . import flow, messages
from .layout import VIEW_COOKIE, current_view

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{logo}; "
       "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}")


def init_app(app: Flask) -> None:
    secure = str(app.config.get("PUBLIC_BASE_URL", "")).startswith("https://")
    app.config.update(
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the session's own idle limit ends a form's life
        # Flask-WTF's HTTPS check wants a same-origin Referer, which `Referrer-Policy: no-referrer` never
        # lets a browser send: the form token (bound to the session) and the Fetch Metadata check in
        # `_same_origin_forms` protect the forms instead.
        WTF_CSRF_SSL_STRICT=False,
    )
    app.before_request(_same_origin_forms)  # before CSRFProtect's check (registered after this)
    app.after_request(_headers)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _http_error)


#: `Sec-Fetch-Site` values a form post of ours can carry: from our own page, or typed by the person.
SAME_ORIGIN_SITES = frozenset({"same-origin", "none"})


def _same_origin_forms() -> None:
    """A page's form posted from another site is refused like a missing CSRF token (Fetch Metadata).

    Browsers say where a request comes from whatever the referrer policy; a frame of ours posting
    inside itself is same-origin too. The partner API (no cookies, bearer keys) is not a form.
    """
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith("/api/"):
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in SAME_ORIGIN_SITES:
        raise CSRFError("The form was sent from another site.")


#: The policy of a response that no bank's frame or logo host widens (every API call, most pages).
CSP_PLAIN = CSP.format(ancestors="'none'", logo="")
NOSNIFF = ("X-Content-Type-Options", "nosniff")
NO_REFERRER = ("Referrer-Policy", "no-referrer")
NO_STORE = ("Cache-Control", "no-store")
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def served_over_https(environ: dict[str, Any]) -> bool:
    """HTTPS to us, or to the proxy in front of us (which says so in X-Forwarded-Proto)."""
    return environ.get("wsgi.url_scheme") == "https" or str(environ.get("HTTP_X_FORWARDED_PROTO", "")) == "https"


def _headers(response: Response) -> Response:
    # 'none' unless an embed page set the bank's exact origins (X-Frame-Options cannot list several).
    ancestors, logo = g.get("frame_ancestors"), _logo_source()
    policy = CSP.format(ancestors=ancestors or "'none'", logo=logo) if ancestors or logo else CSP_PLAIN
    response.headers.setdefault("Content-Security-Policy", policy)
    response.headers.setdefault(*NOSNIFF)
    response.headers.setdefault(*NO_REFERRER)
    if not request.path.startswith("/static/") and not request.path.endswith("/brand.css"):
        response.headers[NO_STORE[0]] = NO_STORE[1]
    if served_over_https(request.environ):
        response.headers.setdefault(*HSTS)
    if g.get("remember_view"):
        response.set_cookie(VIEW_COOKIE, current_view(), max_age=365 * 86400, httponly=True, samesite="Lax",
                            secure=bool(request.is_secure))
    return response


def _logo_source() -> str:
    """The bank's logo host, when its logo lives elsewhere (branding under `/b/<bank>/…`)."""
    bank = g.get("bank")
    logo = getattr(bank, "logo_url", None) or ""
    if not logo.startswith("https://"):
        return ""
    origin = normalise_origin("https://" + logo[len("https://"):].split("/", 1)[0])
    return f" {origin}" if origin else ""


def _csrf_failed(error: CSRFError) -> Response | tuple[str, int]:
    """A form whose token is gone: the session ran out (say so) or the page was stale; start again."""
    message = messages.SESSION_EXPIRED if getattr(session, "expired", False) else messages.CSRF_FAILED
    if "bank" in g:
        flow.notice_next(message)
        session.pop("flow", None)
        if g.get("embed"):  # stay inside the frame: the embedded flow starts over
            from .embed import start_endpoint

            return redirect(url_for(start_endpoint(), bank_code=g.bank.code))
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
