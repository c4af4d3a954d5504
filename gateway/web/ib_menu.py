"""The OTP menu inside IB (NTT style, seeds 000–003): BOP001, トークン発行 BOT001 → BOT003 → BOT002,
利用開始 BOK001 → BOK002, 利用解除 BOS001 → BOS002. Only for a customer who completed the login."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, session, url_for
from werkzeug.wrappers import Response

from ..domain.errors import GatewayError
from ..passwords import hash_password
from ..services import customers, issuance
from . import flow, messages
from .context import app_services
from .ib_forms import ConfirmPasswordForm, IssueForm, ReleaseForm, StartForm
from .limits import limiter
from .pages import bp

STATUS_LABELS = {"none": "未登録", "released": "未登録", "issued": "トークン発行済", "active": "利用中"}


def _customer() -> str | None:
    """The logged-in customer's contract ID, or None (then the page goes back to the login)."""
    auth = session.get("auth")
    if auth and auth.get("bank") == g.bank.code and auth.get("stage") == "done":
        return auth["contract_id"]  # type: ignore[no-any-return]
    return None


def _step(kind: str, step: str) -> dict[str, Any] | None:
    state = flow.current(kind, step)
    return state if state and state.get("contract_id") == _customer() else None


def _to_menu(message: messages.Message | None = None) -> Response:
    if message is not None:
        flow.notice_next(message)
    return redirect(url_for(".otp_menu"))


@bp.get("/ib/otp")
def otp_menu() -> str | Response:
    """BOP001 ワンタイムパスワード申請内容選択 (also where 申込を中止する leads: any open step is dropped)."""
    contract_id = _customer()
    if contract_id is None:
        return flow.restart(".login")
    if (session.get("flow") or {}).get("kind", "").startswith("ib-"):
        session.pop("flow")
    status = issuance.menu_status(app_services(), g.bank.code, contract_id)
    return flow.render("ib_menu.html", "BOP001", status=status, status_label=STATUS_LABELS[status.status])


# --- トークン発行 -----------------------------------------------------------------------------------
@bp.route("/ib/otp/issue", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
def issue() -> str | Response:
    """BOT001 ソフトウェアトークン発行情報入力."""
    contract_id = _customer()
    if contract_id is None:
        return flow.restart(".login")
    status = issuance.menu_status(app_services(), g.bank.code, contract_id)
    if not status.can_issue:
        return _to_menu(messages.ALREADY_REGISTERED if status.status == "active"
                        else messages.too_soon(status.reissue_from) if status.reissue_from else None)
    form = IssueForm()
    if form.validate_on_submit():
        # Only the hash of the activation password is kept until the confirmation step.
        flow.begin("ib-issue", contract_id, "confirm")
        session["flow"]["email"] = form.email.data
        session["flow"]["activation_hash"] = hash_password(form.activation_password.data)
        return redirect(url_for(".issue_confirm"))
    return flow.render("ib_issue.html", "BOT001", form=form)


@bp.route("/ib/otp/issue/confirm", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
@limiter.limit(flow.per_contract, key_func=flow.limit_key, methods=["POST"])
def issue_confirm() -> str | Response:
    """BOT003 入力内容確認: the address, and the 確認用パスワード."""
    state = _step("ib-issue", "confirm")
    if state is None:
        return redirect(url_for(".issue_done")) if flow.done("ib-issue") else flow.restart(".otp_menu")
    form = ConfirmPasswordForm()
    if form.validate_on_submit():
        try:
            customers.confirm(app_services(), g.bank.code, state["contract_id"], form.confirmation_password.data,
                              flow.client())
            issued = issuance.issue(app_services(), g.bank.code, state["contract_id"], state["email"], None,
                                    flow.client(), activation_hash=state["activation_hash"])
        except GatewayError as error:
            flow.field_errors(form, messages.for_error(error))
        else:
            flow.complete("ib-issue", email=issued.email, service_id=issued.service_id, user_id=issued.user_id,
                        mail_delivered=issued.mail_delivered)
            return redirect(url_for(".issue_done"))
    return flow.render("ib_issue_confirm.html", "BOT003", form=form, email=state["email"])


@bp.get("/ib/otp/issue/done")
def issue_done() -> str | Response:
    """BOT002 ソフトウェアトークン発行完了."""
    result = flow.done("ib-issue")
    if result is None or _customer() is None:
        return flow.restart(".otp_menu")
    return flow.render("ib_issue_done.html", "BOT002", result=result, message=messages.ISSUED,
                       mail_notice=None if result["mail_delivered"] else messages.MAIL_PENDING)


# --- 利用開始 -------------------------------------------------------------------------------------
@bp.route("/ib/otp/start", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
@limiter.limit(flow.per_contract, key_func=flow.limit_key, methods=["POST"])
def start() -> str | Response:
    """BOK001 ソフトウェアトークン確認 → BOK002."""
    contract_id = _customer()
    if contract_id is None:
        return flow.restart(".login")
    if not issuance.menu_status(app_services(), g.bank.code, contract_id).can_start:
        return redirect(url_for(".start_done")) if flow.done("ib-start") else _to_menu(messages.ISSUANCE_UNAVAILABLE)
    form = StartForm(digits=flow.code_digits())
    if form.validate_on_submit():
        try:
            issuance.start_use(app_services(), g.bank.code, contract_id, form.otp.data, flow.client())
        except GatewayError as error:
            flow.field_errors(form, messages.for_error(error))
        else:
            flow.complete("ib-start")
            return redirect(url_for(".start_done"))
    return flow.render("ib_start.html", "BOK001", form=form)


@bp.get("/ib/otp/start/done")
def start_done() -> str | Response:
    if flow.done("ib-start") is None or _customer() is None:
        return flow.restart(".otp_menu")
    return flow.render("ib_start_done.html", "BOK002", message=messages.STARTED)


# --- 利用解除 -------------------------------------------------------------------------------------
@bp.route("/ib/otp/release", methods=["GET", "POST"])
@limiter.limit(flow.per_address, methods=["POST"])
@limiter.limit(flow.per_contract, key_func=flow.limit_key, methods=["POST"])
def release() -> str | Response:
    """BOS001 利用解除確認 → BOS002."""
    contract_id = _customer()
    if contract_id is None:
        return flow.restart(".login")
    if not issuance.menu_status(app_services(), g.bank.code, contract_id).can_release:
        return redirect(url_for(".release_done")) if flow.done("ib-release") else _to_menu(messages.NOT_REGISTERED)
    needs_otp = g.bank.removal_needs_code
    form = ReleaseForm(digits=flow.code_digits(), needs_otp=needs_otp)
    if form.validate_on_submit():
        try:
            customers.confirm(app_services(), g.bank.code, contract_id, form.confirmation_password.data, flow.client())
            issuance.release(app_services(), g.bank.code, contract_id, flow.client(),
                             otp=form.otp.data if needs_otp else None)
        except GatewayError as error:
            flow.field_errors(form, messages.for_error(error))
        else:
            status = issuance.menu_status(app_services(), g.bank.code, contract_id)
            flow.complete("ib-release", reissue_from=status.reissue_from.isoformat() if status.reissue_from else None)
            return redirect(url_for(".release_done"))
    return flow.render("ib_release.html", "BOS001", form=form, needs_otp=needs_otp)


@bp.get("/ib/otp/release/done")
def release_done() -> str | Response:
    result = flow.done("ib-release")
    if result is None or _customer() is None:
        return flow.restart(".otp_menu")
    return flow.render("ib_release_done.html", "BOS002", message=messages.RELEASED, result=result)
