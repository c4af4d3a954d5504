"""The credential registry: minting, binding with proof of possession, resync, operators' look-ups and unlocks.

Verification is `verification`, stop use `removal`; the codes' rules they all share are `codes`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain import otp as otp_rules
from ..domain.errors import (
    AlreadyRegistered,
    AmbiguousToken,
    CredentialLocked,
    GatewayError,
    InvalidInput,
    NotRegistered,
    RegistrationLocked,
    ReregistrationTooSoon,
    Throttled,
    TokenAlreadyAssigned,
    TokenLocked,
    TokenRevoked,
    UnknownToken,
)
from ..domain.tokens import mint_secret, mint_token_id, normalise_token_id, otpauth_uri
from ..storage import audit
from ..storage.models import Bank, Credential, Customer
from . import OPERATOR, Client, Services, codes, utcnow
from .banks import load_bank
from .customers import active_credential, require_customer
from .verification import Accepted, outcome_detail

#: A step run inside a use case's transaction after it succeeded: (session, customer) → None.
AfterHook = Callable[[Session, Customer], None]


@dataclass(frozen=True)
class CredentialView:
    credential_id: str
    bank_code: str
    state: str
    kind: str
    algorithm: str
    digits: int
    period: int
    contract_id: str | None
    failure_count: int
    created_at: dt.datetime
    bound_at: dt.datetime | None

    @classmethod
    def of(cls, cred: Credential, contract_id: str | None = None) -> CredentialView:
        return cls(
            credential_id=cred.credential_id,
            bank_code=cred.bank.code,
            state=cred.display_state,
            kind=cred.kind,
            algorithm=cred.algorithm,
            digits=cred.digits,
            period=cred.period,
            contract_id=contract_id,
            failure_count=cred.failure_count,
            created_at=cred.created_at,
            bound_at=cred.bound_at,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "credential_id": self.credential_id,
            "bank": self.bank_code,
            "state": self.state,
            "kind": self.kind,
            "algorithm": self.algorithm,
            "digits": self.digits,
            "period": self.period,
            "contract_id": self.contract_id,
            "failure_count": self.failure_count,
            "created_at": self.created_at.isoformat(),
            "bound_at": self.bound_at.isoformat() if self.bound_at else None,
        }


@dataclass(frozen=True)
class Minted:
    credential_id: str
    otpauth_uri: str


# --- minting ---------------------------------------------------------------------------------------
def mint(svc: Services, bank_code: str, count: int = 1, client: Client = OPERATOR) -> list[Minted]:
    """New available soft tokens for the bank: its prefix + 8 digits, a 160-bit secret each."""
    if not 1 <= count <= 10_000:
        raise InvalidInput("count", "between 1 and 10000")
    now = utcnow()
    minted: list[Minted] = []
    with svc.db.transaction() as session:
        bank = load_bank(session, bank_code)
        for _ in range(count):
            token_id = free_token_id(session, bank.token_prefix)
            secret = mint_secret()
            key_id, sealed = svc.sealer.seal(secret, aad=token_id.encode())
            session.add(
                Credential(
                    credential_id=token_id,
                    bank_id=bank.id,
                    kind="totp",
                    algorithm=bank.token_algorithm,
                    digits=bank.token_digits,
                    period=bank.token_period,
                    counter=0,
                    sealed_secret=sealed,
                    seal_key_id=key_id,
                    state="available",
                    drift=0,
                    failure_count=0,
                    source="minted",
                    created_at=now,
                )
            )
            minted.append(Minted(token_id, _uri(bank, token_id, secret, bank.token_algorithm,
                                                bank.token_digits, bank.token_period)))
            session.flush()
        audit.append(
            session, event="credential.mint", result="ok", now=now, actor=client.actor, bank_code=bank.code,
            ip=client.ip, user_agent=client.user_agent, detail={"count": count},
        )
    return minted


def _uri(bank: Bank, token_id: str, secret: bytes, algorithm: str, digits: int, period: int) -> str:
    return otpauth_uri(
        issuer=bank.name, token_id=token_id, secret_b32=otp_rules.b32(secret),
        algorithm=algorithm, digits=digits, period=period,
    )


def free_token_id(session: Session, prefix: str) -> str:
    """A token ID with the bank's prefix that no credential of any bank has yet.

    Token IDs are unique per bank, but a minted one is kept free in every bank: minted IDs then never
    name two tokens (operators' commands stay unambiguous), and the caller picks nothing, so it learns
    nothing about other banks.
    """
    for _ in range(100):
        candidate = mint_token_id(prefix)
        if session.scalar(select(Credential.id).where(Credential.credential_id == candidate).limit(1)) is None:
            return candidate
    raise RuntimeError("no free token ID found; the prefix is nearly exhausted")


_free_token_id = free_token_id


# --- listing and demo codes ------------------------------------------------------------------------
def list_credentials(svc: Services, bank_code: str, state: str | None = None) -> list[CredentialView]:
    with svc.db.reading() as session:
        bank = load_bank(session, bank_code)
        query = (
            select(Credential, Customer.contract_id)
            .outerjoin(Customer, Credential.customer_id == Customer.id)
            .where(Credential.bank_id == bank.id)
            .order_by(Credential.id)
        )
        if state == "locked":
            query = query.where(Credential.locked_at.is_not(None))
        elif state is not None:
            query = query.where(Credential.state == state, Credential.locked_at.is_(None))
        return [CredentialView.of(cred, contract_id) for cred, contract_id in session.execute(query)]


def get_credential(svc: Services, token_id: str, bank_code: str | None = None) -> CredentialView:
    """One credential by token ID, for operators: of `bank_code`, or of whichever bank holds it.

    Raises UnknownToken, UnknownBank, or AmbiguousToken (naming the banks) when no bank is given and more
    than one holds the ID.
    """
    token_id = normalise_token_id(token_id)
    with svc.db.reading() as session:
        cred = find_credential(session, token_id, bank_code)
        contract_id = session.scalar(select(Customer.contract_id).where(Customer.id == cred.customer_id)) \
            if cred.customer_id is not None else None
        return CredentialView.of(cred, contract_id)


def find_credential(session: Session, token_id: str, bank_code: str | None = None) -> Credential:
    """The credential with this (normalised) token ID: in `bank_code`, or the one bank that holds it.

    Raises UnknownToken, UnknownBank, or AmbiguousToken when no bank is given and several banks hold it.
    """
    query = select(Credential).where(Credential.credential_id == token_id)
    if bank_code is not None:
        query = query.where(Credential.bank_id == load_bank(session, bank_code).id)
    found = session.scalars(query.order_by(Credential.id)).all()
    if not found:
        raise UnknownToken(token_id)
    if len(found) > 1:
        raise AmbiguousToken(token_id, sorted(cred.bank.code for cred in found))
    return found[0]


@dataclass(frozen=True)
class DemoCode:
    credential_id: str
    state: str
    code: str
    period: int
    seconds_left: int


def demo_codes(svc: Services, bank_code: str | None = None, token_id: str | None = None,
               now: dt.datetime | None = None) -> list[DemoCode]:
    """Current codes of demo banks' available and active tokens (or one token), so a demo needs no phone.

    Tokens of a real bank never show here: they raise UnknownToken / return nothing. A token ID that two
    demo banks hold, asked for without `bank_code`, raises AmbiguousToken.
    """
    now = now or utcnow()
    with svc.db.reading() as session:
        query = select(Credential).join(Bank, Credential.bank_id == Bank.id).where(Bank.is_demo.is_(True))
        if token_id is not None:
            query = query.where(Credential.credential_id == normalise_token_id(token_id),
                                Credential.state != "revoked")
        else:
            # Available tokens to register, and the registered ones their demo customers log in with.
            query = query.where(Credential.state.in_(("available", "active")), Credential.locked_at.is_(None))
        if bank_code is not None:
            query = query.where(Bank.code == bank_code)
        creds = session.scalars(query.order_by(Credential.id)).all()
        if token_id is not None and not creds:
            raise UnknownToken(token_id)
        if token_id is not None and len(creds) > 1:
            raise AmbiguousToken(creds[0].credential_id, sorted(cred.bank.code for cred in creds))
        result = []
        for cred in creds:
            secret = codes.unseal(svc, cred)
            ts = now.timestamp()
            step = otp_rules.current_step(ts, cred.period) + cred.drift
            result.append(DemoCode(
                credential_id=cred.credential_id,
                state=cred.display_state,
                code=otp_rules.code_at(secret, step, codes.params(cred)),
                period=cred.period,
                seconds_left=cred.period - int(ts) % cred.period,
            ))
        return result


# --- binding ---------------------------------------------------------------------------------------
def register(
    svc: Services,
    bank_code: str,
    contract_id: str,
    token_id: str,
    otp: str,
    client: Client,
    now: dt.datetime | None = None,
    after: AfterHook | None = None,
    otp2: str | None = None,
) -> CredentialView:
    """Bind an available token to an authenticated customer, with a valid code as proof of possession.

    With `otp2` (the token's clock is off): two consecutive codes bind it and record its drift.

    A wrong try — a token that cannot be registered, or a wrong code — counts against the customer and
    never against the token, which may be someone else's, not registered yet: the customer's next try
    waits 1, 2, 4… seconds (Throttled) and OTP_MAX_FAILURES of them lock the customer's registration
    (RegistrationLocked) until an operator unlocks the customer. A success clears the count. Every try
    is audited with its reason (never the code).

    The caller vouches for the customer (a completed password step, or the bank's API key). `after`
    runs inside the same transaction once the binding succeeded (e.g. to record an issuance's state).
    """
    token_id = normalise_token_id(token_id)
    now = now or utcnow()
    outcome: GatewayError | None = None
    try:
        with svc.db.transaction() as session:
            customer = require_customer(session, bank_code, contract_id)
            bank = customer.bank
            cred = session.scalar(
                select(Credential).where(Credential.credential_id == token_id, Credential.bank_id == bank.id)
            )
            outcome = _registration_blocker(session, svc, customer, cred, now)
            if outcome is None:
                assert cred is not None
                attempt = codes.try_code(
                    session, svc, cred, otp, now,
                    values={
                        "state": "active", "customer_id": customer.id, "bound_at": now,
                        "bound_ip": client.ip, "bound_user_agent": (client.user_agent or "")[:500] or None,
                    },
                    where=[Credential.state == "available",
                           or_(Credential.customer_id.is_(None), Credential.customer_id == customer.id)],
                    otp2=otp2,
                    count_failure=False,  # counted against the customer below, never on the token
                )
                if isinstance(attempt, GatewayError):
                    outcome = attempt
                else:
                    customer.otp_status = "active"
                    customer.registration_failures = 0
                    customer.registration_failed_at = None
                    customer.updated_at = now
                    session.flush()
                    if after is not None:
                        after(session, customer)
            result, detail = (outcome.code, outcome_detail(outcome)) if outcome else ("ok", {})
            if outcome is not None and counts_as_registration_try(outcome):
                failures = _count_registration_failure(session, svc, customer, now)
                detail["registration_failures"] = failures
                if failures >= svc.policy.otp_max_failures:
                    outcome = RegistrationLocked()
                    result = "locked_now" if failures == svc.policy.otp_max_failures else outcome.code
            audit.append(
                session, event="credential.register", result=result, now=now, actor=client.actor,
                bank_code=bank.code, contract_id=customer.contract_id, credential_id=token_id,
                ip=client.ip, user_agent=client.user_agent, detail=detail,
            )
            registered = None
            if outcome is None:
                session.refresh(cred)
                registered = CredentialView.of(cred, customer.contract_id)
    except IntegrityError:
        # Another request bound a different token to this customer at the same moment.
        raise AlreadyRegistered() from None
    if outcome is not None:
        raise outcome
    assert registered is not None
    return registered


def _registration_blocker(
    session: Session, svc: Services, customer: Customer, cred: Credential | None, now: dt.datetime
) -> GatewayError | None:
    if active_credential(session, customer) is not None:
        return AlreadyRegistered()
    allowed_on = reregistration_date(customer)
    if allowed_on is not None and now.astimezone(svc.policy.zone).date() < allowed_on:
        return ReregistrationTooSoon(allowed_on)
    # The customer's own wait and lock come before anything about the token is looked at: a try during
    # the wait says nothing about the token it names.
    if customer.registration_locked_at is not None:
        return RegistrationLocked()
    if customer.registration_failures and customer.registration_failed_at is not None:
        wait = dt.timedelta(seconds=otp_rules.throttle_delay(customer.registration_failures))
        ready_at = customer.registration_failed_at + wait
        if now < ready_at:
            return Throttled(retry_after=(ready_at - now).total_seconds())
    if cred is None:
        return UnknownToken()
    if cred.locked_at is not None:
        return TokenLocked()
    if cred.state == "active":
        return TokenAlreadyAssigned()
    if cred.state == "revoked" or (cred.expires_at is not None and cred.expires_at <= now):
        return TokenRevoked()
    if cred.customer_id is not None and cred.customer_id != customer.id:
        return TokenAlreadyAssigned()
    return None


#: Refusals that are no try at a token: the customer's own state, or a try that was not looked at.
_NOT_A_TRY = (AlreadyRegistered, ReregistrationTooSoon, RegistrationLocked, Throttled, CredentialLocked)


def counts_as_registration_try(refused: GatewayError) -> bool:
    """A refused registration that counts against the customer: an unusable token, or a wrong code."""
    return not isinstance(refused, _NOT_A_TRY)


def _count_registration_failure(session: Session, svc: Services, customer: Customer, now: dt.datetime) -> int:
    """One more wrong registration try of this customer, with one atomic UPDATE: how many there are now.

    At OTP_MAX_FAILURES it also locks the customer's registration.
    """
    limit = svc.policy.otp_max_failures
    return int(session.execute(
        update(Customer)
        .where(Customer.id == customer.id)
        .values(
            registration_failures=Customer.registration_failures + 1,
            registration_failed_at=now,
            registration_locked_at=case((Customer.registration_failures + 1 >= limit, now),
                                        else_=Customer.registration_locked_at),
        )
        .returning(Customer.registration_failures)
        .execution_options(synchronize_session=False)
    ).scalar_one())


def reregistration_date(customer: Customer) -> dt.date | None:
    """The first day (bank's calendar) a customer who stopped OTP use may register again."""
    if customer.released_on is None:
        return None
    return customer.released_on + dt.timedelta(days=customer.bank.reregister_delay_days)


def resync(
    svc: Services,
    bank_code: str,
    contract_id: str,
    otp1: str,
    otp2: str,
    client: Client,
    now: dt.datetime | None = None,
) -> Accepted:
    """Two consecutive codes re-centre the drift; a failed try counts like a wrong code."""
    now = now or utcnow()
    with svc.db.transaction() as session:
        customer = require_customer(session, bank_code, contract_id)
        cred = active_credential(session, customer)
        outcome: Accepted | GatewayError
        if cred is None:
            outcome = NotRegistered()
        else:
            attempt = codes.try_code(session, svc, cred, otp1, now, values={}, where=codes.ACTIVE, otp2=otp2)
            outcome = attempt if isinstance(attempt, GatewayError) else Accepted(
                cred.credential_id, attempt.step, attempt.drift)
        audit.append(
            session, event="credential.resync", result="ok" if isinstance(outcome, Accepted) else outcome.code,
            now=now, actor=client.actor, bank_code=customer.bank.code, contract_id=customer.contract_id,
            credential_id=cred.credential_id if cred else None, ip=client.ip, user_agent=client.user_agent,
        )
    if isinstance(outcome, GatewayError):
        raise outcome
    return outcome


def unlock_credential(svc: Services, token_id: str, client: Client = OPERATOR,
                      bank_code: str | None = None) -> CredentialView:
    """Operators: clear a credential's OTP lockout (wrong codes at login or other uses of a bound token).

    `bank_code` names the bank; without it the one bank holding the ID (AmbiguousToken when several do).
    """
    token_id = normalise_token_id(token_id)
    now = utcnow()
    with svc.db.transaction() as session:
        cred = find_credential(session, token_id, bank_code)
        cred.failure_count = 0
        cred.last_failure_at = None
        cred.locked_at = None
        audit.append(
            session, event="credential.unlock", result="ok", now=now, actor=client.actor,
            bank_code=cred.bank.code, credential_id=token_id, ip=client.ip, user_agent=client.user_agent,
        )
        session.flush()
        return CredentialView.of(cred)


# --- sealing ---------------------------------------------------------------------------------------
def rotate_keys(svc: Services, batch: int = 500, client: Client = OPERATOR) -> int:
    """Re-seal every secret not sealed under the first of SEAL_KEYS; returns how many were re-sealed."""
    done = 0
    primary = svc.sealer.primary_id
    while True:
        with svc.db.transaction() as session:
            creds = session.scalars(
                select(Credential).where(Credential.seal_key_id != primary).order_by(Credential.id).limit(batch)
            ).all()
            for cred in creds:
                secret = codes.unseal(svc, cred)
                cred.seal_key_id, cred.sealed_secret = svc.sealer.seal(secret, aad=cred.credential_id.encode())
            if creds:
                audit.append(session, event="keys.rotate", result="ok", now=utcnow(), actor=client.actor,
                             ip=client.ip, user_agent=client.user_agent,
                             detail={"count": len(creds), "key_id": primary})
        done += len(creds)
        if len(creds) < batch:
            return done
