"""VST001–VST003: 利用停止 from the login page, for a customer who changed or lost the phone."""

from __future__ import annotations

from flask import g, redirect, url_for
from werkzeug.wrappers import Response

from ..domain.errors import GatewayError
from ..domain.tokens import mask_token_id
from ..services import customers, removal
from . import embed, flow, messages
from .context import app_services
from .forms import LoginForm, StopConfirmForm
from .limits import limiter
from .pages import bp


@bp.route("/stop", methods=["GET", "POST"])
@embed.bp.route("/stop", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
@limiter.limit(flow.per_contract, key_func=flow.typed_contract_key, methods=["POST"])
def stop() -> str | Response:
    """VST001 利用者認証 (`?return_to=` on the bank's list: back there at the end, see `embed`)."""
    embed.remember_return("stop")
    form = LoginForm()
    customer = flow.password_step(form)
    if customer is not None:
        if customer.otp_status == "active" and customer.token_id:
            flow.begin("stop", customer.contract_id, "confirm")
            return redirect(url_for(".stop_confirm"))
        flow.field_errors(form, messages.NOT_REGISTERED)
    return flow.render("stop_auth.html", "VST001", form=form)


@bp.route("/stop/confirm", methods=["GET", "POST"])
@embed.bp.route("/stop/confirm", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
@limiter.limit(flow.per_contract, key_func=flow.limit_key, methods=["POST"])
def stop_confirm() -> str | Response:
    """VST002 確認: the token shown masked; 確認用パスワード (+ the code where the bank asks for it)."""
    state = flow.current("stop", "confirm")
    if state is None:
        if flow.done("stop"):
            return redirect(url_for(".stop_done"))
        return flow.restart(".stop")
    customer = customers.show_customer(app_services(), g.bank.code, state["contract_id"])
    if not customer.token_id:
        return flow.restart(".stop")
    needs_otp = g.bank.removal_needs_code
    form = StopConfirmForm(digits=flow.code_digits(), needs_otp=needs_otp)
    if form.validate_on_submit():
        try:
            customers.confirm(app_services(), g.bank.code, state["contract_id"], form.confirmation_password.data,
                              flow.client())
            removal.stop_use(app_services(), g.bank.code, state["contract_id"], flow.client(), via=removal.STOP_PAGE,
                             otp=form.otp.data if needs_otp else None)
        except GatewayError as error:
            flow.field_errors(form, messages.for_error(error))
        else:
            shown = customers.show_customer(app_services(), g.bank.code, state["contract_id"])
            flow.complete("stop", token=mask_token_id(customer.token_id), contract_id=state["contract_id"],
                        reregister_from=shown.reregister_from.isoformat() if shown.reregister_from else None)
            return redirect(url_for(".stop_done"))
    return flow.render("stop_confirm.html", "VST002", form=form, masked_token=customer.masked_token_id,
                       needs_otp=needs_otp)


@bp.get("/stop/done")
@embed.bp.get("/stop/done")
def stop_done() -> str | Response:
    """VST003 完了."""
    result = flow.done("stop")
    if result is None:
        return flow.restart(".stop")
    return flow.render("stop_done.html", "VST003", message=messages.STOPPED, result=result,
                       **embed.done_context("stop"))
