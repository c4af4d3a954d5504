"""Token IDs are unique per bank: an import never tells one bank what another holds, nor takes its prefix."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pyotp
import pytest
from sqlalchemy import select

from gateway.domain.errors import GatewayError, UnknownToken
from gateway.services import credentials as cs
from gateway.services.imports import import_pskc
from gateway.storage.models import Bank, Credential
from tests.services.conftest import CLIENT, page_verify
from tests.services.test_pskc_import import container, outcomes, package

pytestmark = pytest.mark.db
SERIAL = "VND123456"


def totp(secret: bytes) -> pyotp.TOTP:
    return pyotp.TOTP(base64.b32encode(secret).decode())


def rows(svc, token_id: str) -> dict[str, Credential]:  # type: ignore[no-untyped-def]
    with svc.db.reading() as session:
        found = session.execute(select(Credential, Bank.code).join(Bank, Credential.bank_id == Bank.id)
                                .where(Credential.credential_id == token_id)).all()
        return {code: cred for cred, code in found}


@pytest.fixture
def two_banks(svc, bank, make_bank, make_customer):  # type: ignore[no-untyped-def]
    make_bank("0002", "別の信用組合", prefix="OTHR")
    make_customer("0001", "1000000001")
    make_customer("0002", "2000000001")


def test_an_id_another_bank_holds_imports_as_a_free_one_and_each_bank_verifies_its_own(svc, two_banks, now) -> None:
    secret_a, secret_b = hashlib.sha1(b"a").digest(), hashlib.sha1(b"b").digest()
    assert outcomes(import_pskc(svc, "0002", container(package(SERIAL, secret_b)))) == [(SERIAL, None)]
    report = import_pskc(svc, "0001", container(package(SERIAL, secret_a)))
    assert outcomes(report) == [(SERIAL, None)] and report.imported == 1
    assert set(rows(svc, SERIAL)) == {"0001", "0002"}
    at = now
    for bank_code, contract_id, secret in (("0001", "1000000001", secret_a), ("0002", "2000000001", secret_b)):
        view = cs.register(svc, bank_code, contract_id, SERIAL, totp(secret).at(at), CLIENT, now=at)
        assert (view.bank_code, view.state) == (bank_code, "active")
    later = at + dt.timedelta(seconds=30)
    assert page_verify(svc, "0001", "1000000001", totp(secret_a).at(later), CLIENT, now=later).credential_id == SERIAL
    assert page_verify(svc, "0002", "2000000001", totp(secret_b).at(later), CLIENT, now=later).credential_id == SERIAL
    with pytest.raises(GatewayError):  # the other bank's secret is not this bank's token
        page_verify(svc, "0001", "1000000001", totp(secret_b).at(later + dt.timedelta(seconds=30)), CLIENT,
                  now=later + dt.timedelta(seconds=30))


def test_an_id_already_in_the_same_bank_stays_a_duplicate(svc, two_banks) -> None:
    import_pskc(svc, "0001", container(package(SERIAL)))
    assert outcomes(import_pskc(svc, "0001", container(package(SERIAL)))) == [(SERIAL, "duplicate")]


def test_an_id_of_another_banks_minted_shape_is_refused(svc, two_banks) -> None:
    document = container(package("OTHR12345678"), package("othr-1234-5679"), package("SYMC12345678"),
                         package("OTHR1234567"), package("OTHRX2345678"))
    assert outcomes(import_pskc(svc, "0001", document)) == [
        ("OTHR12345678", "foreign_prefix"), ("OTHR12345679", "foreign_prefix"),
        ("SYMC12345678", None),  # the bank's own prefix
        ("OTHR1234567", None), ("OTHRX2345678", None),  # not in the minted shape: a vendor's serial
    ]
    assert outcomes(import_pskc(svc, "0002", container(package("OTHR12345678")))) == [("OTHR12345678", None)]


def test_minting_skips_an_id_any_bank_holds(svc, two_banks, add_credential, monkeypatch) -> None:
    add_credential("SYMC00000001", hashlib.sha1(b"old").digest(), bank_code="0002")  # e.g. imported long ago
    candidates = iter(["SYMC00000001", "SYMC00000002"])
    monkeypatch.setattr(cs, "mint_token_id", lambda prefix: next(candidates))
    assert cs.mint(svc, "0001")[0].credential_id == "SYMC00000002"


def test_operator_look_ups_name_the_banks_when_an_id_is_ambiguous(svc, two_banks) -> None:
    import_pskc(svc, "0001", container(package(SERIAL)))
    assert cs.get_credential(svc, SERIAL).bank_code == "0001"  # unique: as before
    import_pskc(svc, "0002", container(package(SERIAL)))
    for look_up in (cs.get_credential, cs.unlock_credential):
        with pytest.raises(GatewayError) as caught:
            look_up(svc, SERIAL)
        assert caught.value.code == "ambiguous_token" and caught.value.banks == ["0001", "0002"]
    assert cs.get_credential(svc, SERIAL, bank_code="0002").bank_code == "0002"
    assert cs.unlock_credential(svc, SERIAL, bank_code="0002").bank_code == "0002"
    with pytest.raises(UnknownToken):
        cs.get_credential(svc, "VND000000", bank_code="0002")


def test_demo_codes_of_one_id_in_two_demo_banks(svc, two_banks, now) -> None:
    import_pskc(svc, "0001", container(package(SERIAL, hashlib.sha1(b"a").digest())))
    import_pskc(svc, "0002", container(package(SERIAL, hashlib.sha1(b"b").digest())))
    (code_a,) = cs.demo_codes(svc, "0001", SERIAL, now=now)
    (code_b,) = cs.demo_codes(svc, "0002", SERIAL, now=now)
    assert code_a.code == totp(hashlib.sha1(b"a").digest()).at(now)
    assert code_b.code == totp(hashlib.sha1(b"b").digest()).at(now)
    with pytest.raises(GatewayError) as caught:
        cs.demo_codes(svc, token_id=SERIAL, now=now)
    assert caught.value.code == "ambiguous_token"
