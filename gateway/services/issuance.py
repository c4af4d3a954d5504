"""Token issuance inside internet banking (NTT style, seeds 000–003): issue → set up → start use → release.

トークン発行 gives the customer a service ID, a fresh 12-digit user ID and an activation password of their
choosing; the token app (or the set-up page) exchanges the three for a credential once; 利用開始 binds it
with a code; 利用解除 revokes it. Each step writes its notice mail in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..domain import otp as otp_rules
from ..domain.customers import check_activation_password
from ..domain.errors import (
    ActivationFailed,
    ActivationLocked,
    AlreadyRegistered,
    GatewayError,
    InvalidInput,
    IssuanceUnavailable,
    ReregistrationTooSoon,
)
from ..domain.tokens import MAX_INPUT, mint_secret, otpauth_uri, typed
from ..passwords import burn_time, check_password, hash_password
from ..storage import audit
from ..storage.models import Bank, Credential, Customer, Issuance
from . import Client, Services, removal, utcnow
from . import credentials as credential_service
from .customers import require_customer
from .mails import deliver, notice, token_guide

ACTIVATION_MAX_FAILURES = 5
USER_ID_PREFIX = "9998"


@dataclass(frozen=True)
class Issued:
    email: str
    service_id: str
    user_id: str
    mail_delivered: bool


@dataclass(frozen=True)
class Provisioned:
    credential_id: str
    otpauth_uri: str
    secret: str  # base32, for apps that take it apart from the URI
    issuer: str
    algorithm: str
    digits: int
    period: int

    def as_dict(self) -> dict[str, object]:
        return {
            "credential_id": self.credential_id,
            "otpauth_uri": self.otpauth_uri,
            "secret": self.secret,
            "issuer": self.issuer,
            "algorithm": self.algorithm,
            "digits": self.digits,
            "period": self.period,
        }


@dataclass(frozen=True)
class MenuStatus:
    """What BOP001 shows: 登録状況, トークン情報, which buttons are enabled, and from when re-issue is allowed."""

    status: str  # none | issued | active | released
    service_id: str | None
    user_id: str | None
    provisioned: bool
    can_issue: bool
    can_start: bool
    can_release: bool
    reissue_from: dt.date | None


def menu_status(svc: Services, bank_code: str, contract_id: str, now: dt.datetime | None = None) -> MenuStatus:
    now = now or utcnow()
    with svc.db.reading() as session:
        customer = require_customer(session, bank_code, contract_id)
        issuance = _current(session, customer)
        reissue_from = credential_service.reregistration_date(customer)
        today = now.astimezone(svc.policy.zone).date()
        waiting = reissue_from is not None and today < reissue_from
        status = customer.otp_status
        return MenuStatus(
            status=status,
            service_id=issuance.service_id if issuance else None,
            user_id=issuance.user_id if issuance else None,
            provisioned=bool(issuance and issuance.state == "provisioned"),
            can_issue=status in ("none", "released", "issued") and not waiting,
            can_start=bool(issuance and issuance.state == "provisioned"),
            can_release=status == "active",
            reissue_from=reissue_from if waiting else None,
        )


def issue(
    svc: Services,
    bank_code: str,
    contract_id: str,
    email: str,
    activation_password: str | None,
    client: Client,
    now: dt.datetime | None = None,
    activation_hash: str | None = None,
) -> Issued:
    """トークン発行 for an authenticated customer who has given the 確認用パスワード (the caller checks it).

    Pages that take the activation password one step before the confirmation hash it at once and pass
    `activation_hash`, so the password itself is never kept between steps.
    """
    if activation_hash is None:
        check_activation_password(activation_password or "")
    if not email or len(email) > 254:
        raise InvalidInput("email", "format")
    password_hash = activation_hash or hash_password(activation_password or "")
    now = now or utcnow()
    with svc.db.transaction() as session:
        customer = require_customer(session, bank_code, contract_id)
        bank = customer.bank
        if customer.otp_status == "active":
            raise AlreadyRegistered()
        allowed_on = credential_service.reregistration_date(customer)
        if allowed_on is not None and now.astimezone(svc.policy.zone).date() < allowed_on:
            raise ReregistrationTooSoon(allowed_on)
        # A newer issuance replaces one that was never started; its reserved token is revoked.
        for old in session.scalars(select(Issuance).where(Issuance.customer_id == customer.id,
                                                          Issuance.state.in_(("issued", "provisioned")))):
            old.state = "cancelled"
            if old.credential_id is not None:
                session.execute(update(Credential).where(Credential.id == old.credential_id,
                                                         Credential.state == "available")
                                .values(state="revoked", revoked_at=now)
                                .execution_options(synchronize_session=False))
        issuance = Issuance(
            bank_id=bank.id, customer_id=customer.id, service_id=bank.service_id,
            user_id=_free_user_id(session, bank), email=email, activation_password_hash=password_hash,
            activation_failures=0, state="issued", created_at=now,
        )
        session.add(issuance)
        customer.otp_status = "issued"
        customer.email = email
        customer.updated_at = now
        session.flush()
        mail = token_guide(bank, issuance, now, svc.policy.public_base_url)
        session.add(mail)
        audit.append(
            session, event="token.issue", result="ok", now=now, actor=client.actor, bank_code=bank.code,
            contract_id=customer.contract_id, ip=client.ip, user_agent=client.user_agent,
            detail={"user_id": issuance.user_id},
        )
        session.flush()
        result = Issued(email=email, service_id=issuance.service_id, user_id=issuance.user_id,
                        mail_delivered=False)
        mail_id = mail.id
    delivered = deliver(svc, mail_id)
    return Issued(result.email, result.service_id, result.user_id, mail_delivered=delivered)


def provision(
    svc: Services,
    service_id: str,
    user_id: str,
    activation_password: str,
    client: Client,
    now: dt.datetime | None = None,
) -> Provisioned:
    """What the token app does with the three values: once, and locked after five wrong passwords.

    Unknown IDs and a wrong password give the same answer (ActivationFailed) at the same cost, and so does a
    locked issuance: only the right password learns of the lock (ActivationLocked).
    """
    now = now or utcnow()
    # As typed on the set-up page or in a token app: full-width digits, spaces and hyphens between groups.
    service_id, user_id = _typed_id(service_id), _typed_id(user_id)
    activation_password = unicodedata.normalize("NFKC", activation_password or "")
    outcome: GatewayError | None = None
    with svc.db.transaction() as session:
        issuance = session.scalar(
            select(Issuance).join(Bank, Issuance.bank_id == Bank.id)
            .where(Bank.service_id == service_id, Issuance.user_id == user_id)
        ) if service_id and user_id else None
        if issuance is None:
            burn_time(activation_password or "")
            outcome, result = ActivationFailed(), "unknown"
        else:
            checked = check_password(activation_password or "", issuance.activation_password_hash)
            if issuance.locked_at is not None:
                # Told only to the holder of the password: to anyone else the lock would say the IDs exist.
                outcome, result = (ActivationLocked() if checked.ok else ActivationFailed()), "locked"
            elif issuance.state != "issued":
                outcome, result = (ActivationFailed() if not checked.ok else IssuanceUnavailable()), "used"
            elif not checked.ok:
                failures = session.execute(
                    update(Issuance).where(Issuance.id == issuance.id)
                    .values(activation_failures=Issuance.activation_failures + 1)
                    .returning(Issuance.activation_failures).execution_options(synchronize_session=False)
                ).scalar_one()
                if failures >= ACTIVATION_MAX_FAILURES:
                    session.execute(update(Issuance).where(Issuance.id == issuance.id).values(locked_at=now)
                                    .execution_options(synchronize_session=False))
                    outcome, result = ActivationFailed(), "locked_now"  # a wrong password still
                else:
                    outcome, result = ActivationFailed(), "failed"
            else:
                provisioned = _mint_reserved(session, svc, issuance, now)
                result = "ok"
        audit.append(
            session, event="token.provision", result=result, now=now, actor=client.actor,
            bank_code=issuance.bank.code if issuance else None,
            contract_id=issuance.customer.contract_id if issuance else None,
            credential_id=provisioned.credential_id if outcome is None else None,
            ip=client.ip, user_agent=client.user_agent,
        )
    if outcome is not None:
        raise outcome
    return provisioned


def _mint_reserved(session: Session, svc: Services, issuance: Issuance, now: dt.datetime) -> Provisioned:
    """A fresh credential reserved for the issuance's customer; it becomes active at 利用開始."""
    bank = issuance.bank
    token_id = credential_service.free_token_id(session, bank.token_prefix)
    secret = mint_secret()
    key_id, sealed = svc.sealer.seal(secret, aad=token_id.encode())
    credential = Credential(
        credential_id=token_id, bank_id=bank.id, customer_id=issuance.customer_id, kind="totp",
        algorithm=bank.token_algorithm, digits=bank.token_digits, period=bank.token_period, counter=0,
        sealed_secret=sealed, seal_key_id=key_id, state="available", drift=0, failure_count=0,
        source="issued", created_at=now,
    )
    session.add(credential)
    session.flush()
    issuance.credential_id = credential.id
    issuance.state = "provisioned"
    issuance.provisioned_at = now
    b32 = otp_rules.b32(secret)
    return Provisioned(
        credential_id=token_id,
        otpauth_uri=otpauth_uri(issuer=bank.name, token_id=token_id, secret_b32=b32,
                                algorithm=bank.token_algorithm, digits=bank.token_digits,
                                period=bank.token_period),
        secret=b32, issuer=bank.name, algorithm=bank.token_algorithm, digits=bank.token_digits,
        period=bank.token_period,
    )


def start_use(
    svc: Services, bank_code: str, contract_id: str, otp: str, client: Client, now: dt.datetime | None = None
) -> credential_service.CredentialView:
    """利用開始: the app's code binds the provisioned token; from then on login asks for the code."""
    now = now or utcnow()
    with svc.db.transaction() as session:
        customer = require_customer(session, bank_code, contract_id)
        issuance = _current(session, customer)
        if issuance is None or issuance.state != "provisioned" or issuance.credential_id is None:
            raise IssuanceUnavailable()
        token_id = session.get(Credential, issuance.credential_id).credential_id  # type: ignore[union-attr]
    mail_ids: list[int] = []

    def activated(session: Session, customer: Customer) -> None:
        row = session.get(Issuance, issuance.id)
        assert row is not None
        row.state, row.activated_at = "active", now
        mail = notice(customer.bank, row.email, "otp_started", now, svc.policy.zone)
        session.add(mail)
        session.flush()
        mail_ids.append(mail.id)

    view = credential_service.register(svc, bank_code, contract_id, token_id, otp, client, now=now,
                                       after=activated)
    deliver(svc, *mail_ids)
    return view


def release(
    svc: Services, bank_code: str, contract_id: str, client: Client, otp: str | None = None,
    now: dt.datetime | None = None,
) -> credential_service.CredentialView:
    """利用解除: revoke at once, as the bank's removal policy allows (see `removal`); re-issue from the next day."""
    now = now or utcnow()

    def released(session: Session, customer: Customer) -> None:
        for row in session.scalars(select(Issuance).where(Issuance.customer_id == customer.id,
                                                          Issuance.state == "active")):
            row.state, row.released_at = "released", now

    return removal.stop_use(svc, bank_code, contract_id, client, via=removal.IB_RELEASE, otp=otp, now=now,
                            after=released)


def _current(session: Session, customer: Customer) -> Issuance | None:
    return session.scalar(
        select(Issuance).where(Issuance.customer_id == customer.id, Issuance.state != "cancelled")
        .order_by(Issuance.id.desc()).limit(1)
    )


def _typed_id(raw: str | None) -> str:
    """サービスID or ユーザID as typed, normalised as a token ID is; "" unless it is then all ASCII digits."""
    value = typed(raw) if raw and len(raw) <= MAX_INPUT else ""
    return value if value.isascii() and value.isdigit() else ""


def _free_user_id(session: Session, bank: Bank) -> str:
    while True:
        candidate = f"{USER_ID_PREFIX}{secrets.randbelow(10**8):08d}"
        if session.scalar(select(Issuance.id).where(Issuance.bank_id == bank.id,
                                                    Issuance.user_id == candidate)) is None:
            return candidate
