"""Removing a customer's token (利用停止 / 利用解除): the bank's one removal policy, on every path.

A bank's `removal_policy` says what removing a token takes, whichever way the customer or the bank goes:
`lost-phone` (the two passwords, as the stop pages VST001–VST003 describe: a customer who lost the phone can
still stop use) or `code` (the token's code as well; without the phone, the bank's help desk). The stop pages,
IB 利用解除 and the partner API all come here, so no path can remove a token with less than the policy asks.
Every removal sends the customer a notice to the registered address and is audited with the path it took.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..domain.errors import CodeRequired, GatewayError, NotRegistered
from ..storage import audit
from ..storage.models import Credential, Customer
from . import Client, Services, codes, mails, utcnow
from .banks import CODE
from .credentials import CredentialView
from .customers import active_credential, require_customer

#: The ways a token is removed; the notice mail and the audit row say which one it was.
Via = Literal["stop-page", "ib-release", "api"]
STOP_PAGE: Via = "stop-page"
IB_RELEASE: Via = "ib-release"
API: Via = "api"
NOTICE_KIND: dict[Via, str] = {STOP_PAGE: "otp_stopped", IB_RELEASE: "otp_released", API: "otp_stopped_by_bank"}


def stop_use(
    svc: Services,
    bank_code: str,
    contract_id: str,
    client: Client,
    *,
    via: Via,
    otp: str | None = None,
    now: dt.datetime | None = None,
    after: Callable[[Session, Customer], None] | None = None,
) -> CredentialView:
    """Unlink and revoke the customer's active token at once, as the bank's removal policy allows.

    The caller vouches for the customer (the passwords on the pages, or the bank's API key). A bank whose
    policy is `code` needs `otp` on every path (CodeRequired otherwise); an `otp` given is checked first
    whatever the policy, and is used up. `after` runs inside the same transaction once the token is revoked.
    Re-registration waits (the bank's `reregister_delay_days`).
    """
    now = now or utcnow()
    outcome: GatewayError | None = None
    mail_id: int | None = None
    with svc.db.transaction() as session:
        customer = require_customer(session, bank_code, contract_id)
        bank = customer.bank
        cred = active_credential(session, customer)
        if cred is None:
            outcome = NotRegistered()
        elif otp is not None:
            attempt = codes.try_code(session, svc, cred, otp, now, values={}, where=codes.ACTIVE)
            if isinstance(attempt, GatewayError):
                outcome = attempt
        elif bank.removal_policy == CODE:
            outcome = CodeRequired()
        detail: dict[str, object] = {"via": via}
        if outcome is None:
            assert cred is not None
            session.execute(
                update(Credential)
                .where(Credential.id == cred.id)
                .values(state="revoked", revoked_at=now)
                .execution_options(synchronize_session=False)
            )
            customer.otp_status = "released"
            customer.released_on = now.astimezone(svc.policy.zone).date()
            customer.otp_removed_at = now
            customer.updated_at = now
            if after is not None:
                after(session, customer)
            if customer.email:
                mail = mails.notice(bank, customer.email, NOTICE_KIND[via], now, svc.policy.zone)
                session.add(mail)
                session.flush()
                mail_id = mail.id
            detail["notice"] = "queued" if mail_id is not None else "no-address"
        audit.append(
            session, event="credential.stop", result=outcome.code if outcome else "ok", now=now,
            actor=client.actor, bank_code=bank.code, contract_id=customer.contract_id,
            credential_id=cred.credential_id if cred else None, ip=client.ip, user_agent=client.user_agent,
            detail=detail,
        )
        stopped = None
        if outcome is None:
            assert cred is not None
            session.refresh(cred)
            stopped = CredentialView.of(cred, customer.contract_id)
    if outcome is not None:
        raise outcome
    if mail_id is not None:
        mails.deliver(svc, mail_id)
    assert stopped is not None
    return stopped

