"""A bank's key reaches only its own bank: every call, and keys that are missing, malformed or revoked."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from gateway.services import banks as bank_service
from gateway.services import credentials as cs
from gateway.services import customers as customer_service
from tests.conftest import VECTORS

pytestmark = pytest.mark.db

#: Every call that needs a key: (method, path, JSON body or None).
KEYED = [
    ("POST", "/otp/verify", {"contract_id": "1000000001", "otp": "123456"}),
    ("GET", "/customers/1000000001", None),
    ("PUT", "/customers/1000000001", {"email": "x@example.jp"}),
    ("POST", "/customers/1000000001/credential", {"credential_id": "SYMC00000000", "otp": "123456"}),
    ("DELETE", "/customers/1000000001/credential", None),
    ("POST", "/customers/1000000001/unlock", None),
    ("POST", "/customers/1000000001/credential/resync", {"otp1": "123456", "otp2": "234567"}),
    ("POST", "/credentials", None),
    ("POST", "/credentials/import", {"pskc": "<x/>"}),
    ("GET", "/events", None),
]


def snapshot(svc, tenant) -> tuple:  # type: ignore[no-untyped-def]
    """What bank B's customer and tokens look like, to show that bank A's calls changed nothing."""
    customer = customer_service.show_customer(svc, tenant.code, tenant.contract_id)
    tokens = [(c.credential_id, c.state, c.failure_count, c.contract_id) for c in cs.list_credentials(svc, tenant.code)]
    return customer, tokens


def same_as_nowhere(call, bank_a, method: str, path_for, body=None) -> None:  # type: ignore[no-untyped-def]
    """Bank B's contract ID gets exactly the answer of a contract ID that exists nowhere."""
    other = call(bank_a, method, path_for("2000000001"), json=body)
    nowhere = call(bank_a, method, path_for("2999999999"), json=body)
    assert other.status_code == nowhere.status_code
    assert other.get_json() == nowhere.get_json()
    assert other.headers.get("Content-Type") == nowhere.headers.get("Content-Type")


def test_bank_a_cannot_read_change_or_verify_bank_bs_customer(svc, call, bank_a, bank_b, audit_rows) -> None:
    before = snapshot(svc, bank_b)
    b_token = bank_b.registered

    same_as_nowhere(call, bank_a, "GET", lambda c: f"/customers/{c}")
    assert call(bank_a, "GET", "/customers/2000000001").status_code == 404
    same_as_nowhere(call, bank_a, "DELETE", lambda c: f"/customers/{c}/credential")
    same_as_nowhere(call, bank_a, "POST", lambda c: f"/customers/{c}/unlock")
    same_as_nowhere(call, bank_a, "POST", lambda c: f"/customers/{c}/credential/resync",
                    {"otp1": b_token.code(), "otp2": b_token.code(steps=1)})
    same_as_nowhere(call, bank_a, "POST", lambda c: f"/customers/{c}/credential",
                    {"credential_id": bank_b.spare.credential_id, "otp": bank_b.spare.code()})
    verify = call(bank_a, "POST", "/otp/verify", json={"contract_id": "2000000001", "otp": b_token.code()})
    assert verify.get_json() == {"result": "not_registered"}

    # PUT with B's contract ID creates bank A's own customer; B's is untouched.
    put = call(bank_a, "PUT", "/customers/2000000001", json={"password": "pass5678", "status": "locked"})
    assert put.status_code == 201 and put.get_json()["bank"] == "0001"
    assert snapshot(svc, bank_b) == before
    # …and B's code still works for B, once: A's calls used nothing up.
    assert call(bank_b, "POST", "/otp/verify", json={"contract_id": "2000000001",
                                                     "otp": b_token.code()}).get_json()["result"] == "accepted"
    assert {row.bank_code for row in audit_rows() if row.actor == "api:0001"} == {"0001"}


def test_bank_bs_tokens_cannot_be_registered_by_bank_a(svc, call, bank_a, bank_b) -> None:
    """A token ID of bank B given to bank A's register is an unknown token, like one that exists nowhere."""
    call(bank_a, "PUT", "/customers/1000000009", json={"password": "pass1234"})
    spare = bank_b.spare
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False) as clock:  # each wrong try makes the customer's next wait
        other = call(bank_a, "POST", "/customers/1000000009/credential",
                     json={"credential_id": spare.credential_id, "otp": spare.code(start)})
        clock.shift(1)
        nowhere = call(bank_a, "POST", "/customers/1000000009/credential",
                       json={"credential_id": "OTHR99999999", "otp": spare.code(start)})
        assert other.status_code == nowhere.status_code == 422
        assert other.get_json()["type"] == nowhere.get_json()["type"] == "/problems/unknown-token"
        clock.shift(2)
        bound = call(bank_a, "POST", "/customers/1000000009/credential",
                     json={"credential_id": bank_b.registered.credential_id,
                           "otp": bank_b.registered.code(start)})
    assert bound.get_json()["type"] == "/problems/unknown-token"
    view = cs.get_credential(svc, spare.credential_id)
    assert (view.state, view.failure_count, view.contract_id) == ("available", 0, None)


def test_mint_import_and_events_stay_in_the_keys_bank(svc, call, bank_a, bank_b) -> None:
    minted = call(bank_b, "POST", "/credentials").get_json()
    assert minted["credential_id"].startswith("OTHR")
    assert cs.get_credential(svc, minted["credential_id"]).bank_code == "0002"
    document = (VECTORS / "pskc" / "rfc6030-figure3.pskcxml").read_text()
    assert call(bank_b, "POST", "/credentials/import", json={"pskc": document}).get_json()["imported"] == 1
    assert cs.get_credential(svc, "987654321").bank_code == "0002"
    # Token IDs are unique per bank: bank A's import of the same serial number says nothing about bank B's
    # (imported, as a free one would be) and leaves B's token as it was.
    b_token = cs.get_credential(svc, "987654321", bank_code="0002")
    again = call(bank_a, "POST", "/credentials/import", json={"pskc": document}).get_json()
    assert again["keys"] == [{"token_id": "987654321", "status": "imported", "reason": None}]
    assert cs.get_credential(svc, "987654321", bank_code="0002") == b_token
    assert cs.get_credential(svc, "987654321", bank_code="0001").bank_code == "0001"
    # Another bank's minted shape is refused for this key.
    foreign = document.replace("987654321", "OTHR12345678")
    refused = call(bank_a, "POST", "/credentials/import", json={"pskc": foreign}).get_json()
    assert refused["keys"] == [{"token_id": "OTHR12345678", "status": "rejected", "reason": "foreign_prefix"}]

    a_events = call(bank_a, "GET", "/events?limit=1000").get_json()["events"]
    b_events = call(bank_b, "GET", "/events?limit=1000").get_json()["events"]
    assert a_events and b_events
    assert {e["bank"] for e in a_events} == {"0001"} and {e["bank"] for e in b_events} == {"0002"}
    assert not {e["id"] for e in a_events} & {e["id"] for e in b_events}


# --- keys -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "body"), KEYED)
@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer ogw_" + "x" * 43, "ogw_abc",
])
def test_missing_or_malformed_keys_are_401_problems(call, bank_a, method, path, body, header) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = call(None, method, path, json=body, headers=headers)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "/problems/unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(("method", "path", "body"), KEYED)
def test_a_revoked_key_is_refused_and_the_banks_other_keys_still_work(svc, call, bank_a, method, path,
                                                                      body) -> None:
    second = bank_service.create_api_key(svc, "0001", label="second")
    assert bank_service.revoke_api_key(svc, "0001", bank_a.key[:12]) == 1
    refused = call(bank_a, method, path, json=body)
    assert refused.status_code == 401 and refused.get_json()["type"] == "/problems/unauthorized"
    still = call(None, method, path, json=body, headers={"Authorization": f"Bearer {second}"})
    assert still.status_code != 401


def test_the_openapi_document_needs_no_key(client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["openapi"].startswith("3.1")
    assert "Set-Cookie" not in response.headers
