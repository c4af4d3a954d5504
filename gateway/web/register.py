"""VRG001–VRG003: ワンタイムパスワード利用登録 from the login page (seed 004)."""

from __future__ import annotations

from flask import g, redirect, url_for
from werkzeug.wrappers import Response

from ..domain.errors import GatewayError, OutOfSync
from ..services import credentials
from . import embed, flow, messages
from .context import app_services
from .forms import LoginForm, RegisterResyncForm, RegisterTokenForm
from .limits import limiter
from .pages import bp

#: Wrong tries at VRG002 in one flow before it starts over at VRG001 (the customer's own count, which
#: locks at OTP_MAX_FAILURES, runs on across flows).
WRONG_TRIES_PER_FLOW = 5


@bp.route("/register", methods=["GET", "POST"])
@embed.bp.route("/register", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
@limiter.limit(flow.per_contract, key_func=flow.typed_contract_key, methods=["POST"])
def register() -> str | Response:
    """VRG001 利用者認証 (`?return_to=` on the bank's list: back there at the end, see `embed`)."""
    embed.remember_return("register")
    form = LoginForm()
    customer = flow.password_step(form)
    if customer is not None:
        # Told only now, after authentication: nothing before it says whether the contract ID exists.
        if customer.otp_status == "active" and customer.token_id:
            flow.field_errors(form, messages.ALREADY_REGISTERED)
        elif customer.reregister_from and customer.reregister_from > flow.today():
            flow.field_errors(form, messages.too_soon(customer.reregister_from))
        else:
            flow.begin("register", customer.contract_id, "token")
            return redirect(url_for(".register_token"))
    return flow.render("register_auth.html", "VRG001", form=form)


@bp.route("/register/token", methods=["GET", "POST"])
@embed.bp.route("/register/token", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
@limiter.limit(flow.per_contract, key_func=flow.limit_key, methods=["POST"])
def register_token() -> str | Response:
    """VRG002 ワンタイムパスワード登録情報入力."""
    state = flow.current("register", "token")
    if state is None:
        if flow.done("register"):  # a reload or double submit after the binding: show the result again
            return redirect(url_for(".register_done"))
        return flow.restart(".register")
    form = RegisterTokenForm(digits=flow.code_digits())
    resync = RegisterResyncForm(digits=flow.code_digits(), prefix="resync")
    offer_resync = False
    if form.validate_on_submit():
        try:
            view = credentials.register(app_services(), g.bank.code, state["contract_id"], form.token_id.data,
                                        form.otp.data, flow.client())
        except GatewayError as error:
            if _ends_the_flow(error):
                return redirect(url_for(".register", bank_code=g.bank.code))
            flow.field_errors(form, messages.for_registration(error))
            offer_resync = isinstance(error, OutOfSync)
            resync.token_id.data = form.token_id.data
        else:
            flow.complete("register", token_id=view.credential_id, contract_id=state["contract_id"])
            return redirect(url_for(".register_done"))
    return flow.render("register_token.html", "VRG002", form=form, resync=resync, offer_resync=offer_resync,
                       period=flow.period())


@bp.post("/register/resync")
@embed.bp.post("/register/resync")
@limiter.limit(flow.per_address)
@limiter.limit(flow.per_contract, key_func=flow.limit_key)
def register_resync() -> str | Response:
    """VRG002 with the clock off: two consecutive codes bind the token and record how far off it is."""
    state = flow.current("register", "token")
    if state is None:
        return redirect(url_for(".register_done")) if flow.done("register") else flow.restart(".register")
    form = RegisterTokenForm(digits=flow.code_digits())
    resync = RegisterResyncForm(digits=flow.code_digits(), prefix="resync")
    if resync.validate_on_submit():
        try:
            view = credentials.register(app_services(), g.bank.code, state["contract_id"], resync.token_id.data,
                                        resync.otp1.data, flow.client(), otp2=resync.otp2.data)
        except GatewayError as error:
            if _ends_the_flow(error):
                return redirect(url_for(".register", bank_code=g.bank.code))
            # Two codes that are not consecutive get the one answer too: telling them apart would say
            # that the token ID is one that could be registered.
            flow.field_errors(resync, messages.for_registration(error))
        else:
            flow.complete("register", token_id=view.credential_id, contract_id=state["contract_id"])
            return redirect(url_for(".register_done"))
    form.token_id.data = resync.token_id.data
    return flow.render("register_token.html", "VRG002", form=form, resync=resync, offer_resync=True,
                       period=flow.period())


def _ends_the_flow(error: GatewayError) -> bool:
    """Count a wrong try (an unusable token, a wrong code) in this flow; the fifth sends the customer back
    to the password step, told why."""
    return credentials.counts_as_registration_try(error) and flow.wrong_try(
        WRONG_TRIES_PER_FLOW, messages.REGISTRATION_RESTARTED)


@bp.get("/register/done")
@embed.bp.get("/register/done")
def register_done() -> str | Response:
    """VRG003 処理結果."""
    if flow.done("register") is None:
        return flow.restart(".register")
    return flow.render("register_done.html", "VRG003", message=messages.REGISTERED,
                       **embed.done_context("register"))
