"""Page plumbing shared by the customer flows: the bank, the client, multi-step state, notices, rendering."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from flask import abort, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ..domain.errors import GatewayError, UnknownBank
from ..services import Client, customers, utcnow
from ..services import banks as bank_service
from . import messages
from .context import app_services
from .layout import current_view, template
from .messages import Message


def load_bank(bank_code: str) -> bank_service.BankView:
    try:
        bank = bank_service.get_bank(app_services(), bank_code)
    except UnknownBank:
        abort(404)
    g.bank = bank
    return bank


def client() -> Client:
    return Client(actor="customer", ip=request.remote_addr, user_agent=request.headers.get("User-Agent", "")[:500])


def render(name: str, screen_id: str, **context: Any) -> str:
    notice = session.pop("notice", None)
    return render_template(template(name), screen_id=screen_id, view=current_view(), bank=g.bank,
                           notice=Message(**notice) if notice else None, **context)


def notice_next(message: Message) -> None:
    """A message for the next page (after a redirect)."""
    session["notice"] = {"code": message.code, "text": message.text, "field": message.field}


def begin(kind: str, contract_id: str, step: str) -> None:
    """A flow starts after the password step: new session identifier, the state kept on the server."""
    session.pop("done", None)
    session["flow"] = {"kind": kind, "bank": g.bank.code, "contract_id": contract_id, "step": step,
                       "started": int(time.time())}
    session.regenerate()


def current(kind: str, step: str) -> dict[str, Any] | None:
    flow = session.get("flow")
    if flow and flow["kind"] == kind and flow["bank"] == g.bank.code and flow["step"] == step:
        return flow  # type: ignore[no-any-return]
    return None


def restart(endpoint: str) -> Response:
    """Back to the first step: the session ran out, or a step was reached without the ones before it."""
    notice_next(messages.SESSION_EXPIRED if getattr(session, "expired", False) else messages.OUT_OF_ORDER)
    session.pop("flow", None)
    return redirect(url_for(endpoint, bank_code=g.bank.code))


def wrong_try(limit: int, message: Message) -> bool:
    """One more wrong try in the current flow; at the `limit`th the flow ends, with `message` for its first
    step (the caller redirects there). True when it ended."""
    flow = session["flow"]
    tries = int(flow.get("wrong_tries", 0)) + 1
    if tries < limit:
        session["flow"] = {**flow, "wrong_tries": tries}  # a new dict: the session sees the change
        return False
    session.pop("flow", None)
    notice_next(message)
    return True


def complete(kind: str, **result: Any) -> None:
    """The flow is used up; only its result stays, for the completion page (and its reloads)."""
    session.pop("flow", None)
    session["done"] = {"kind": kind, "bank": g.bank.code, **result}
    session.regenerate()


def done(kind: str) -> dict[str, Any] | None:
    result = session.get("done")
    if result and result["kind"] == kind and result["bank"] == g.bank.code:
        return result  # type: ignore[no-any-return]
    return None


def password_step(form: Any) -> customers.CustomerView | None:
    """The 利用者認証 every flow starts with: the customer, or None with the message beside the form."""
    if not form.validate_on_submit():
        return None
    try:
        return customers.authenticate(app_services(), g.bank.code, form.contract_id.data, form.password.data, client())
    except GatewayError as error:
        field_errors(form, messages.for_error(error))
        return None


def field_errors(form: Any, message: Message) -> None:
    """Show a domain message next to its field (or above the form)."""
    target = getattr(form, message.field, None) if message.field else None
    if target is not None:
        target.errors = [*list(target.errors), message.line]
    else:
        form.form_errors.append(message.line)


def today() -> dt.date:
    """The bank's calendar day (Asia/Tokyo by default)."""
    return utcnow().astimezone(app_services().policy.zone).date()


def code_digits(default: int | None = None) -> int:
    return default or g.bank.token_digits


def period() -> int:
    return int(g.bank.token_period)


def limit_key() -> str:
    """Rate-limit key per contract ID after the password step: the one the flow knows, never a form field
    (an extra `contract_id` in a later step's form must not move the count elsewhere)."""
    flow = session.get("flow") or session.get("auth") or {}
    return _contract_key(flow.get("contract_id"))


def typed_contract_key() -> str:
    """Rate-limit key of a password step (LGN001, VRG001, VST001): the contract ID typed in its form."""
    return _contract_key(request.form.get("contract_id"))


def _contract_key(contract_id: str | None) -> str:
    return f"contract:{request.view_args.get('bank_code') if request.view_args else ''}:{contract_id or '-'}"


def per_address() -> str:
    return str(current_app.config["RATELIMIT_PER_ADDRESS"])


def per_contract() -> str:
    return str(current_app.config["RATELIMIT_PER_CONTRACT"])
