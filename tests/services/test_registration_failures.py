"""Wrong tries at registration count against the customer who types them, never against the token."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from gateway.domain.errors import GatewayError, InvalidCode, Throttled, UnknownToken
from gateway.services import credentials as cs
from gateway.services import customers as cu
from gateway.storage.models import Credential, Customer
from tests.conftest import Token
from tests.services.conftest import CLIENT, credential_row

pytestmark = pytest.mark.db


def wrong(token: Token, at: dt.datetime) -> str:
    """A code that matches no step near `at` (so it is a plain wrong code, not a clock hint)."""
    near = {token.code(at, steps) for steps in range(-12, 13)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def register(svc, token, at, contract_id="1000000001", code=None, **kwargs):  # type: ignore[no-untyped-def]
    return cs.register(svc, "0001", contract_id, kwargs.pop("token_id", token.credential_id),
                       token.code(at) if code is None else code, CLIENT, now=at, **kwargs)


def fail(svc, token, at, times, already=0, **kwargs) -> dt.datetime:  # type: ignore[no-untyped-def]
    """`times` wrong codes (after `already` counted ones), each after the wait the one before asked for;
    returns when the next may come."""
    for failure in range(already + 1, already + times + 1):
        with pytest.raises(GatewayError):
            register(svc, token, at, code=wrong(token, at), **kwargs)
        at += dt.timedelta(seconds=2 ** (failure - 1))
    return at


def customer_row(svc, contract_id: str = "1000000001") -> Customer:  # type: ignore[no-untyped-def]
    with svc.db.reading() as session:
        return session.scalar(select(Customer).where(Customer.contract_id == contract_id))


def test_ten_wrong_codes_against_a_bystanders_token_leave_it_to_its_owner(svc, customer, make_customer, token,
                                                                           now) -> None:
    make_customer(contract_id="1000000002")  # the token's real owner, who has not registered it yet
    at = fail(svc, token, now, 10)
    row = credential_row(svc, token.credential_id)
    assert (row.state, row.failure_count, row.last_failure_at, row.locked_at) == ("available", 0, None, None)
    view = register(svc, token, at, contract_id="1000000002")
    assert view.state == "active" and view.contract_id == "1000000002"


def test_the_customer_is_throttled_then_locked(svc, customer, token, now, audit_rows) -> None:
    with pytest.raises(InvalidCode):
        register(svc, token, now, code=wrong(token, now))
    with pytest.raises(Throttled) as throttled:  # the right code, too early: not even looked at
        register(svc, token, now + dt.timedelta(seconds=0.25))
    assert throttled.value.retry_after == pytest.approx(0.75)
    assert customer_row(svc).registration_failures == 1
    at = fail(svc, token, now + dt.timedelta(seconds=1), 9, already=1)
    assert customer_row(svc).registration_locked_at is not None
    with pytest.raises(GatewayError) as locked:  # the right code, a day later: still locked
        register(svc, token, at + dt.timedelta(days=1))
    assert locked.value.code == "registration_locked"
    assert credential_row(svc, token.credential_id).failure_count == 0
    rows = audit_rows("credential.register")
    assert [row.result for row in rows] == (
        ["invalid_code", "throttled"] + ["invalid_code"] * 8 + ["locked_now", "registration_locked"])
    assert json.loads(rows[-2].detail) == {"reason": "invalid_code", "registration_failures": 10}
    codes = {token.code(now, steps) for steps in range(-5, 100)} | {wrong(token, now)}
    assert not any(code in row.detail for row in rows for code in codes)


def test_the_tenth_wrong_code_says_the_registration_is_locked(svc, customer, token, now) -> None:
    at = fail(svc, token, now, 9)
    with pytest.raises(GatewayError) as caught:
        register(svc, token, at, code=wrong(token, at))
    assert caught.value.code == "registration_locked"


def test_unlock_clears_the_customers_registration_lock(svc, customer, token, now) -> None:
    at = fail(svc, token, now, 10)
    cu.unlock_customer(svc, "0001", "1000000001")
    row = customer_row(svc)
    assert (row.registration_failures, row.registration_failed_at, row.registration_locked_at) == (0, None, None)
    assert register(svc, token, at).state == "active"


def test_a_success_clears_the_count(svc, customer, token, now) -> None:
    at = fail(svc, token, now, 3)
    register(svc, token, at)
    row = customer_row(svc)
    assert (row.registration_failures, row.registration_failed_at, row.registration_locked_at) == (0, None, None)


@pytest.mark.parametrize("state", ["unknown", "bound", "locked", "revoked"])
def test_an_unusable_token_counts_against_the_customer_and_touches_nothing(svc, customer, make_customer, mint, token,
                                                                          now, state) -> None:
    other = mint()
    if state == "bound":
        make_customer(contract_id="1000000002")
        register(svc, other, now - dt.timedelta(minutes=5), contract_id="1000000002")
    elif state in ("locked", "revoked"):
        values = {"locked_at": now - dt.timedelta(hours=1)} if state == "locked" else {"state": "revoked"}
        with svc.db.transaction() as session:
            session.execute(update(Credential).where(Credential.credential_id == other.credential_id).values(**values))
    before = credential_row(svc, other.credential_id)
    token_id = "SYMC00000000" if state == "unknown" else other.credential_id
    with pytest.raises(GatewayError):
        register(svc, other, now, token_id=token_id)
    # The next try, with the customer's own token and its right code, waits like after a wrong code.
    with pytest.raises(Throttled):
        register(svc, token, now + dt.timedelta(seconds=0.5))
    after = credential_row(svc, other.credential_id)
    assert (after.failure_count, after.last_failure_at) == (before.failure_count, before.last_failure_at)


def test_an_unknown_token_is_still_reported_as_such(svc, customer, token, now) -> None:
    """The service keeps telling its callers (the bank's own API) what was wrong; the pages say less."""
    with pytest.raises(UnknownToken):
        register(svc, token, now, token_id="SYMC00000000")


def test_two_wrong_codes_at_resync_count_against_the_customer(svc, customer, make_customer, token, now) -> None:
    make_customer(contract_id="1000000002")
    at = now
    for _ in range(10):
        with pytest.raises(GatewayError):
            register(svc, token, at, code=token.code(at, 5), otp2=token.code(at, 8))  # not consecutive
        at += dt.timedelta(minutes=10)
    row = credential_row(svc, token.credential_id)
    assert (row.failure_count, row.locked_at) == (0, None)
    assert customer_row(svc).registration_locked_at is not None
    assert register(svc, token, at, contract_id="1000000002").state == "active"
