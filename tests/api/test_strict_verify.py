"""`POST /api/v1/otp/verify` takes only the documented body: anything that cannot be valid is a 422, for
registered and unregistered customers alike, before any look-up; a caller without a live key gets 401."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_verify import without_hot_path

pytestmark = pytest.mark.db

REGISTERED, UNREGISTERED = "1000000001", "1999999999"

#: Bodies no customer's code can make valid, and the fields a 422 names.
HOPELESS: list[tuple[dict[str, Any], list[str]]] = [
    ({"contract_id": REGISTERED, "otp": "123456", "x": 1}, ["x"]),
    ({"contract_id": UNREGISTERED, "otp": "123456", "x": 1}, ["x"]),
    ({"contract_id": UNREGISTERED, "otp": "123456", "note": "a", "b": None}, ["b", "note"]),
    ({"contract_id": UNREGISTERED, "otp": "12345\u0000"}, ["otp"]),
    ({"contract_id": UNREGISTERED, "otp": "12345"}, ["otp"]),
    ({"contract_id": UNREGISTERED, "otp": "1234567"}, ["otp"]),
    ({"contract_id": UNREGISTERED, "otp": "１２３４５６\u202e"}, ["otp"]),
    ({"contract_id": UNREGISTERED, "otp": ""}, ["otp"]),
    ({"contract_id": UNREGISTERED, "otp": 123456}, ["otp"]),
    ({"contract_id": UNREGISTERED, "otp": None}, ["otp"]),
    ({"contract_id": UNREGISTERED, "otp": "1" * 10_000}, ["otp"]),
    ({"contract_id": "", "otp": "123456"}, ["contract_id"]),
    ({"contract_id": 1999999999, "otp": "123456"}, ["contract_id"]),
    ({"contract_id": "1999\u0000999999", "otp": "123456"}, ["contract_id"]),
    ({"contract_id": "x" * 33, "otp": "123456"}, ["contract_id"]),
    ({"contract_id": UNREGISTERED}, ["otp"]),
    ({"otp": "123456"}, ["contract_id"]),
]


@pytest.fixture(params=["hot path", "flask view"])
def client(request, app):  # type: ignore[no-untyped-def]
    """Every test here runs against both answers to verify: the WSGI hot path and the Flask view."""
    if request.param == "flask view":
        without_hot_path(app)
    return app.test_client()


def post(client, key: str, body: Any):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/otp/verify", json=body, headers={"Authorization": f"Bearer {key}"})


@pytest.mark.parametrize(("body", "fields"), HOPELESS)
def test_a_body_that_cannot_be_valid_is_a_422_before_any_look_up(client, key, registered, audit_rows, body,
                                                                 fields) -> None:
    response = post(client, key, body)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "/problems/invalid-input" and problem["fields"] == fields
    assert audit_rows("otp.verify") == []


@pytest.mark.parametrize(("body", "fields"), HOPELESS[:6])
def test_without_a_live_key_any_body_is_a_401(client, bank, body, fields) -> None:
    response = post(client, "ogw_" + "x" * 43, body)
    assert response.status_code == 401 and response.get_json()["type"] == "/problems/unauthorized"


def test_the_documented_body_as_typed_is_still_judged(client, key, registered) -> None:
    assert post(client, key, {"contract_id": " １９９９９９９９９９ ", "otp": "１２３ ４５６"}).get_json() == {
        "result": "not_registered"}
    assert post(client, key, {"contract_id": UNREGISTERED, "otp": "1234-5678"}).get_json() == {
        "result": "not_registered"}


def test_the_document_says_so(client) -> None:
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["VerifyRequest"]
    assert schema["additionalProperties"] is False and "ignored" not in schema.get("description", "")


def test_the_flask_view_alone_answers_alike(app, key, registered) -> None:
    """The fast path hands these on: the Flask view's own check is what answers them."""
    without_hot_path(app)
    response = post(app.test_client(), key, {"contract_id": UNREGISTERED, "otp": "12345\u0000"})
    assert response.status_code == 422 and response.get_json()["fields"] == ["otp"]
