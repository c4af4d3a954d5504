"""Checking a code against a credential, and recording the outcome: the part every use case shares.

`accept` records the accepted step with one conditional UPDATE (`… WHERE last_step < :step`), so of two
processes that checked the same code only one row update succeeds; the other sees zero rows changed and
reports a replay. Every wrong code is counted with one atomic UPDATE on that credential alone — except at
registration, where the token is not yet the customer's: there the caller counts it against the customer
(`count_failure=False`), so that nobody can lock a bystander's token. How a verify uses these, step by step:
docs/verification.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, case, literal_column, or_, update
from sqlalchemy.orm import Session

from ..domain import otp as otp_rules
from ..domain.errors import CodeRejected, CredentialLocked, GatewayError, ReplayedCode, ResyncFailed, Throttled
from ..domain.tokens import normalise_otp
from ..storage.models import Credential
from . import Services

CREDENTIALS = Credential.__table__
#: The condition for codes of a bound credential (login, transfer, stop use, resync). The state is written
#: into the SQL, not bound: SQLite plans a bound value in an index's second column again on every execution,
#: which costs more than the look-up itself.
ACTIVE = [CREDENTIALS.c.state == literal_column("'active'")]


def try_code(
    session: Session | Connection,
    svc: Services,
    cred: Any,
    otp: str,
    now: dt.datetime,
    *,
    values: dict[str, Any],
    where: Sequence[ColumnElement[bool]],
    otp2: str | None = None,
    count_failure: bool = True,
) -> otp_rules.Match | GatewayError:
    """Throttle, check, and either record the accepted step (with `values`) or count the failure.

    With `otp2`, the two codes must be consecutive within ±10 steps: that re-centres the drift (resync).
    `cred` is a Credential or a row with the same columns. Malformed input raises MalformedOtp before
    anything is looked at or counted. With `count_failure=False` a failure is only returned, never counted on the
    credential (the caller counts it elsewhere; see `counts_as_failure`).
    """
    return record(session, svc, cred, check(svc, cred, otp, now, otp2), now, values=values, where=where,
                  count_failure=count_failure)


def check(svc: Services, cred: Any, otp: str, now: dt.datetime, otp2: str | None = None
          ) -> otp_rules.Match | GatewayError:
    """What the code is worth against `cred` as read: a step to accept, or why not. Writes nothing.

    Raises MalformedOtp for input that is not a code (nothing is counted then).
    """
    otp = normalise_otp(otp, cred.digits)
    second = normalise_otp(otp2, cred.digits) if otp2 is not None else None
    refused = blocked(cred, now)
    if refused is not None:
        return refused
    secret, rules, known = unseal(svc, cred), params(cred), state(cred)
    try:
        if second is None:
            return otp_rules.check(secret, rules, known, otp, now.timestamp(), svc.policy.otp_window)
        return otp_rules.resync(secret, rules, known, otp, second, now.timestamp())
    except (CodeRejected, ResyncFailed) as rejected:
        return rejected


def record(
    session: Session | Connection,
    svc: Services,
    cred: Any,
    checked: otp_rules.Match | GatewayError,
    now: dt.datetime,
    *,
    values: dict[str, Any],
    where: Sequence[ColumnElement[bool]],
    count_failure: bool = True,
) -> otp_rules.Match | GatewayError:
    """Record what `check` found: the accepted step (one conditional UPDATE), or one more failure (unless
    `count_failure` is False: then the failure is only returned).

    A refusal before any code was tried (locked, throttled) records nothing.
    """
    if isinstance(checked, GatewayError):
        if not count_failure or not counts_as_failure(checked):
            return checked
        return record_failure(session, svc, cred, now) or checked
    if accept(session, cred, checked, now, values, where):
        return checked
    # Zero rows: another request accepted this step (or a later one) first, or the state moved on.
    if not count_failure:
        return ReplayedCode()
    return record_failure(session, svc, cred, now) or ReplayedCode()


def counts_as_failure(refused: GatewayError) -> bool:
    """A wrong code counts; a refusal before any code was tried (locked, throttled) does not."""
    return not isinstance(refused, (CredentialLocked, Throttled))


def blocked(cred: Any, now: dt.datetime) -> GatewayError | None:
    if cred.locked_at is not None:
        return CredentialLocked()
    if cred.failure_count and cred.last_failure_at is not None:
        ready_at = cred.last_failure_at + dt.timedelta(seconds=otp_rules.throttle_delay(cred.failure_count))
        if now < ready_at:
            return Throttled(retry_after=(ready_at - now).total_seconds())
    return None


def accept_statement(where: Sequence[ColumnElement[bool]], values: dict[str, Any]) -> Any:
    return (
        update(CREDENTIALS)
        .where(
            CREDENTIALS.c.id == bindparam("row_id"),
            CREDENTIALS.c.locked_at.is_(None),
            or_(CREDENTIALS.c.last_step.is_(None), CREDENTIALS.c.last_step < bindparam("step")),
            *where,
        )
        .values(last_step=bindparam("step"), drift=bindparam("new_drift"), counter=bindparam("next_counter"),
                failure_count=0, last_failure_at=None, **values)
    )


#: Built once: the verify path's conditional UPDATE.
ACCEPTACTIVE = accept_statement(ACTIVE, {})
#: Conditions on a row read before its write: no failure was counted since (else the code is checked again
#: on the row as it is now, see `verification`).
_UNCHANGED = [
    *ACTIVE,
    CREDENTIALS.c.failure_count == bindparam("seen_failures"),
    CREDENTIALS.c.last_failure_at.is_not_distinct_from(bindparam("seen_failure_at")),
]
#: The accept, for a code checked against a row read before the transaction.
ACCEPT_UNCHANGED = accept_statement(_UNCHANGED, {})
#: A wrong code checked against a row read before the transaction: the count and the lock that
#: `RECORD_FAILURE` would set on that row, set only if it is still as read.
FAILURE_UNCHANGED = (
    update(CREDENTIALS)
    .where(CREDENTIALS.c.id == bindparam("row_id"), CREDENTIALS.c.locked_at.is_(None), *_UNCHANGED)
    .values(failure_count=bindparam("failures"), last_failure_at=bindparam("now"), locked_at=bindparam("lock_at"))
)


def accept(
    session: Session | Connection,
    cred: Any,
    match: otp_rules.Match,
    now: dt.datetime,
    values: dict[str, Any],
    where: Sequence[ColumnElement[bool]],
) -> bool:
    """One conditional UPDATE: record the step only if no equal or later step was recorded before."""
    statement = ACCEPTACTIVE if where is ACTIVE and not values else accept_statement(where, values)
    return session.execute(statement, _accept_params(cred, match)).rowcount == 1


def accept_unchanged(cred: Any, match: otp_rules.Match) -> tuple[Any, dict[str, Any]]:
    """`accept` on the verify path, also only if no failure was counted since `cred` was read: the
    statement and its parameters (one row changed means accepted; see `audit.append(only_if=…)`)."""
    return ACCEPT_UNCHANGED, {**_accept_params(cred, match), **_unchanged_params(cred)}


def failure_unchanged(svc: Services, cred: Any, now: dt.datetime) -> tuple[tuple[Any, dict[str, Any]], bool]:
    """One more failure against `cred` as read, only if it is still as read: the statement and its
    parameters, and whether this failure locks the credential (as `record_failure` would find)."""
    failures = cred.failure_count + 1
    locks = failures >= svc.policy.otp_max_failures
    params = {"row_id": cred.id, "failures": failures, "now": now, "lock_at": now if locks else None,
              **_unchanged_params(cred)}
    return (FAILURE_UNCHANGED, params), locks


def _unchanged_params(cred: Any) -> dict[str, Any]:
    return {"seen_failures": cred.failure_count, "seen_failure_at": cred.last_failure_at}


def _accept_params(cred: Any, match: otp_rules.Match) -> dict[str, Any]:
    return {
        "row_id": cred.id,
        "step": match.step,
        "new_drift": match.drift,
        # HOTP: the next counter expected; TOTP keeps its (unused) counter.
        "next_counter": match.step + 1 if cred.kind == "hotp" else cred.counter,
    }


RECORD_FAILURE = (
    update(CREDENTIALS)
    .where(CREDENTIALS.c.id == bindparam("credential_row"))
    .values(
        failure_count=CREDENTIALS.c.failure_count + 1,
        last_failure_at=bindparam("now"),
        locked_at=case((CREDENTIALS.c.failure_count + 1 >= bindparam("limit"), bindparam("now")),
                       else_=CREDENTIALS.c.locked_at),
    )
    .returning(CREDENTIALS.c.failure_count, CREDENTIALS.c.locked_at)
)


def record_failure(session: Session | Connection, svc: Services, cred: Any, now: dt.datetime) -> GatewayError | None:
    """Count one wrong code against this credential only; returns CredentialLocked if it now locks."""
    limit = svc.policy.otp_max_failures
    failures, locked_at = session.execute(RECORD_FAILURE, {"credential_row": cred.id, "now": now,
                                                          "limit": limit}).one()
    return CredentialLocked() if locked_at is not None and failures >= limit else None


# --- stop use --------------------------------------------------------------------------------------
def unseal(svc: Services, cred: Any) -> bytes:
    return svc.sealer.unseal(cred.seal_key_id, cred.sealed_secret, aad=cred.credential_id.encode())


def params(cred: Any) -> otp_rules.OtpParams:
    return otp_rules.OtpParams(kind=cred.kind, algorithm=cred.algorithm, digits=cred.digits,  # type: ignore[arg-type]
                               period=cred.period)


def state(cred: Any) -> otp_rules.StepState:
    return otp_rules.StepState(last_step=cred.last_step, drift=cred.drift, counter=cred.counter)
