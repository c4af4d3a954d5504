"""LGN001 login, LGN002 ワンタイムパスワード認証画面, the IB top page stand-in, logout."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from ..domain.errors import GatewayError, InvalidInput, NotRegistered, OutOfSync
from ..services import credentials, verification
from . import flow, messages
from .context import app_services
from .forms import CodeForm, LoginForm, PlainForm, ResyncForm
from .limits import limiter
from .pages import bp


def _auth() -> dict[str, str] | None:
    auth = session.get("auth")
    return auth if auth and auth.get("bank") == g.bank.code else None


@bp.route("/", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
@limiter.limit(flow.per_contract, key_func=flow.typed_contract_key, methods=["POST"])
def login() -> str | Response:
    form = LoginForm()
    customer = flow.password_step(form)
    if customer is not None:
        session.clear()
        needs_code = customer.otp_status == "active" and customer.token_id is not None
        session["auth"] = {"bank": g.bank.code, "contract_id": customer.contract_id,
                           "stage": "password" if needs_code else "done"}
        session.regenerate()
        return redirect(url_for(".login_otp" if needs_code else ".top"))
    return flow.render("login.html", "LGN001", form=form)


@bp.get("/login")
def login_address() -> Response:
    """`/b/<bank>/login`, the address people type, is the login page (its query, e.g. `?view=sp`, kept)."""
    query = urlencode(list(request.args.items(multi=True)))
    return redirect(url_for(".login") + (f"?{query}" if query else ""), 301)


@bp.route("/login/otp", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
@limiter.limit(flow.per_contract, key_func=flow.limit_key, methods=["POST"])
def login_otp() -> str | Response:
    auth = _auth()
    if auth is None or auth["stage"] != "password":
        return flow.restart(".login")
    form = CodeForm(digits=flow.code_digits())
    resync = ResyncForm(digits=flow.code_digits(), prefix="resync")
    offer_resync = False
    if form.validate_on_submit():
        try:
            verified = verification.verify(app_services(), verification.Asker(bank_code=g.bank.code),
                                           auth["contract_id"], form.otp.data, flow.client(), event="login.otp")
        except InvalidInput as error:  # not a code of this customer's token (its length)
            flow.field_errors(form, messages.for_error(error))
        else:
            if isinstance(verified.outcome, verification.Accepted):
                return _logged_in(auth)
            refusal = verified.outcome or NotRegistered()
            flow.field_errors(form, messages.for_error(refusal))
            offer_resync = isinstance(refusal, OutOfSync)
    return flow.render("login_otp.html", "LGN002", form=form, resync=resync, offer_resync=offer_resync)


@bp.post("/login/resync")
@limiter.limit(flow.per_address)
@limiter.limit(flow.per_contract, key_func=flow.limit_key)
def login_resync() -> str | Response:
    """Two consecutive codes re-centre the token's drift and complete the login."""
    auth = _auth()
    if auth is None or auth["stage"] != "password":
        return flow.restart(".login")
    form = CodeForm(digits=flow.code_digits())
    resync = ResyncForm(digits=flow.code_digits(), prefix="resync")
    if resync.validate_on_submit():
        try:
            credentials.resync(app_services(), g.bank.code, auth["contract_id"], resync.otp1.data, resync.otp2.data,
                               flow.client())
        except GatewayError as error:
            flow.field_errors(resync, messages.for_error(error) if not isinstance(error, OutOfSync)
                              else messages.RESYNC_FAILED)
        else:
            flow.notice_next(messages.RESYNCED)
            return _logged_in(auth)
    return flow.render("login_otp.html", "LGN002", form=form, resync=resync, offer_resync=True)


def _logged_in(auth: dict[str, str]) -> Response:
    auth["stage"] = "done"
    session["auth"] = auth
    session.regenerate()
    return redirect(url_for(".top"))


@bp.get("/top")
def top() -> str | Response:
    auth = _auth()
    if auth is None or auth["stage"] != "done":
        return flow.restart(".login")
    return flow.render("top.html", "TOP001", contract_id=auth["contract_id"], logout=PlainForm())


@bp.post("/logout")
def logout() -> Response:
    PlainForm().validate_on_submit()
    session.end()
    response = redirect(url_for(".login"))
    return response
