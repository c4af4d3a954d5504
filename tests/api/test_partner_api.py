"""Partner API calls beyond verify: customers, registration, stop use, unlock, resync, mint, import, events."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from sqlalchemy import select

from gateway.domain.errors import AuthenticationFailed
from gateway.services import Client
from gateway.services import credentials as cs
from gateway.services import customers as customer_service
from gateway.storage.models import AuditEvent
from tests.conftest import VECTORS, token_from_uri

pytestmark = pytest.mark.db
PSKC = VECTORS / "pskc"
AES_KEY = "12345678901234567890123456789012"


def problem_type(response) -> str:  # type: ignore[no-untyped-def]
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == response.status_code
    return body["type"]


def all_audit_text(svc) -> str:  # type: ignore[no-untyped-def]
    with svc.db.reading() as session:
        rows = session.scalars(select(AuditEvent)).all()
        return "\n".join(json.dumps([r.event, r.actor, r.result, r.detail, r.contract_id, r.credential_id])
                         for r in rows)


# --- GET /customers/{contract_id} -------------------------------------------------------------------
def test_get_customer_shows_status_and_a_masked_token_id(call, bank_a) -> None:
    response = call(bank_a, "GET", "/customers/1000000001")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    token_id = bank_a.registered.credential_id
    assert body == {
        "bank": "0001", "contract_id": "1000000001", "email": None, "status": "active", "password_failures": 0,
        "otp_status": "active", "token_id": f"{token_id[:4]}****{token_id[-4:]}", "token_state": "active",
        "released_on": None, "reregister_from": None, "otp_removed_at": None, "otp_removed_recently": False,
    }
    assert token_id not in response.get_data(as_text=True)


@pytest.mark.parametrize(("contract_id", "status", "kind"), [
    ("1999999999", 404, "/problems/unknown-customer"),
    ("12-34", 422, "/problems/invalid-input"),
    ("１０００００００００１", 422, "/problems/invalid-input"),
    ("x" * 33, 422, "/problems/invalid-input"),
])
def test_get_unknown_or_malformed_customer(call, bank_a, contract_id, status, kind) -> None:
    response = call(bank_a, "GET", f"/customers/{contract_id}")
    assert response.status_code == status and problem_type(response) == kind


# --- PUT /customers/{contract_id} -------------------------------------------------------------------
def test_put_creates_then_updates_a_customer(svc, call, bank_a, audit_rows) -> None:
    created = call(bank_a, "PUT", "/customers/3000000001",
                   json={"password": "Secret#99", "confirmation_password": "conf9999", "email": "hanako@example.jp"})
    assert created.status_code == 201 and created.headers["Location"].endswith("/api/v1/customers/3000000001")
    assert created.get_json()["email"] == "hanako@example.jp" and created.get_json()["otp_status"] == "none"
    client = Client(actor="customer")
    assert customer_service.authenticate(svc, "0001", "3000000001", "Secret#99", client).contract_id == "3000000001"

    updated = call(bank_a, "PUT", "/customers/3000000001", json={"password": "Other#123", "email": None})
    assert updated.status_code == 200 and updated.get_json()["email"] is None
    with pytest.raises(AuthenticationFailed):
        customer_service.authenticate(svc, "0001", "3000000001", "Secret#99", client)
    assert customer_service.authenticate(svc, "0001", "3000000001", "Other#123", client)

    add, update = audit_rows("customer.add")[-1], audit_rows("customer.update")[-1]
    assert (add.actor, add.bank_code, add.contract_id) == ("api:0001", "0001", "3000000001")
    assert json.loads(update.detail) == {"fields": ["password", "email"]}
    audit = all_audit_text(svc)
    for secret in ("Secret#99", "conf9999", "Other#123"):
        assert secret not in audit


def test_put_status_locks_and_unlocks_password_login(svc, call, bank_a) -> None:
    assert call(bank_a, "PUT", "/customers/1000000001", json={"status": "locked"}).get_json()["status"] == "locked"
    assert customer_service.show_customer(svc, "0001", "1000000001").locked
    body = call(bank_a, "PUT", "/customers/1000000001", json={"status": "active"}).get_json()
    assert body["status"] == "active" and body["password_failures"] == 0


@pytest.mark.parametrize(("body", "fields"), [
    ({}, ["password"]),  # a new customer needs a login password
    ({"password": "short"}, ["password"]),
    ({"password": 12345678}, ["password"]),
    ({"password": "pass1234", "confirmation_password": "has space"}, ["confirmation_password"]),
    ({"password": "pass1234", "email": "no-at-sign"}, ["email"]),
    ({"password": "pass1234", "email": "ta ro@example.jp"}, ["email"]),
    ({"password": "pass1234", "status": "frozen"}, ["status"]),
    ({"password": "pass1234", "otp_status": "active"}, ["otp_status"]),
])
def test_put_refuses_what_the_document_does_not_allow(call, bank_a, body, fields) -> None:
    response = call(bank_a, "PUT", "/customers/3000000002", json=body)
    assert response.status_code == 422 and problem_type(response) == "/problems/invalid-input"
    assert response.get_json()["fields"] == fields
    assert call(bank_a, "GET", "/customers/3000000002").status_code == 404


# --- POST/DELETE /customers/{contract_id}/credential --------------------------------------------------
def test_register_stop_and_register_again(svc, call, bank_a, audit_rows) -> None:
    call(bank_a, "PUT", "/customers/3000000003", json={"password": "pass1234"})
    spare = bank_a.spare
    wrong = "000000" if spare.code() != "000000" else "111111"
    rejected = call(bank_a, "POST", "/customers/3000000003/credential",
                    json={"credential_id": spare.credential_id, "otp": wrong})
    assert rejected.status_code == 422 and problem_type(rejected) == "/problems/code-rejected"
    assert rejected.get_json()["reason"] == "invalid_code"

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5), tick=False):
        response = call(bank_a, "POST", "/customers/3000000003/credential",
                        json={"credential_id": spare.credential_id.lower(), "otp": spare.code()})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["credential_id"] == spare.credential_id and body["state"] == "active"
    assert response.headers["Location"].endswith("/customers/3000000003")
    assert audit_rows("credential.register")[-1].actor == "api:0001"

    again = call(bank_a, "POST", "/customers/3000000003/credential",
                 json={"credential_id": spare.credential_id, "otp": spare.code()})
    assert again.status_code == 409 and problem_type(again) == "/problems/already-registered"

    stopped = call(bank_a, "DELETE", "/customers/3000000003/credential")
    assert stopped.status_code == 200
    assert stopped.get_json()["otp_status"] == "released" and stopped.get_json()["token_id"] is None
    assert stopped.get_json()["reregister_from"] is not None
    assert (audit_rows("credential.stop")[-1].actor, audit_rows("credential.stop")[-1].result) == ("api:0001", "ok")
    verify = call(bank_a, "POST", "/otp/verify", json={"contract_id": "3000000003", "otp": spare.code()})
    assert verify.get_json() == {"result": "not_registered"}

    twice = call(bank_a, "DELETE", "/customers/3000000003/credential")
    assert twice.status_code == 409 and problem_type(twice) == "/problems/not-registered"
    fresh = token_from_uri(cs.mint(svc, "0001")[0])
    too_soon = call(bank_a, "POST", "/customers/3000000003/credential",
                    json={"credential_id": fresh.credential_id, "otp": fresh.code()})
    assert too_soon.status_code == 409 and problem_type(too_soon) == "/problems/reregistration-too-soon"
    assert dt.date.fromisoformat(too_soon.get_json()["allowed_on"]) > dt.date.today() - dt.timedelta(days=1)


@pytest.mark.parametrize(("body", "status", "kind"), [
    ({"credential_id": "SYMC00000000", "otp": "123456"}, 422, "/problems/unknown-token"),
    # Typed as on the login page: looked up once normalised (tests/web/test_typed_input.py has the whole table).
    ({"credential_id": "symc-0000-0000", "otp": "１２３ ４５６"}, 422, "/problems/unknown-token"),
    ({"credential_id": "SYMC_0000_0000", "otp": "123456"}, 422, "/problems/invalid-input"),
    ({"credential_id": "SYMC00000000", "otp": "12345"}, 422, "/problems/invalid-input"),
    ({"credential_id": "SYMC00000000", "otp": "١٢٣٤٥٦"}, 422, "/problems/invalid-input"),
    ({"credential_id": "SYMC00000000"}, 422, "/problems/invalid-input"),
    ({"credential_id": "SYMC00000000", "otp": "123456", "otp2": "123456"}, 422, "/problems/invalid-input"),
])
def test_register_refusals(call, bank_a, body, status, kind) -> None:
    call(bank_a, "PUT", "/customers/3000000004", json={"password": "pass1234"})
    response = call(bank_a, "POST", "/customers/3000000004/credential", json=body)
    assert response.status_code == status and problem_type(response) == kind


def test_register_a_token_bound_to_someone_else_is_a_conflict(call, bank_a) -> None:
    call(bank_a, "PUT", "/customers/3000000005", json={"password": "pass1234"})
    taken = bank_a.registered
    response = call(bank_a, "POST", "/customers/3000000005/credential",
                    json={"credential_id": taken.credential_id, "otp": taken.code()})
    assert response.status_code == 409 and problem_type(response) == "/problems/token-already-assigned"


# --- unlock and resync --------------------------------------------------------------------------------
def test_unlock_clears_both_lockouts(call, bank_a, audit_rows) -> None:
    token = bank_a.registered
    wrong = "000000" if token.code() != "000000" else "111111"
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(10):
            call(bank_a, "POST", "/otp/verify", json={"contract_id": "1000000001", "otp": wrong})
            clock.shift(600)
        assert call(bank_a, "POST", "/otp/verify",
                    json={"contract_id": "1000000001", "otp": token.code()}).get_json()["result"] == "locked"
        call(bank_a, "PUT", "/customers/1000000001", json={"status": "locked"})
        customer = call(bank_a, "GET", "/customers/1000000001").get_json()
        assert (customer["status"], customer["token_state"]) == ("locked", "locked")

        unlocked = call(bank_a, "POST", "/customers/1000000001/unlock")
        assert unlocked.status_code == 200
        assert (unlocked.get_json()["status"], unlocked.get_json()["token_state"]) == ("active", "active")
        assert audit_rows("customer.unlock")[-1].actor == "api:0001"
        clock.shift(30)
        assert call(bank_a, "POST", "/otp/verify",
                    json={"contract_id": "1000000001", "otp": token.code()}).get_json()["result"] == "accepted"


def test_resync_recentres_the_drift(call, bank_a, audit_rows) -> None:
    token = bank_a.registered
    now = dt.datetime.now(dt.UTC)
    with time_machine.travel(now, tick=False) as clock:
        skewed = call(bank_a, "POST", "/otp/verify", json={"contract_id": "1000000001", "otp": token.code(now, 5)})
        assert skewed.get_json()["clock_skew_steps"] == 5
        throttled = call(bank_a, "POST", "/customers/1000000001/credential/resync",
                         json={"otp1": token.code(now, 5), "otp2": token.code(now, 6)})
        assert throttled.status_code == 422 and problem_type(throttled) == "/problems/code-rejected"
        assert throttled.get_json()["reason"] == "throttled" and int(throttled.headers["Retry-After"]) >= 1
        clock.shift(2)
        bad = call(bank_a, "POST", "/customers/1000000001/credential/resync",
                   json={"otp1": token.code(now, 5), "otp2": token.code(now, 7)})
        assert bad.status_code == 422 and problem_type(bad) == "/problems/resync-failed"
    later = now + dt.timedelta(seconds=10)
    with time_machine.travel(later, tick=False):
        response = call(bank_a, "POST", "/customers/1000000001/credential/resync",
                        json={"otp1": token.code(later, 5), "otp2": token.code(later, 6)})
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == {"credential_id": token.credential_id, "drift_steps": 6}
    assert audit_rows("credential.resync")[-1].actor == "api:0001"


def test_resync_without_a_token_is_a_conflict(call, bank_a) -> None:
    call(bank_a, "PUT", "/customers/3000000006", json={"password": "pass1234"})
    response = call(bank_a, "POST", "/customers/3000000006/credential/resync",
                    json={"otp1": "123456", "otp2": "234567"})
    assert response.status_code == 409 and problem_type(response) == "/problems/not-registered"


# --- POST /credentials, POST /credentials/import ---------------------------------------------------
def test_mint_returns_an_available_token_once(svc, call, bank_a, audit_rows) -> None:
    response = call(bank_a, "POST", "/credentials")
    assert response.status_code == 201 and "no-store" in response.headers["Cache-Control"]
    body = response.get_json()
    assert set(body) == {"credential_id", "otpauth_uri"} and body["credential_id"].startswith("SYMC")
    assert cs.get_credential(svc, body["credential_id"]).state == "available"
    assert audit_rows("credential.mint")[-1].actor == "api:0001"
    secret = body["otpauth_uri"].split("secret=")[1].split("&")[0]
    assert secret not in all_audit_text(svc)


@pytest.mark.parametrize(("name", "extra", "imported"), [
    ("rfc6030-figure3.pskcxml", {}, ["987654321"]),
    ("rfc6030-figure6.pskcxml", {"key": AES_KEY}, ["987654321"]),
    ("rfc6030-figure7.pskcxml", {"password": "qwerty"}, ["987654321"]),
])
def test_import_reports_every_key(svc, call, bank_a, audit_rows, name, extra, imported) -> None:
    document = (PSKC / name).read_text()
    response = call(bank_a, "POST", "/credentials/import", json={"pskc": document, **extra})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [k["token_id"] for k in body["keys"] if k["status"] == "imported"] == imported
    assert body["imported"] == len(imported)
    assert cs.get_credential(svc, imported[0]).bank_code == "0001"
    row = audit_rows("credential.import")[-1]
    assert (row.actor, row.bank_code) == ("api:0001", "0001")
    for value in extra.values():
        assert value not in all_audit_text(svc)


def test_import_refusals(call, bank_a) -> None:
    refused = call(bank_a, "POST", "/credentials/import", json={"pskc": "not xml"})
    assert refused.status_code == 422 and problem_type(refused) == "/problems/pskc-refused"
    assert refused.get_json()["reason"]
    both = call(bank_a, "POST", "/credentials/import", json={"pskc": "<x/>", "password": "p", "key": AES_KEY})
    assert both.status_code == 422 and problem_type(both) == "/problems/invalid-input"
    bad_key = call(bank_a, "POST", "/credentials/import", json={"pskc": "<x/>", "key": "zz"})
    assert bad_key.status_code == 422 and bad_key.get_json()["fields"] == ["key"]
    xxe = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           '<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">&e;</KeyContainer>')
    unsafe = call(bank_a, "POST", "/credentials/import", json={"pskc": xxe})
    assert unsafe.status_code == 422 and problem_type(unsafe) == "/problems/pskc-refused"


# --- GET /events -----------------------------------------------------------------------------------
def test_events_page_through_the_banks_own_trail(call, bank_a, bank_b) -> None:
    call(bank_a, "POST", "/otp/verify", json={"contract_id": "1000000001", "otp": "000000"})
    seen, after, pages = [], 0, 0
    while True:
        page = call(bank_a, "GET", f"/events?after={after}&limit=2").get_json()
        seen += page["events"]
        pages += 1
        assert len(page["events"]) <= 2
        if not page["has_more"]:
            break
        after = page["next"]
    assert pages > 1 and {e["bank"] for e in seen} == {"0001"}
    ids = [e["id"] for e in seen]
    assert ids == sorted(set(ids))
    assert seen[-1]["event"] == "otp.verify" and seen[-1]["actor"] == "api:0001"
    empty = call(bank_a, "GET", f"/events?after={ids[-1]}").get_json()
    assert empty == {"events": [], "next": ids[-1], "has_more": False}


@pytest.mark.parametrize("query", ["after=-1", "after=x", "limit=0", "limit=1001", "limit=1.5"])
def test_events_refuse_bad_parameters(call, bank_a, query) -> None:
    response = call(bank_a, "GET", f"/events?{query}")
    assert response.status_code == 422 and problem_type(response) == "/problems/invalid-input"
