"""Verification through the registry: window and drift, replay, throttle and lock, HOTP, RFC vectors."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from gateway.domain.errors import (
    CredentialLocked,
    InvalidCode,
    MalformedOtp,
    NotRegistered,
    OutOfSync,
    ReplayedCode,
    Throttled,
)
from gateway.services import credentials as cs
from gateway.services import customers as cu
from tests.conftest import VECTORS
from tests.services.conftest import CLIENT, credential_row, detail, page_verify, verify_with_key

pytestmark = pytest.mark.db
STEP = dt.timedelta(seconds=30)


def verify(svc, token, at, contract_id="1000000001", steps=0, code=None):  # type: ignore[no-untyped-def]
    return page_verify(svc, "0001", contract_id, token.code(at, steps) if code is None else code, CLIENT, now=at)


def test_the_code_used_to_register_fails_at_first_login(svc, customer, token, now) -> None:
    cs.register(svc, "0001", customer.contract_id, token.credential_id, token.code(now), CLIENT, now=now)
    with pytest.raises(ReplayedCode):
        verify(svc, token, now + dt.timedelta(seconds=5))


@pytest.mark.parametrize("skew", [-1, 0, 1])
def test_codes_one_step_either_side_are_accepted(svc, registered, now, skew) -> None:
    accepted = verify(svc, registered, now, steps=skew)
    assert accepted.drift == skew
    assert credential_row(svc, registered.credential_id).drift == skew


@pytest.mark.parametrize("skew", [-2, 2])
def test_codes_two_steps_off_are_out_of_sync_and_change_no_drift(svc, registered, now, skew, audit_rows) -> None:
    with pytest.raises(OutOfSync) as caught:
        verify(svc, registered, now, steps=skew)
    assert caught.value.offset_steps == skew
    row = credential_row(svc, registered.credential_id)
    assert row.drift == 0 and row.failure_count == 1
    assert detail(audit_rows("otp.verify")[-1]) == {"reason": "out_of_sync", "offset_steps": skew}


def test_recorded_drift_is_followed(svc, registered, now) -> None:
    verify(svc, registered, now, steps=1)  # the phone runs one step ahead
    later = now + 2 * STEP
    assert verify(svc, registered, later, steps=2).drift == 2  # +2 is inside the window around +1
    assert credential_row(svc, registered.credential_id).drift == 2


def test_same_code_twice_is_rejected_and_audited(svc, registered, now, audit_rows) -> None:
    verify(svc, registered, now)
    with pytest.raises(ReplayedCode):
        verify(svc, registered, now + dt.timedelta(seconds=3), code=registered.code(now))
    results = [row.result for row in audit_rows("otp.verify")]
    assert results == ["ok", "replayed_code"]


def test_older_step_after_newer_is_rejected(svc, registered, now) -> None:
    verify(svc, registered, now, steps=1)
    with pytest.raises(ReplayedCode):
        verify(svc, registered, now + dt.timedelta(seconds=2), code=registered.code(now))


def test_wrong_codes_throttle_then_lock_at_ten(svc, registered, now) -> None:
    at = now
    for failure in range(1, 11):
        if failure > 1:
            with pytest.raises(Throttled) as throttled:  # too soon after the last failure: not looked at
                verify(svc, registered, at + dt.timedelta(milliseconds=100), code="000000")
            assert throttled.value.retry_after == pytest.approx(2 ** (failure - 2) - 0.1, abs=0.01)
            at += dt.timedelta(seconds=2 ** (failure - 2))
        expected = CredentialLocked if failure == 10 else InvalidCode
        with pytest.raises(expected):
            verify(svc, registered, at, code=_wrong(registered, at))
        assert credential_row(svc, registered.credential_id).failure_count == failure
    # Locked: even the right code is refused, and stays refused.
    later = at + dt.timedelta(hours=1)
    with pytest.raises(CredentialLocked):
        verify(svc, registered, later)
    assert cu.show_customer(svc, "0001", "1000000001").token_state == "locked"
    cu.unlock_customer(svc, "0001", "1000000001")
    assert verify(svc, registered, later)
    assert credential_row(svc, registered.credential_id).failure_count == 0


def test_success_resets_the_failure_count(svc, registered, now) -> None:
    for i in range(3):
        at = now + dt.timedelta(seconds=10 * i)
        with pytest.raises(InvalidCode):
            verify(svc, registered, at, code=_wrong(registered, at))
    assert credential_row(svc, registered.credential_id).failure_count == 3
    verify(svc, registered, now + dt.timedelta(seconds=60))
    row = credential_row(svc, registered.credential_id)
    assert row.failure_count == 0 and row.last_failure_at is None


def test_failures_count_against_that_credential_only(svc, registered, make_customer, mint, now) -> None:
    make_customer(contract_id="1000000002")
    bystander = mint()
    before = now - STEP
    cs.register(svc, "0001", "1000000002", bystander.credential_id, bystander.code(before), CLIENT, now=before)
    with pytest.raises(InvalidCode):
        verify(svc, registered, now, code=_wrong(registered, now))
    assert credential_row(svc, registered.credential_id).failure_count == 1
    assert credential_row(svc, bystander.credential_id).failure_count == 0
    assert verify(svc, bystander, now, contract_id="1000000002")


def test_malformed_codes_change_nothing(svc, registered, now, audit_rows) -> None:
    before = len(audit_rows())
    for bad in ["12345", "abcdef", "1234567", ""]:
        with pytest.raises(MalformedOtp):
            verify(svc, registered, now, code=bad)
    assert credential_row(svc, registered.credential_id).failure_count == 0
    assert len(audit_rows()) == before


def test_unknown_customer_and_no_token_are_not_registered(svc, customer, now, audit_rows) -> None:
    for contract_id in ("1000000001", "9999999999"):
        with pytest.raises(NotRegistered):
            page_verify(svc, "0001", contract_id, "123456", CLIENT, now=now)
    assert [r.result for r in audit_rows("otp.verify")] == ["not_registered", "not_registered"]


def test_full_width_digits_verify(svc, registered, now) -> None:
    wide = registered.code(now).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert verify(svc, registered, now, code=wide)


def test_hotp_credentials_look_ahead_and_advance(svc, bank, make_customer, add_credential, now) -> None:
    make_customer()
    hotp = add_credential("HOTP0001", b"12345678901234567890", kind="hotp")
    codes = ["755224", "287082", "359152", "969429", "338314", "254676"]
    cs.register(svc, "0001", "1000000001", "HOTP0001", codes[0], CLIENT, now=now)
    assert credential_row(svc, hotp.credential_id).counter == 1
    assert page_verify(svc, "0001", "1000000001", codes[4], CLIENT, now=now).step == 4  # skipped 1–3
    assert credential_row(svc, hotp.credential_id).counter == 5
    with pytest.raises(ReplayedCode):
        page_verify(svc, "0001", "1000000001", codes[2], CLIENT, now=now)


def _rfc6238_rows() -> list[tuple[int, str, str, str]]:
    lines = (VECTORS / "rfc6238-appendix-b-test-vectors.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Machine-readable"))
    rows = [line.split(",") for line in lines[start + 1:] if line[:1].isdigit()]
    return [(int(t), code, mode, seed) for t, _, code, mode, seed in rows]


@pytest.mark.parametrize(("time_s", "code", "mode", "seed"), _rfc6238_rows())
def test_rfc6238_vectors_through_the_registry_with_a_frozen_clock(
    svc, bank, make_customer, add_credential, time_s, code, mode, seed
) -> None:
    make_customer()
    add_credential(f"RFC{mode}", seed.encode(), algorithm=mode, digits=8)
    with time_machine.travel(dt.datetime.fromtimestamp(time_s, dt.UTC), tick=False):
        view = cs.register(svc, "0001", "1000000001", f"RFC{mode}", code, CLIENT)
        assert view.state == "active"
        with pytest.raises(ReplayedCode):
            page_verify(svc, "0001", "1000000001", code, CLIENT)


def _wrong(token, at) -> str:  # type: ignore[no-untyped-def]
    """A code that matches no step within ±10 (so it is plainly wrong, not out of sync)."""
    near = {token.code(at, s) for s in range(-12, 13)}
    return next(c for c in (f"{n:06d}" for n in range(0, 999999, 7919)) if c not in near)


# --- the partner API's verify: the key names the bank, in the same lookup ---------------------------------
def test_verify_with_key_scopes_to_the_keys_bank_and_audits_the_bank(svc, registered, now, make_bank,
                                                                      make_customer, audit_rows) -> None:
    from gateway.services import banks
    from gateway.services.verification import Accepted

    own = banks.hash_api_key(banks.create_api_key(svc, "0001"))
    make_bank("0002", "他行")
    make_customer("0002", "1000000001")  # the same contract ID at another bank
    other = banks.hash_api_key(banks.create_api_key(svc, "0002"))

    found = verify_with_key(svc, other, "1000000001", registered.code(now), CLIENT, now=now)
    assert found.bank_code == "0002" and isinstance(found.outcome, NotRegistered)
    found = verify_with_key(svc, own, "1000000001", registered.code(now), CLIENT, now=now)
    assert found.bank_code == "0001" and isinstance(found.outcome, Accepted)
    found = verify_with_key(svc, own, "1000000001", registered.code(now), CLIENT, now=now)
    assert isinstance(found.outcome, ReplayedCode)
    assert isinstance(verify_with_key(svc, own, "9999999999", "123456", CLIENT, now=now).outcome, NotRegistered)
    rows = audit_rows("otp.verify")
    assert [(r.actor, r.bank_code, r.result) for r in rows] == [
        ("api:0002", "0002", "not_registered"), ("api:0001", "0001", "ok"), ("api:0001", "0001", "replayed_code"),
        ("api:0001", "0001", "not_registered")]

    with pytest.raises(MalformedOtp):  # checked against the credential's length before anything is counted
        verify_with_key(svc, own, "1000000001", "12ab56", CLIENT, now=now)
    assert credential_row(svc, registered.credential_id).failure_count == 1  # the replay, nothing more

    banks.revoke_api_key(svc, "0001", "ogw_")
    for key_hash in (own, banks.hash_api_key("ogw_never-issued")):  # a key that is not live finds nothing
        found = verify_with_key(svc, key_hash, "1000000001", registered.code(now, 1), CLIENT, now=now)
        assert (found.bank_code, found.outcome) == (None, None)
    assert len(audit_rows("otp.verify")) == 4  # an unknown key writes nothing
