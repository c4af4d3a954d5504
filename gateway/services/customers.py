"""Customers: creation, password checks with lockout, status, operator unlock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain.customers import (
    check_confirmation_password,
    check_login_password,
    normalise_contract_id,
)
from ..domain.errors import (
    AuthenticationFailed,
    ConfirmationPasswordFailed,
    CustomerExists,
    CustomerLocked,
    GatewayError,
    InvalidInput,
    UnknownCustomer,
)
from ..domain.tokens import mask_token_id
from ..passwords import burn_time, check_password, hash_password
from ..storage import audit
from ..storage.models import Bank, Credential, Customer
from . import OPERATOR, Client, Services, utcnow
from .banks import load_bank


@dataclass(frozen=True)
class CustomerView:
    bank_code: str
    contract_id: str
    email: str | None
    otp_status: str
    locked: bool
    password_failures: int
    released_on: dt.date | None
    reregister_from: dt.date | None
    token_id: str | None
    token_state: str | None
    #: when a token was last removed, and whether the bank's cooling-off after it still runs
    otp_removed_at: dt.datetime | None = None
    otp_removed_recently: bool = False

    @property
    def masked_token_id(self) -> str | None:
        return mask_token_id(self.token_id) if self.token_id else None

    def as_dict(self) -> dict[str, object]:
        return {
            "bank": self.bank_code,
            "contract_id": self.contract_id,
            "email": self.email,
            "otp_status": self.otp_status,
            "locked": self.locked,
            "password_failures": self.password_failures,
            "released_on": self.released_on.isoformat() if self.released_on else None,
            "reregister_from": self.reregister_from.isoformat() if self.reregister_from else None,
            "token_id": self.masked_token_id,
            "token_state": self.token_state,
            "otp_removed_at": self.otp_removed_at.isoformat().replace("+00:00", "Z") if self.otp_removed_at else None,
            "otp_removed_recently": self.otp_removed_recently,
        }


def view(session: Session, customer: Customer, now: dt.datetime | None = None) -> CustomerView:
    cred = active_credential(session, customer)
    bank = customer.bank
    reregister_from = None
    if customer.released_on is not None:
        reregister_from = customer.released_on + dt.timedelta(days=bank.reregister_delay_days)
    return CustomerView(
        bank_code=bank.code,
        contract_id=customer.contract_id,
        email=customer.email,
        otp_status=customer.otp_status,
        locked=customer.locked_at is not None,
        password_failures=customer.password_failures,
        released_on=customer.released_on,
        reregister_from=reregister_from,
        token_id=cred.credential_id if cred else None,
        token_state=cred.display_state if cred else None,
        otp_removed_at=customer.otp_removed_at,
        otp_removed_recently=removed_recently(customer.otp_removed_at, bank.stop_cooloff_hours, now or utcnow()),
    )


def removed_recently(removed_at: dt.datetime | None, cooloff_hours: int, now: dt.datetime) -> bool:
    """Whether the bank's cooling-off after a token's removal still runs (0 hours: there is none), so that
    the bank can hold large transfers meanwhile."""
    return bool(cooloff_hours and removed_at is not None and now - removed_at < dt.timedelta(hours=cooloff_hours))


def active_credential(session: Session, customer: Customer) -> Credential | None:
    return session.scalar(
        select(Credential).where(Credential.customer_id == customer.id, Credential.state == "active")
    )


def load_customer(session: Session, bank: Bank, contract_id: str) -> Customer | None:
    return session.scalar(
        select(Customer).where(Customer.bank_id == bank.id, Customer.contract_id == contract_id)
    )


def require_customer(session: Session, bank_code: str, contract_id: str) -> Customer:
    """For trusted callers (operators, an authenticated flow, a bank's API key)."""
    bank = load_bank(session, bank_code)
    customer = load_customer(session, bank, normalise_contract_id(contract_id))
    if customer is None:
        raise UnknownCustomer(contract_id)
    return customer


def add_customer(
    svc: Services,
    bank_code: str,
    contract_id: str,
    password: str,
    confirmation_password: str | None = None,
    email: str | None = None,
    client: Client = OPERATOR,
) -> CustomerView:
    contract_id = normalise_contract_id(contract_id)
    check_login_password(password)
    if confirmation_password is not None:
        check_confirmation_password(confirmation_password)
    if email is not None and ("@" not in email or len(email) > 254):
        raise InvalidInput("email", "format")
    login_hash = hash_password(password)
    confirmation_hash = hash_password(confirmation_password) if confirmation_password else None
    now = utcnow()
    try:
        with svc.db.transaction() as session:
            bank = load_bank(session, bank_code)
            if load_customer(session, bank, contract_id) is not None:
                raise CustomerExists(contract_id)
            customer = Customer(
                bank_id=bank.id,
                bank=bank,
                contract_id=contract_id,
                login_password_hash=login_hash,
                confirmation_password_hash=confirmation_hash,
                email=email,
                otp_status="none",
                password_failures=0,
                created_at=now,
                updated_at=now,
            )
            session.add(customer)
            session.flush()
            audit.append(
                session, event="customer.add", result="ok", now=now, actor=client.actor,
                bank_code=bank.code, contract_id=contract_id, ip=client.ip, user_agent=client.user_agent,
            )
            return view(session, customer)
    except IntegrityError:
        raise CustomerExists(contract_id) from None


def authenticate(svc: Services, bank_code: str, contract_id: str, password: str, client: Client) -> CustomerView:
    """Contract ID + login password. Unknown ID and wrong password fail alike, in result and in time.

    A locked customer is told so only when the password was right: otherwise the lock would tell a
    stranger that the contract ID exists.
    """
    return _check(svc, bank_code, contract_id, password, client, kind="login")


def confirm(svc: Services, bank_code: str, contract_id: str, password: str, client: Client) -> CustomerView:
    """The 確認用パスワード of an already authenticated customer; failures count toward the same lock."""
    return _check(svc, bank_code, contract_id, password, client, kind="confirmation")


def _check(svc: Services, bank_code: str, contract_id: str, password: str, client: Client, kind: str) -> CustomerView:
    now = utcnow()
    event = "login.password" if kind == "login" else "confirmation.password"
    failure: GatewayError = AuthenticationFailed() if kind == "login" else ConfirmationPasswordFailed()
    try:
        contract_id = normalise_contract_id(contract_id)
    except InvalidInput:
        burn_time(password or "")
        raise failure from None
    with svc.db.transaction() as session:
        bank = load_bank(session, bank_code)
        customer = load_customer(session, bank, contract_id)
        stored = None
        if customer is not None:
            stored = customer.login_password_hash if kind == "login" else customer.confirmation_password_hash
        checked = check_password(password or "", stored)
        outcome: GatewayError | None = None
        if customer is None or stored is None:
            outcome = failure
            result = "unknown_customer" if customer is None else "no_password"
        elif customer.locked_at is not None:
            outcome = CustomerLocked() if checked.ok else failure
            result = "locked"
        elif not checked.ok:
            failures = session.execute(
                update(Customer)
                .where(Customer.id == customer.id)
                .values(
                    password_failures=Customer.password_failures + 1,
                    locked_at=case(
                        (Customer.password_failures + 1 >= svc.policy.password_max_failures, now),
                        else_=Customer.locked_at,
                    ),
                    updated_at=now,
                )
                .returning(Customer.password_failures)
                .execution_options(synchronize_session=False)
            ).scalar_one()
            outcome = failure
            result = "locked_now" if failures >= svc.policy.password_max_failures else "failed"
        else:
            customer.password_failures = 0
            if checked.new_hash:
                if kind == "login":
                    customer.login_password_hash = checked.new_hash
                else:
                    customer.confirmation_password_hash = checked.new_hash
            customer.updated_at = now
            result = "ok"
        audit.append(
            session, event=event, result=result, now=now, actor=client.actor, bank_code=bank.code,
            contract_id=contract_id, ip=client.ip, user_agent=client.user_agent,
        )
        found = view(session, customer) if outcome is None and customer is not None else None
    if outcome is not None:
        raise outcome
    assert found is not None
    return found


def show_customer(svc: Services, bank_code: str, contract_id: str) -> CustomerView:
    with svc.db.reading() as session:
        return view(session, require_customer(session, bank_code, contract_id))


def unlock_customer(svc: Services, bank_code: str, contract_id: str, client: Client = OPERATOR) -> CustomerView:
    """Clear the password lockout, the active credential's OTP lockout, and the count and lock of the
    customer's wrong tries at token registration."""
    now = utcnow()
    with svc.db.transaction() as session:
        customer = require_customer(session, bank_code, contract_id)
        # Credential row first, then customer, then the audit head: the order every use case locks in.
        session.execute(
            update(Credential)
            .where(Credential.customer_id == customer.id, Credential.state == "active")
            .values(failure_count=0, last_failure_at=None, locked_at=None)
            .execution_options(synchronize_session=False)
        )
        customer.password_failures = 0
        customer.locked_at = None
        customer.registration_failures = 0
        customer.registration_failed_at = None
        customer.registration_locked_at = None
        customer.updated_at = now
        audit.append(
            session, event="customer.unlock", result="ok", now=now, actor=client.actor,
            bank_code=customer.bank.code, contract_id=customer.contract_id, ip=client.ip,
            user_agent=client.user_agent,
        )
        session.flush()
        session.expire_all()
        return view(session, require_customer(session, bank_code, contract_id))
