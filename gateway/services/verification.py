"""Verifying a customer's code: the one way every code is checked, for the pages and the partner API alike.

`verify` reads straight down (docs/verification.md tells it step by step):

1. **Look up** the customer's active credential, in one read that takes no lock: by the page's bank, or by the
   bank whose live API key asks (a key that is not live finds nothing).
2. **Check** the code against the row as read: throttle and lock first, then the window around its drift, the
   last accepted step (a code is accepted at most once) and the clock hint. Nothing is written yet.
3. **Record** the outcome and its audit event atomically, in one short transaction that holds only if the row is
   still as read: the accepted step with `… WHERE last_step < :step`, or the failure on the count as read (on
   PostgreSQL both, the audit head and the event are one statement). Of two requests that checked the same code,
   one changes the row; the other finds it changed.
4. If the row changed since it was read (another request on the same credential), nothing was written: the code
   is checked and recorded again on the row as it is now, locked, in a transaction of its own. Concurrent
   requests end as if they had come one after the other.

Every outcome is returned, never raised; malformed input raises InvalidInput before anything is looked up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, select

from ..domain import otp as otp_rules
from ..domain.customers import normalise_contract_id
from ..domain.errors import CredentialLocked, GatewayError, NotRegistered
from ..storage import audit
from ..storage.models import ApiKey, Bank, Credential, Customer
from . import Client, Services, codes, utcnow


@dataclass(frozen=True)
class Accepted:
    credential_id: str
    step: int
    drift: int


#: A code's outcome: accepted, or the reason it was not (NotRegistered, or a CodeRejected: InvalidCode,
#: ReplayedCode, OutOfSync, Throttled, CredentialLocked).
Outcome = Accepted | GatewayError


@dataclass(frozen=True)
class Asker:
    """Who asks: a bank's own page (`bank_code`) or a bank's API key (`key_hash`, its SHA-256)."""

    bank_code: str | None = None
    key_hash: str | None = None


@dataclass(frozen=True)
class Verified:
    """What `verify` found: the asking bank (None: no such bank, or a key that is not live) and the outcome."""

    bank_code: str | None
    outcome: Outcome | None


_CREDENTIALS = Credential.__table__
_CUSTOMERS = Customer.__table__
_BANKS = Bank.__table__
_KEYS = ApiKey.__table__
_CREDENTIAL_COLUMNS = tuple(_CREDENTIALS.c[name] for name in (
    "id", "credential_id", "kind", "algorithm", "digits", "period", "counter", "sealed_secret",
    "seal_key_id", "drift", "last_step", "failure_count", "last_failure_at", "locked_at",
))
#: The bank, its customer (if the contract ID is one) and that customer's active credential (if any).
_BANK_CUSTOMER_CREDENTIAL = (
    _BANKS.outerjoin(_CUSTOMERS, and_(_CUSTOMERS.c.bank_id == _BANKS.c.id,
                                      _CUSTOMERS.c.contract_id == bindparam("contract_id")))
    .outerjoin(_CREDENTIALS, and_(_CREDENTIALS.c.customer_id == _CUSTOMERS.c.id, *codes.ACTIVE))
)
_COLUMNS = (_BANKS.c.code.label("bank_code"), _CUSTOMERS.c.contract_id, *_CREDENTIAL_COLUMNS)
#: The pages: the bank of the page.
_BY_BANK = select(*_COLUMNS).select_from(_BANK_CUSTOMER_CREDENTIAL).where(_BANKS.c.code == bindparam("bank_code"))
#: The partner API: the bank of a live key, found in the same read.
_BY_KEY = (
    select(*_COLUMNS)
    .select_from(_KEYS.join(_BANK_CUSTOMER_CREDENTIAL, _BANKS.c.id == _KEYS.c.bank_id))
    .where(_KEYS.c.key_hash == bindparam("key_hash"), _KEYS.c.revoked_at.is_(None))
)
#: The credential row again, inside the write transaction (locked on PostgreSQL), while it is active.
_ACTIVE_BY_ROW = (
    select(*_CREDENTIAL_COLUMNS)
    .where(_CREDENTIALS.c.id == bindparam("row_id"), *codes.ACTIVE)
    .with_for_update()
)


def verify(
    svc: Services,
    asker: Asker,
    contract_id: str,
    otp: str,
    client: Client,
    *,
    event: str = "otp.verify",
    now: dt.datetime | None = None,
) -> Verified:
    """Check a customer's code (login, transfer) and record the outcome with its audit event.

    Raises InvalidInput (MalformedOtp) for input that is not a contract ID or not a code of the customer's
    token, before anything is counted or written; raises storage.driver.DatabaseUnavailable when the database
    does not answer. Everything else is the returned outcome.
    """
    now = now or utcnow()
    contract_id = normalise_contract_id(contract_id)
    store = svc.db.driver
    if asker.key_hash is not None:
        row = store.read(_BY_KEY, {"key_hash": asker.key_hash, "contract_id": contract_id})
    else:
        row = store.read(_BY_BANK, {"bank_code": asker.bank_code, "contract_id": contract_id})
    if row is None:
        return Verified(None, None)
    if asker.key_hash is not None:
        client = dataclasses.replace(client, actor=f"api:{row.bank_code}")
    cred = row if row.id is not None else None
    checked: otp_rules.Match | GatewayError = codes.check(svc, cred, otp, now) if cred else NotRegistered()

    # Record it, only if the credential is still as read: one statement on PostgreSQL, committed with it.
    write, outcome = _write_for(svc, cred, checked, now)
    locked_now = isinstance(outcome, CredentialLocked) and write is not None  # for the metrics
    with store.transaction(one_statement=True) as transaction:
        appended = _append(transaction, row, contract_id, cred, outcome, client, now, event, write, locked_now)
    if appended:
        return Verified(row.bank_code, outcome)

    # The credential changed since it was read: check and record the code on the row as it is now, locked.
    with store.transaction() as transaction:
        current = transaction.execute(_ACTIVE_BY_ROW, {"row_id": cred.id}).first()
        checked = codes.try_code(transaction, svc, current, otp, now, values={}, where=codes.ACTIVE) \
            if current else NotRegistered()
        outcome = _outcome(current, checked)
        _append(transaction, row, contract_id, current, outcome, client, now, event, None, None)
    return Verified(row.bank_code, outcome)


def _write_for(svc: Services, cred: Any, checked: otp_rules.Match | GatewayError, now: dt.datetime
               ) -> tuple[tuple[Any, dict[str, Any]] | None, Outcome]:
    """The conditional UPDATE that records `checked` on `cred` as read (None: nothing to record on the
    credential: no token, or a refusal before any code was tried), and the outcome it stands for."""
    if isinstance(checked, otp_rules.Match):
        return codes.accept_unchanged(cred, checked), _outcome(cred, checked)
    if cred is not None and codes.counts_as_failure(checked):
        write, locks = codes.failure_unchanged(svc, cred, now)
        return write, CredentialLocked() if locks else checked
    return None, checked


def _outcome(cred: Any, checked: otp_rules.Match | GatewayError) -> Outcome:
    if isinstance(checked, GatewayError):
        return checked
    return Accepted(cred.credential_id, checked.step, checked.drift)


def _append(transaction: Any, row: Any, contract_id: str, cred: Any, outcome: Outcome, client: Client,
            now: dt.datetime, event: str, write: tuple[Any, dict[str, Any]] | None, locked_now: bool | None) -> bool:
    """The audit event of `outcome` (after `write`, only if that changed one row): whether it was appended.
    `locked_now`: whether this attempt locked the credential (None: the metrics ask the database)."""
    seq = audit.append(
        transaction, event=event, result="ok" if isinstance(outcome, Accepted) else outcome.code, now=now,
        actor=client.actor, bank_code=row.bank_code, contract_id=contract_id,
        credential_id=cred.credential_id if cred else None, ip=client.ip, user_agent=client.user_agent,
        detail=outcome_detail(outcome if isinstance(outcome, GatewayError) else None), only_if=write,
        locked_now=locked_now,
    )
    return seq is not None


def outcome_detail(outcome: GatewayError | None) -> dict[str, Any]:
    """An outcome's reason and its numbers for the audit trail (never the code itself)."""
    if outcome is None:
        return {}
    detail: dict[str, Any] = {"reason": outcome.code}
    for name in ("offset_steps", "retry_after", "allowed_on"):
        if hasattr(outcome, name):
            detail[name] = getattr(outcome, name)
    return detail
