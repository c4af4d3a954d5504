"""Response headers every page carries, cookie settings, body limits, and the error pages (404, 405, 413, 429,
CSRF)."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Response

from ..domain.embedding import normalise_origin
from ..storage.driver import DatabaseUnavailable
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
    app.before_request(_limit_body)  # before anything reads a body: CSRFProtect's check reads the form
    app.before_request(_same_origin_forms)  # before CSRFProtect's check (registered after this)
    app.after_request(_headers)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, http_error)
    for unavailable in (DatabaseUnavailable, OperationalError, InterfaceError):
        app.register_error_handler(unavailable, database_unavailable)


#: Bytes a page's form or a call without a key may send: a form is a few hundred, the token app's set-up call
#: less. The keyed partner API sets its own limits once the key is checked (`api.common.limit_body`), within
#: the app's MAX_CONTENT_LENGTH.
FORM_BODY_LIMIT = 16 * 1024
#: 413 on a page.
TOO_LARGE = messages.Message("E0413", "送信された内容が大きすぎます。お手数ですが、最初からやり直してください。")


def _limit_body() -> None:
    """Every route that takes no key gets FORM_BODY_LIMIT, bodies sent without a length (chunked) too; a body
    announced as larger is refused before anything reads it."""
    if request.blueprint == "partner_api":
        return
    limit = min(FORM_BODY_LIMIT, current_app.config["MAX_CONTENT_LENGTH"])
    request.max_content_length = limit
    if request.url_rule is None:  # a 404 or 405: nothing reads the body
        return
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestEntityTooLarge()
    elif "wsgi.input_terminated" in request.environ:
        # Sent without a length (chunked): Werkzeug cuts such a body at the limit without a word, and a form
        # cut short would still be taken. One byte more is read to tell; what was read is kept for the view.
        request.max_content_length = limit + 1
        read = len(request.get_data(parse_form_data=False))
        request.max_content_length = limit
        if read > limit:
            raise RequestEntityTooLarge()


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
    """HTTPS to us, or to a trusted proxy in front of us (`proxies.TrustedProxies` set the scheme it said)."""
    return environ.get("wsgi.url_scheme") == "https"


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


def http_error(error: HTTPException) -> Response | tuple[str, int]:
    if request.path.startswith("/api/"):
        from .problems import problem, too_large

        if isinstance(error, RequestEntityTooLarge):
            return too_large(request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"])
        return problem(error.code or 500, _kind(error), error.description or "")
    code = error.code or 500
    message = {
        404: messages.Message("E0404", "お探しのページは見つかりませんでした。"),
        405: messages.Message("E0405", "この操作はできません。"),
        413: TOO_LARGE,
        429: messages.TOO_MANY,
    }.get(code, messages.Message(f"E0{code}", "処理を継続できませんでした。最初からやり直してください。"))
    return _page(code, message)


#: The database did not answer: the customer is asked to try again a little later.
UNAVAILABLE = messages.Message(
    "E0503", "ただいまサービスを利用できません。しばらく時間をおいてから再度お試しください。")
#: Seconds a client is asked to wait while the database does not answer.
RETRY_AFTER_UNAVAILABLE = 5


def database_unavailable(error: Exception) -> Response | tuple[str, int]:
    """The database down, restarting or out of reach: 503 and Retry-After (a problem on the API, a Japanese
    page on the customer pages), never a traceback; the next request tries a new connection."""
    current_app.logger.warning("database unavailable: %s", type(error).__name__)
    if request.path.startswith("/api/"):
        from .problems import problem

        response = problem(503, "database-unavailable", "The database does not answer; try again shortly.")
    else:
        body, status = _page(503, UNAVAILABLE)
        response = current_app.make_response((body, status))
    response.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    return response


def _kind(error: HTTPException) -> str:
    return (error.name or "error").lower().replace(" ", "-")


def _page(status: int, message: messages.Message) -> tuple[str, int]:
    return render_template(f"{current_view()}/error.html", message=message, status=status,
                           bank=g.get("bank"), screen_id=f"ERR{status}"), status
