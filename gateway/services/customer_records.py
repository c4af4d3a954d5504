"""Create or update a customer in one call (a bank's own systems keep its customer records in step).

Passwords are hashed with argon2id before the transaction opens (the hash is slow; the row lock is not
held while it runs). The customer's `status` is what an operator may set: `locked` refuses password
logins until set back to `active`, which also clears the count of wrong passwords.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from ..domain.customers import check_confirmation_password, check_login_password, normalise_contract_id
from ..domain.errors import InvalidInput
from ..passwords import hash_password
from ..storage import audit
from ..storage.models import Customer
from . import OPERATOR, Client, Services, utcnow
from .banks import load_bank
from .customers import CustomerView, load_customer, view

STATUSES = ("active", "locked")
EMAIL_MAX = 254
EMAIL = re.compile(r"[!-~]*@[!-~]*")


class Unset(enum.Enum):
    """A field the caller did not send (as opposed to `None`, which clears it)."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class CustomerChange:
    """What a PUT asks for; every field is optional, but a new customer needs a login password."""

    password: str | None = None
    confirmation_password: str | None = None
    email: str | Unset | None = UNSET
    status: str | None = None

    def check(self) -> None:
        """Syntax only, before anything is hashed or looked up."""
        if self.password is not None:
            check_login_password(self.password)
        if self.confirmation_password is not None:
            check_confirmation_password(self.confirmation_password)
        if isinstance(self.email, str):
            check_email(self.email)
        if self.status is not None and self.status not in STATUSES:
            raise InvalidInput("status", "active or locked")

    @property
    def fields(self) -> list[str]:
        """The names (never the values) of what is set, for the audit trail."""
        names = []
        if self.password is not None:
            names.append("password")
        if self.confirmation_password is not None:
            names.append("confirmation_password")
        if self.email is not UNSET:
            names.append("email")
        if self.status is not None:
            names.append("status")
        return names


def check_email(email: str) -> str:
    """An `@` among printable ASCII characters (no spaces), at most 254 of them: what mail servers take."""
    if len(email) > EMAIL_MAX or not EMAIL.fullmatch(email):
        raise InvalidInput("email", "format")
    return email


@dataclass(frozen=True)
class PutResult:
    customer: CustomerView
    created: bool


def put_customer(
    svc: Services, bank_code: str, contract_id: str, change: CustomerChange, client: Client = OPERATOR
) -> PutResult:
    """Create the customer (a login password is then required) or change the given fields; audited."""
    contract_id = normalise_contract_id(contract_id)
    change.check()
    login_hash = hash_password(change.password) if change.password is not None else None
    confirmation_hash = (
        hash_password(change.confirmation_password) if change.confirmation_password is not None else None
    )
    for attempt in range(2):
        now = utcnow()
        try:
            with svc.db.transaction() as session:
                bank = load_bank(session, bank_code)
                customer = load_customer(session, bank, contract_id)
                created = customer is None
                if customer is None:
                    if login_hash is None:
                        raise InvalidInput("password", "a new customer needs a login password")
                    customer = Customer(
                        bank_id=bank.id, bank=bank, contract_id=contract_id, login_password_hash=login_hash,
                        otp_status="none", password_failures=0, created_at=now, updated_at=now,
                    )
                    session.add(customer)
                elif login_hash is not None:
                    customer.login_password_hash = login_hash
                if confirmation_hash is not None:
                    customer.confirmation_password_hash = confirmation_hash
                if not isinstance(change.email, Unset):
                    customer.email = change.email
                if change.status == "locked" and customer.locked_at is None:
                    customer.locked_at = now
                elif change.status == "active":
                    customer.locked_at = None
                    customer.password_failures = 0
                customer.updated_at = now
                session.flush()
                detail: dict[str, object] = {"fields": change.fields}
                if change.status is not None:
                    detail["status"] = change.status
                audit.append(
                    session, event="customer.add" if created else "customer.update", result="ok", now=now,
                    actor=client.actor, bank_code=bank.code, contract_id=contract_id, ip=client.ip,
                    user_agent=client.user_agent, detail=detail,
                )
                return PutResult(view(session, customer), created)
        except IntegrityError:
            # Another request created the same customer a moment ago: the second pass updates it.
            if attempt:
                raise
    raise AssertionError("unreachable")
