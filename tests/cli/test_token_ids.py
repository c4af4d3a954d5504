"""`otp-gateway token code|unlock` when two banks hold one token ID, and `customer unlock` after wrong codes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pyotp
import pytest
from sqlalchemy import select

from gateway.domain.errors import GatewayError
from gateway.services import Services
from gateway.services import credentials as credential_service
from gateway.services.imports import import_pskc
from gateway.storage.models import Customer
from tests.cli.support import Run
from tests.services.conftest import CLIENT
from tests.services.test_pskc_import import container, package

pytestmark = pytest.mark.db
SERIAL = "VND123456"


def near(secret: bytes) -> set[str]:
    totp = pyotp.TOTP(base64.b32encode(secret).decode())
    now = dt.datetime.now(dt.UTC).timestamp()
    return {totp.at(now + steps * 30) for steps in (-1, 0, 1)}


@pytest.fixture
def shared_id(svc: Services, make_bank) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    make_bank("0001", prefix="SYMC")
    make_bank("0002", "別の信用組合", prefix="OTHR")
    secrets = hashlib.sha1(b"a").digest(), hashlib.sha1(b"b").digest()
    for bank_code, secret in zip(("0001", "0002"), secrets, strict=True):
        import_pskc(svc, bank_code, container(package(SERIAL, secret)))
    return secrets


def test_token_code_of_an_id_two_banks_hold_asks_which(run: Run, shared_id: tuple[bytes, bytes]) -> None:
    assert run("token", "code", SERIAL, ok=False).error() == (
        f"error: token ID {SERIAL} is held by banks 0001 and 0002: choose one with --bank CODE")
    assert run("token", "code", SERIAL, "--bank", "0002").stdout.split()[0] in near(shared_id[1])
    assert run("token", "code", SERIAL.lower(), "--bank", "0001").stdout.split()[0] in near(shared_id[0])
    assert run("token", "code", "VND000000", "--bank", "0001", ok=False).error() == "error: unknown token ID: VND000000"


def test_token_unlock_of_an_id_two_banks_hold_asks_which(run: Run, shared_id: tuple[bytes, bytes]) -> None:
    assert run("token", "unlock", SERIAL, ok=False).error() == (
        f"error: token ID {SERIAL} is held by banks 0001 and 0002: choose one with --bank CODE")
    assert run("token", "unlock", SERIAL, "--bank", "0002").stdout.strip() == (
        f"token {SERIAL} unlocked (available)")


def test_customer_unlock_clears_the_registration_lock(run: Run, svc: Services, make_bank, make_customer,
                                                       mint) -> None:  # type: ignore[no-untyped-def]
    make_bank("0001")
    make_customer()
    token = mint()
    at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for failure in range(1, 11):
        with pytest.raises(GatewayError):
            credential_service.register(svc, "0001", "1000000001", token.credential_id, "000000"
                                        if token.code(at) != "000000" else "111111", CLIENT, now=at)
        at += dt.timedelta(seconds=2 ** (failure - 1))
    run("customer", "unlock", "0001", "1000000001")
    with svc.db.reading() as session:
        row = session.scalar(select(Customer).where(Customer.contract_id == "1000000001"))
    assert (row.registration_failures, row.registration_locked_at) == (0, None)
    assert credential_service.register(svc, "0001", "1000000001", token.credential_id, token.code(), CLIENT).state == (
        "active")
