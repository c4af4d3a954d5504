"""Customers: argon2id passwords, one answer for unknown ID and wrong password, lockout, unlock."""

from __future__ import annotations

import pytest
from passlib.context import CryptContext
from sqlalchemy import select, update

from gateway import passwords
from gateway.domain.errors import (
    AuthenticationFailed,
    ConfirmationPasswordFailed,
    CustomerExists,
    CustomerLocked,
    InvalidInput,
)
from gateway.services import customers as cu
from gateway.storage.models import Customer
from tests.conftest import CONFIRMATION, PASSWORD
from tests.services.conftest import CLIENT

pytestmark = pytest.mark.db


def stored(svc, contract_id="1000000001") -> Customer:  # type: ignore[no-untyped-def]
    with svc.db.transaction() as session:
        return session.scalar(select(Customer).where(Customer.contract_id == contract_id))


def test_passwords_are_argon2id_at_owasp_cost(svc, customer) -> None:
    row = stored(svc)
    for value in (row.login_password_hash, row.confirmation_password_hash):
        assert value.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert PASSWORD not in value and CONFIRMATION not in value


def test_right_password(svc, customer) -> None:
    assert cu.authenticate(svc, "0001", "1000000001", PASSWORD, CLIENT).contract_id == "1000000001"
    assert cu.authenticate(svc, "0001", "１０００００００01", PASSWORD, CLIENT)  # full-width digits


@pytest.mark.parametrize(
    ("contract_id", "password"),
    [("1000000001", "wrong-password"), ("1999999999", PASSWORD), ("", PASSWORD), ("<script>", PASSWORD)],
)
def test_unknown_id_and_wrong_password_look_the_same(svc, customer, monkeypatch, contract_id, password) -> None:
    calls = []
    real_verify = passwords._context.verify_and_update
    real_dummy = passwords._context.verify
    monkeypatch.setattr(passwords._context, "verify_and_update", lambda *a: calls.append("hash") or real_verify(*a))
    monkeypatch.setattr(passwords._context, "verify", lambda *a: calls.append("hash") or real_dummy(*a))
    with pytest.raises(AuthenticationFailed) as caught:
        cu.authenticate(svc, "0001", contract_id, password, CLIENT)
    assert str(caught.value) == "authentication_failed"
    assert calls == ["hash"]  # one argon2 verification either way: same cost, same answer


def test_five_wrong_passwords_lock_and_only_the_right_one_is_told(svc, customer, audit_rows) -> None:
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            cu.authenticate(svc, "0001", "1000000001", "wrong-password", CLIENT)
    assert stored(svc).locked_at is not None
    with pytest.raises(AuthenticationFailed):  # a stranger learns nothing from the lock
        cu.authenticate(svc, "0001", "1000000001", "wrong-password", CLIENT)
    with pytest.raises(CustomerLocked):
        cu.authenticate(svc, "0001", "1000000001", PASSWORD, CLIENT)
    assert [r.result for r in audit_rows("login.password")][-3:] == ["locked_now", "locked", "locked"]
    cu.unlock_customer(svc, "0001", "1000000001")
    assert cu.authenticate(svc, "0001", "1000000001", PASSWORD, CLIENT)


def test_a_success_resets_the_password_count(svc, customer) -> None:
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            cu.authenticate(svc, "0001", "1000000001", "wrong-password", CLIENT)
    cu.authenticate(svc, "0001", "1000000001", PASSWORD, CLIENT)
    assert stored(svc).password_failures == 0


def test_confirmation_password_failures_count_toward_the_lock(svc, customer) -> None:
    for _ in range(5):
        with pytest.raises(ConfirmationPasswordFailed):
            cu.confirm(svc, "0001", "1000000001", "wrongconf1", CLIENT)
    with pytest.raises(CustomerLocked):
        cu.authenticate(svc, "0001", "1000000001", PASSWORD, CLIENT)


def test_old_parameters_are_rehashed_at_login(svc, customer) -> None:
    weak = CryptContext(schemes=["argon2"], argon2__type="ID", argon2__memory_cost=8192, argon2__rounds=1)
    with svc.db.transaction() as session:
        session.execute(update(Customer).values(login_password_hash=weak.hash(PASSWORD)))
    cu.authenticate(svc, "0001", "1000000001", PASSWORD, CLIENT)
    assert stored(svc).login_password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_contract_ids_are_unique_per_bank(svc, make_bank, make_customer) -> None:
    make_bank("0001")
    make_bank("0002", "別の信用組合", prefix="OTHR")
    make_customer("0001", "1000000001")
    make_customer("0002", "1000000001")
    with pytest.raises(CustomerExists):
        make_customer("0001", "1000000001")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"contract_id": "10000-0001"}, "contract_id"),
        ({"password": "short"}, "password"),
        ({"confirmation_password": "conf 1234"}, "confirmation_password"),
        ({"confirmation_password": "abc12"}, "confirmation_password"),
        ({"email": "no-at-sign"}, "email"),
    ],
)
def test_bad_customer_input_is_refused(svc, bank, make_customer, kwargs, field) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_customer(**kwargs)
    assert caught.value.field == field


def test_revoking_a_key_treats_underscores_literally(svc, bank) -> None:
    from gateway.services import banks as bank_service

    keys = [bank_service.create_api_key(svc, "0001") for _ in range(3)]
    target = next(k for k in keys if k[5] != "_")
    # With "_" in place of one character: as a LIKE wildcard it would match `target`; literally it does not.
    assert bank_service.revoke_api_key(svc, "0001", target[:5] + "_" + target[6:12]) == 0
    assert bank_service.revoke_api_key(svc, "0001", target[:12]) == 1
    assert bank_service.bank_for_api_key(svc, target) is None
    assert all(bank_service.bank_for_api_key(svc, k) is not None for k in keys if k != target)
