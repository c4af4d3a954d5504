"""`otp-gateway bank …` and `otp-gateway customer …`: effects checked through the services.

Their bad inputs are swept in test_cli.py (BAD_INPUT).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.domain.errors import AuthenticationFailed, CustomerLocked
from gateway.services import Client, Services
from gateway.services import banks as bank_service
from gateway.services import customers as customer_service
from tests.cli.support import Run

pytestmark = pytest.mark.db


def test_bank_add_then_list(run: Run) -> None:
    added = run("bank", "add", "0042", "--name", "さくら信用組合", "--prefix", "skra", "--period", "60",
                "--digits", "8", "--algorithm", "sha256", "--colour", "#112233", "--logo-url",
                "https://ib.example.jp/logo.png", "--contact", "0120-111-222", "--service-id", "12345678", "--demo",
                "--removal-policy", "code", "--stop-cooloff", "12", "--reregister-delay-days", "2",
                "--embed-origin", "https://ib.example.jp", "--embed-origin", "https://sp.example.jp",
                "--return-url", "https://ib.example.jp/otp/done").stdout
    assert added.startswith("bank 0042 さくら信用組合 added: prefix SKRA, 60 s tokens, service ID 12345678, removal code")
    (listed,) = json.loads(run("bank", "list", "--json").stdout)
    assert listed == {
        "code": "0042", "name": "さくら信用組合", "colour": "#112233", "logo_url": "https://ib.example.jp/logo.png",
        "contact": "0120-111-222", "token_prefix": "SKRA", "token_period": 60, "token_digits": 8,
        "token_algorithm": "SHA256", "service_id": "12345678", "is_demo": True, "removal_policy": "code",
        "stop_cooloff_hours": 12, "reregister_delay_days": 2,
        "embed_origins": ["https://ib.example.jp", "https://sp.example.jp"],
        "return_urls": ["https://ib.example.jp/otp/done"],
    }


def test_api_key_is_the_last_line_and_can_be_revoked(run: Run, svc: Services, make_bank) -> None:
    make_bank("0042")
    made = run("bank", "api-key", "0042", "--label", "core banking").lines
    key = made[-1]
    assert bank_service.bank_for_api_key(svc, key).code == "0042"
    assert key[:12] in made[0] and "shown only now" in made[0]
    other = bank_service.create_api_key(svc, "0042")

    assert run("bank", "revoke-key", "0042", key[:12]).stdout.strip() == "revoked 1 key(s) of bank 0042"
    assert bank_service.bank_for_api_key(svc, key) is None
    assert bank_service.bank_for_api_key(svc, other) is not None
    run("bank", "revoke-key", "0042", other)  # a whole key works too
    assert bank_service.bank_for_api_key(svc, other) is None


def test_customer_add_show_and_unlock(run: Run, svc: Services, make_bank) -> None:
    make_bank("0042")
    run("customer", "add", "0042", "1234567890", "--password", "secret-pass1", "--confirmation-password",
        "kakunin99", "--email", "taro@example.jp")
    # Passwords left out are asked for, hidden, each twice.
    prompted = run("customer", "add", "0042", "１２３４５", input="typed-pass1\ntyped-pass1\nkakunin77\nkakunin77\n")
    assert prompted.stdout.strip().endswith("customer 12345 added to bank 0042")
    customer_service.authenticate(svc, "0042", "12345", "typed-pass1", Client())
    customer_service.confirm(svc, "0042", "12345", "kakunin77", Client())

    for _ in range(svc.policy.password_max_failures):
        with pytest.raises(AuthenticationFailed):
            customer_service.authenticate(svc, "0042", "1234567890", "wrong-pass", Client())
    shown = json.loads(run("customer", "show", "0042", "1234567890", "--json").stdout)
    assert shown == {
        "bank": "0042", "contract_id": "1234567890", "email": "taro@example.jp", "otp_status": "none",
        "locked": True, "password_failures": 5, "released_on": None, "reregister_from": None,
        "token_id": None, "token_state": None, "otp_removed_at": None, "otp_removed_recently": False,
    }
    with pytest.raises(CustomerLocked):
        customer_service.authenticate(svc, "0042", "1234567890", "secret-pass1", Client())
    assert run("customer", "unlock", "0042", "1234567890").stdout.strip() == "customer 1234567890 of bank 0042 unlocked"
    customer_service.authenticate(svc, "0042", "1234567890", "secret-pass1", Client())


def test_customer_import_reports_every_row(run: Run, svc: Services, make_bank, tmp_path: Path) -> None:
    make_bank("0042")
    rows = tmp_path / "customers.csv"
    rows.write_text("contract_id,password,confirmation_password,email\n"
                    "1000000001,secret-pass1,kakunin99,a@example.jp\n"
                    "bad id,secret-pass1,kakunin99,\n"
                    "1000000002,short,kakunin99,\n"
                    "1000000001,secret-pass1,kakunin99,\n"
                    "1000000003,secret-pass1,,\n", encoding="utf-8")
    result = run("customer", "import", "0042", str(rows), ok=False)
    assert result.lines == [
        "line 2: 1000000001: added",
        "line 3: bad id: invalid contract id: 1–32 letters and digits",
        "line 4: 1000000002: invalid password: 6–32 printable ASCII characters, no spaces",
        "line 5: 1000000001: that contract ID exists in this bank: 1000000001",
        "line 6: 1000000003: added",
        "2 added, 3 failed",
    ]
    assert result.error() == "error: 3 row(s) not imported"
    assert customer_service.show_customer(svc, "0042", "1000000001").email == "a@example.jp"
    customer_service.authenticate(svc, "0042", "1000000003", "secret-pass1", Client())
    assert "secret-pass1" not in result.stdout + result.stderr  # passwords are never echoed

    headless = tmp_path / "no-header.csv"
    headless.write_text("1000000009,secret-pass1\n", encoding="utf-8")
    assert "the header lacks contract_id, password" in run("customer", "import", "0042", str(headless),
                                                            ok=False).error()
