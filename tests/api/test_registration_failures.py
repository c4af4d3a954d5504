"""`POST /customers/{contract_id}/credential`: wrong codes count against the customer, not the bank's token."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from gateway.services import credentials as cs

pytestmark = pytest.mark.db
T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_wrong_codes_throttle_then_lock_the_customer_and_unlock_clears_it(svc, call, bank_a, audit_rows) -> None:
    spare = bank_a.spare
    call(bank_a, "PUT", "/customers/3000000010", json={"password": "pass1234"})
    path = "/customers/3000000010/credential"
    with time_machine.travel(T0, tick=False) as clock:
        first = call(bank_a, "POST", path, json={"credential_id": spare.credential_id, "otp": wrong(spare.code(T0))})
        assert first.status_code == 422 and first.get_json()["reason"] == "invalid_code"
        clock.shift(0.5)
        throttled = call(bank_a, "POST", path, json={"credential_id": spare.credential_id, "otp": spare.code(T0)})
        assert throttled.status_code == 422 and throttled.get_json()["type"] == "/problems/code-rejected"
        assert throttled.get_json()["reason"] == "throttled" and throttled.get_json()["retry_after"] == 0.5
        assert throttled.headers["Retry-After"] == "1"
        clock.shift(0.5)
        for failure in range(2, 11):
            now = dt.datetime.now(dt.UTC)
            response = call(bank_a, "POST", path, json={"credential_id": spare.credential_id,
                                                        "otp": wrong(spare.code(now))})
            assert response.status_code == 422 and response.get_json()["type"] == "/problems/code-rejected"
            clock.shift(2 ** (failure - 1))
        assert response.get_json()["reason"] == "registration_locked"
        now = dt.datetime.now(dt.UTC)
        locked = call(bank_a, "POST", path, json={"credential_id": spare.credential_id, "otp": spare.code(now)})
        assert locked.status_code == 422 and locked.get_json()["reason"] == "registration_locked"
        view = cs.get_credential(svc, spare.credential_id)
        assert (view.state, view.failure_count) == ("available", 0)

        assert call(bank_a, "POST", "/customers/3000000010/unlock").status_code == 200
        clock.shift(30)
        now = dt.datetime.now(dt.UTC)
        bound = call(bank_a, "POST", path, json={"credential_id": spare.credential_id, "otp": spare.code(now)})
    assert bound.status_code == 201, bound.get_json()
    assert all(row.actor == "api:0001" for row in audit_rows("credential.register")[-13:])
