"""Binding a token to a customer: proof of possession, one active credential, stop use, re-registration."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from gateway.domain.errors import (
    AlreadyRegistered,
    InvalidCode,
    MalformedTokenId,
    NotRegistered,
    RegistrationLocked,
    ReplayedCode,
    ReregistrationTooSoon,
    TokenAlreadyAssigned,
    TokenLocked,
    TokenRevoked,
    UnknownToken,
)
from gateway.services import credentials as cs
from gateway.services import customers as cu
from gateway.services import removal
from gateway.storage.models import Credential
from tests.services.conftest import CLIENT, credential_row, page_verify

pytestmark = pytest.mark.db
STEP = dt.timedelta(seconds=30)


def register(svc, token, at, contract_id="1000000001", token_id=None, code=None):  # type: ignore[no-untyped-def]
    return cs.register(svc, "0001", contract_id, token_id or token.credential_id,
                       token.code(at) if code is None else code, CLIENT, now=at)


def test_registration_binds_and_records_who_and_where(svc, customer, token, now, audit_rows) -> None:
    view = register(svc, token, now, token_id=f" {token.credential_id[:4].lower()}-{token.credential_id[4:]} ")
    assert view.state == "active" and view.contract_id == "1000000001"
    row = credential_row(svc, token.credential_id)
    assert row.bound_at == now and row.bound_ip == "192.0.2.10" and row.bound_user_agent == "pytest-browser/1.0"
    shown = cu.show_customer(svc, "0001", "1000000001")
    assert shown.otp_status == "active"
    assert shown.masked_token_id == token.credential_id[:4] + "****" + token.credential_id[-4:]
    assert audit_rows("credential.register")[-1].result == "ok"


def test_unknown_token(svc, customer, token, now) -> None:
    with pytest.raises(UnknownToken):
        register(svc, token, now, token_id="SYMC00000000" if token.credential_id != "SYMC00000000" else "SYMC00000001")


def test_token_of_another_bank_is_unknown(svc, customer, make_bank, mint, now) -> None:
    make_bank("0002", "別の信用組合", prefix="OTHR")
    foreign = mint("0002")
    with pytest.raises(UnknownToken):
        register(svc, foreign, now)


def test_malformed_token_id_is_a_form_error_not_a_lookup(svc, customer, token, now, audit_rows) -> None:
    before = len(audit_rows())
    with pytest.raises(MalformedTokenId):
        register(svc, token, now, token_id="SYMC-1234-567$")
    assert len(audit_rows()) == before


def test_token_already_assigned(svc, customer, make_customer, token, now) -> None:
    register(svc, token, now)
    make_customer(contract_id="1000000002")
    with pytest.raises(TokenAlreadyAssigned):
        register(svc, token, now + STEP, contract_id="1000000002")


def test_customer_with_an_active_token_gets_no_second(svc, customer, token, mint, now) -> None:
    register(svc, token, now)
    second = mint()
    with pytest.raises(AlreadyRegistered):
        register(svc, second, now + STEP, token_id=second.credential_id)
    assert credential_row(svc, second.credential_id).state == "available"


def test_wrong_codes_at_registration_count_and_lock_the_customer_not_the_token(svc, customer, token, now) -> None:
    at = now
    for failure in range(1, 11):
        with pytest.raises(RegistrationLocked if failure == 10 else InvalidCode):
            register(svc, token, at, code="000000" if token.code(at) != "000000" else "111111")
        at += dt.timedelta(seconds=2 ** failure)
    with pytest.raises(RegistrationLocked):
        register(svc, token, at)
    row = credential_row(svc, token.credential_id)
    assert (row.failure_count, row.locked_at) == (0, None)
    cu.unlock_customer(svc, "0001", "1000000001")
    assert register(svc, token, at).state == "active"


def test_a_locked_token_is_refused(svc, customer, token, now) -> None:
    with svc.db.transaction() as session:  # as if ten wrong codes at login had locked it (before a stop)
        session.execute(update(Credential).where(Credential.credential_id == token.credential_id)
                        .values(failure_count=10, locked_at=now))
    with pytest.raises(TokenLocked):
        register(svc, token, now)
    cs.unlock_credential(svc, token.credential_id)
    assert register(svc, token, now + dt.timedelta(seconds=1)).state == "active"


def test_stop_use_revokes_at_once_and_next_login_needs_no_code(svc, customer, token, now) -> None:
    register(svc, token, now)
    stopped = removal.stop_use(svc, "0001", "1000000001", CLIENT, via=removal.API, now=now + STEP)
    assert stopped.state == "revoked"
    with pytest.raises(NotRegistered):
        page_verify(svc, "0001", "1000000001", token.code(now + 2 * STEP), CLIENT, now=now + 2 * STEP)
    shown = cu.show_customer(svc, "0001", "1000000001")
    assert shown.otp_status == "released" and shown.token_id is None
    with pytest.raises(TokenRevoked):  # a revoked token is never bound again
        register(svc, token, now + dt.timedelta(days=3))


def test_stop_use_with_a_code_checks_it_first(svc, customer, token, now) -> None:
    register(svc, token, now)
    with pytest.raises(ReplayedCode):
        removal.stop_use(svc, "0001", "1000000001", CLIENT, via=removal.API, otp=token.code(now), now=now + dt.timedelta(seconds=5))
    assert credential_row(svc, token.credential_id).state == "active"
    removal.stop_use(svc, "0001", "1000000001", CLIENT, via=removal.API, otp=token.code(now + STEP), now=now + STEP)
    assert credential_row(svc, token.credential_id).state == "revoked"


@pytest.mark.parametrize(
    ("stop_at_jst", "retry_at_jst", "allowed"),
    [
        ("2026-11-23T10:00", "2026-11-23T23:59", False),
        ("2026-11-23T10:00", "2026-11-24T00:00", True),
        ("2026-11-23T23:59", "2026-11-24T00:01", True),  # next calendar day in Tokyo, not 24 hours
        ("2026-11-24T00:30", "2026-11-24T23:00", False),  # 15:30 UTC the day before: Tokyo's date counts
    ],
)
def test_reregistration_waits_for_the_next_day_in_tokyo(
    svc, customer, token, mint, stop_at_jst, retry_at_jst, allowed
) -> None:
    jst = dt.timezone(dt.timedelta(hours=9))
    stop_at = dt.datetime.fromisoformat(stop_at_jst).replace(tzinfo=jst)
    retry_at = dt.datetime.fromisoformat(retry_at_jst).replace(tzinfo=jst)
    register(svc, token, stop_at - dt.timedelta(minutes=5))
    removal.stop_use(svc, "0001", "1000000001", CLIENT, via=removal.API, now=stop_at)
    fresh = mint()
    if allowed:
        assert register(svc, fresh, retry_at).state == "active"
    else:
        with pytest.raises(ReregistrationTooSoon) as caught:
            register(svc, fresh, retry_at)
        assert caught.value.allowed_on == stop_at.date() + dt.timedelta(days=1)


def test_reregistration_delay_is_a_bank_setting(svc, make_bank, make_customer, mint, now) -> None:
    make_bank("0009", "即日再登録銀行", prefix="SAME", reregister_delay_days=0)
    make_customer(bank_code="0009")
    first, second = mint("0009"), mint("0009")
    cs.register(svc, "0009", "1000000001", first.credential_id, first.code(now), CLIENT, now=now)
    removal.stop_use(svc, "0009", "1000000001", CLIENT, via=removal.API, now=now + STEP)
    view = cs.register(svc, "0009", "1000000001", second.credential_id, second.code(now + 2 * STEP), CLIENT,
                       now=now + 2 * STEP)
    assert view.state == "active"
