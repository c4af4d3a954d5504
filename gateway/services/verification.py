"""Verifying a customer's code: the banks' hot path (login, transfer), for the pages and the partner API.

One lookup, one conditional UPDATE (see `codes.accept`), the audit append, one commit. The partner API's
variant folds the API key check into the same lookup, judges the code before its write transaction
begins, and runs on the kept driver connection (`storage.driver`): its write lock is held for the
few statements that record the outcome (on PostgreSQL one, with its commit), not for the look-up and the
HMACs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select

from ..domain import otp as otp_rules
from ..domain.customers import normalise_contract_id
from ..domain.errors import CredentialLocked, GatewayError, NotRegistered, UnknownApiKey, UnknownBank
from ..storage import audit
from ..storage.models import ApiKey, Bank, Credential, Customer
from . import Client, Services, codes, utcnow


@dataclass(frozen=True)
class Accepted:
    credential_id: str
    step: int
    drift: int


@dataclass(frozen=True)
class KeyedOutcome:
    """What the partner API's verify found: the key's bank, and the code's outcome (never raised)."""

    bank_code: str
    outcome: Accepted | GatewayError


_CREDENTIALS = Credential.__table__
_CUSTOMERS = Customer.__table__
_BANKS = Bank.__table__
_KEYS = ApiKey.__table__
_CREDENTIAL_COLUMNS = tuple(_CREDENTIALS.c[name] for name in (
    "id", "credential_id", "kind", "algorithm", "digits", "period", "counter", "sealed_secret",
    "seal_key_id", "drift", "last_step", "failure_count", "last_failure_at", "locked_at",
))
_ACTIVE_OF_CUSTOMER = and_(_CREDENTIALS.c.customer_id == _CUSTOMERS.c.id, *codes.ACTIVE)
#: Bank code + contract ID → the customer and its active credential, if any.
_LOOKUP = (
    select(_CUSTOMERS.c.contract_id, *_CREDENTIAL_COLUMNS)
    .select_from(_CUSTOMERS.join(_BANKS, _BANKS.c.id == _CUSTOMERS.c.bank_id).outerjoin(
        _CREDENTIALS, _ACTIVE_OF_CUSTOMER))
    .where(_BANKS.c.code == bindparam("bank_code"), _CUSTOMERS.c.contract_id == bindparam("contract_id"))
)
_BANK_EXISTS = select(_BANKS.c.id).where(_BANKS.c.code == bindparam("bank_code"))
#: A live API key → its bank, that bank's customer (if the contract ID is one) and its active credential.
_KEYED_LOOKUP = (
    select(_BANKS.c.code.label("bank_code"), _CUSTOMERS.c.contract_id, *_CREDENTIAL_COLUMNS)
    .select_from(
        _KEYS.join(_BANKS, _BANKS.c.id == _KEYS.c.bank_id)
        .outerjoin(_CUSTOMERS, and_(_CUSTOMERS.c.bank_id == _BANKS.c.id,
                                    _CUSTOMERS.c.contract_id == bindparam("contract_id")))
        .outerjoin(_CREDENTIALS, _ACTIVE_OF_CUSTOMER)
    )
    .where(_KEYS.c.key_hash == bindparam("key_hash"), _KEYS.c.revoked_at.is_(None))
)


def verify(
    svc: Services,
    bank_code: str,
    contract_id: str,
    otp: str,
    client: Client,
    now: dt.datetime | None = None,
    event: str = "otp.verify",
) -> Accepted:
    """Check a customer's code (login, transfer). Raises NotRegistered or a CodeRejected subclass."""
    now = now or utcnow()
    contract_id = normalise_contract_id(contract_id)
    with svc.db.engine.begin() as connection:
        cred = connection.execute(_LOOKUP, {"bank_code": bank_code, "contract_id": contract_id}).first()
        if cred is None and connection.execute(_BANK_EXISTS, {"bank_code": bank_code}).first() is None:
            raise UnknownBank(bank_code)
        if cred is not None and cred.id is not None and connection.dialect.name != "sqlite":
            # PostgreSQL read that row without a lock (SQLite holds the write lock since BEGIN): judge on
            # it as it is now, locked, so overlapping tries end as if one came after the other (the
            # second throttled, not counted too). None: it stopped meanwhile.
            cred = connection.execute(_ACTIVE_BY_ROW, {"row_id": cred.id}).first()
        outcome = _check(connection, svc, bank_code, contract_id, cred, otp, client, now, event)
    if isinstance(outcome, GatewayError):
        raise outcome
    return outcome


def verify_with_key(
    svc: Services,
    key_hash: str,
    contract_id: str,
    otp: str,
    client: Client,
    now: dt.datetime | None = None,
) -> KeyedOutcome:
    """The partner API's verify: the key (by its hash) names the bank; audited as `api:<bank>`.

    Raises UnknownApiKey for a key that is not live, InvalidInput/MalformedOtp for malformed input
    (nothing is counted or written then); every other outcome is returned, not raised.

    The code is judged on the row as read before the write transaction (the HMACs, the unsealing and the
    look-up hold no lock), then recorded in a short one: the accepted step or the failure, only if the row
    still is as judged (`codes.accept_unchanged`, `codes.failure_unchanged`); if it moved on, nothing is written and the
    code judged again on the row as it is now, locked, in one of its own. Concurrent requests end as if they
    had come one after the other.
    """
    now = now or utcnow()
    contract_id = normalise_contract_id(contract_id)

    def look(connection: Any) -> Any:
        return connection.execute(_KEYED_LOOKUP, {"key_hash": key_hash, "contract_id": contract_id}).first()

    def judge(row: Any) -> tuple[Any, Any, otp_rules.Match | GatewayError]:
        if row is None:
            raise UnknownApiKey()
        cred = row if row.contract_id is not None and row.id is not None else None
        return row, cred, codes.judge(svc, cred, otp, now) if cred is not None else NotRegistered()

    def record(connection: Any, found: tuple[Any, Any, otp_rules.Match | GatewayError]) -> KeyedOutcome:
        row, cred, judged = found
        outcome: otp_rules.Match | GatewayError = judged
        write, locks = None, False
        if isinstance(judged, otp_rules.Match):
            write = codes.accept_unchanged(cred, judged)
        elif cred is not None and codes.counts_as_failure(judged):
            write, locks = codes.failure_unchanged(svc, cred, now)
            outcome = CredentialLocked() if locks else judged
        # The credential's write and the audit's append: on PostgreSQL one statement (`audit.append`). A
        # lock the look-up found was there before; one the write sets is this attempt's.
        recorded = finish(connection, row, cred, outcome, write, locks)
        if recorded is None:
            # The row moved on since it was judged: nothing was written. Judge again on the row as it is
            # now, locked, in a transaction of its own.
            raise _MovedOn(found)
        return recorded

    def record_again(connection: Any, found: tuple[Any, Any, otp_rules.Match | GatewayError]) -> KeyedOutcome:
        """The code judged again on the row as it is now, locked (PostgreSQL) before the audit's head."""
        row, cred, _ = found
        current = connection.execute(_ACTIVE_BY_ROW, {"row_id": cred.id}).first()
        recorded = finish(connection, row, current, _settle(connection, svc, current, otp, now), None, None)
        assert recorded is not None  # nothing to hold: always appended
        return recorded

    def finish(connection: Any, row: Any, cred: Any, outcome: otp_rules.Match | GatewayError,
               write: tuple[Any, dict[str, Any]] | None, locked_now: bool | None) -> KeyedOutcome | None:
        keyed = dataclasses.replace(client, actor=f"api:{row.bank_code}")
        audited = _audited(connection, row.bank_code, contract_id, cred, _accepted(cred, outcome), keyed, now,
                           "otp.verify", write, locked_now)
        return None if audited is None else KeyedOutcome(row.bank_code, audited)

    driver = svc.db.driver
    try:
        return driver.judged(look, judge, record)  # type: ignore[no-any-return]
    except _MovedOn as moved:
        found = moved.found
    return driver.run(lambda connection: record_again(connection, found))  # type: ignore[no-any-return]


class _MovedOn(Exception):
    """The credential changed between the look-up and the accept: rolled back, to be recorded again."""

    def __init__(self, found: Any) -> None:
        super().__init__("the credential changed since it was read")
        self.found = found


#: The credential row again, inside the write transaction (locked on PostgreSQL), while it is active.
_ACTIVE_BY_ROW = (
    select(*_CREDENTIAL_COLUMNS)
    .where(_CREDENTIALS.c.id == bindparam("row_id"), *codes.ACTIVE)
    .with_for_update()
)


def _settle(connection: Connection, svc: Services, cred: Any, otp: str, now: dt.datetime
            ) -> otp_rules.Match | GatewayError:
    """Judge and record a code on the row as it is now (None: no longer an active credential)."""
    if cred is None:
        return NotRegistered()
    return codes.try_code(connection, svc, cred, otp, now, values={}, where=codes.ACTIVE)


def _accepted(cred: Any, outcome: otp_rules.Match | GatewayError) -> Accepted | GatewayError:
    return outcome if isinstance(outcome, GatewayError) else Accepted(cred.credential_id, outcome.step,
                                                                      outcome.drift)


def _check(connection: Connection, svc: Services, bank_code: str, contract_id: str, cred: Any, otp: str,
           client: Client, now: dt.datetime, event: str) -> Accepted | GatewayError:
    """Try the code against the looked-up row (None: no such customer) and audit the outcome."""
    if cred is None or cred.id is None:
        cred = None
    outcome = _accepted(cred, _settle(connection, svc, cred, otp, now))
    _audited(connection, bank_code, contract_id, cred, outcome, client, now, event)
    return outcome


def _audited(connection: Connection, bank_code: str, contract_id: str, cred: Any, outcome: Accepted | GatewayError,
             client: Client, now: dt.datetime, event: str, only_if: tuple[Any, dict[str, Any]] | None = None,
             locked_now: bool | None = None) -> Accepted | GatewayError | None:
    """`outcome`, audited (`only_if`: if that UPDATE changed a row; else nothing is written: None)."""
    appended = audit.append(
        connection, event=event, result="ok" if isinstance(outcome, Accepted) else outcome.code, now=now,
        actor=client.actor, bank_code=bank_code, contract_id=contract_id,
        credential_id=cred.credential_id if cred else None, ip=client.ip, user_agent=client.user_agent,
        detail=outcome_detail(outcome if isinstance(outcome, GatewayError) else None), only_if=only_if,
        locked_now=locked_now,
    )
    return None if appended is None else outcome


def outcome_detail(outcome: GatewayError | None) -> dict[str, Any]:
    """An outcome's reason and its numbers for the audit trail (never the code itself)."""
    if outcome is None:
        return {}
    detail: dict[str, Any] = {"reason": outcome.code}
    for name in ("offset_steps", "retry_after", "allowed_on"):
        if hasattr(outcome, name):
            detail[name] = getattr(outcome, name)
    return detail
