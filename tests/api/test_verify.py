"""`POST /api/v1/otp/verify` and bearer keys: outcomes, tenant scope, problem+json."""

from __future__ import annotations

import pytest
import time_machine

from gateway.services import banks as bank_service
from gateway.web.api.verify import FastPath
from tests.verify_fixtures import T0

pytestmark = pytest.mark.db


@pytest.fixture(params=["hot path", "flask view"])
def client(request, app):  # type: ignore[no-untyped-def]
    """Every test here runs through both ways in to verify: the fast path and the Flask view."""
    if request.param == "flask view":
        without_hot_path(app)
    return app.test_client()


def without_hot_path(app) -> None:  # type: ignore[no-untyped-def]
    """The app with verify answered by the Flask view alone (the layer above the fast path calls Flask)."""
    layer = app.wsgi_app
    while not isinstance(layer.wsgi_app, FastPath):
        layer = layer.wsgi_app
    layer.wsgi_app = layer.wsgi_app.wsgi_app


def verify(client, key, contract_id="1000000001", otp="123456", **kw):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/otp/verify", json={"contract_id": contract_id, "otp": otp},
                       headers={"Authorization": f"Bearer {key}"}, **kw)


def test_outcomes(client, key, registered, audit_rows) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        first = verify(client, key, otp=registered.code(T0))
        assert first.status_code == 200 and first.get_json() == {"result": "accepted",
                                                                  "credential_id": registered.credential_id}
        assert "Set-Cookie" not in first.headers
        assert verify(client, key, otp=registered.code(T0)).get_json() == {"result": "rejected",
                                                                          "reason": "replayed_code"}
        clock.shift(2)
        skewed = verify(client, key, otp=registered.code(T0, 4)).get_json()
        assert skewed == {"result": "rejected", "reason": "out_of_sync", "clock_skew_steps": 4}
        throttled = verify(client, key, otp="000000").get_json()
        assert throttled["reason"] == "throttled" and throttled["retry_after"] > 0
    assert verify(client, key, contract_id="1999999999").get_json() == {"result": "not_registered"}
    assert [r.actor for r in audit_rows("otp.verify")][-1] == "api:0001"


def test_locked(client, key, registered) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(10):
            result = verify(client, key, otp="000000" if registered.code(T0) != "000000" else "111111").get_json()
            clock.shift(600)
        assert result == {"result": "locked", "reason": "credential_locked"}


def test_another_banks_customer_is_not_registered(svc, client, registered, make_bank) -> None:
    make_bank("0002", "別の信用組合", prefix="OTHR")
    other_key = bank_service.create_api_key(svc, "0002")
    assert verify(client, other_key, otp=registered.code()).get_json() == {"result": "not_registered"}


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer ogw_" + "x" * 43])
def test_missing_or_wrong_keys_are_401_problems(client, bank, header) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/otp/verify", json={"contract_id": "1", "otp": "123456"}, headers=headers)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["type"] == "/problems/unauthorized"


def test_revoked_key_is_refused(svc, client, key, registered) -> None:
    bank_service.revoke_api_key(svc, "0001", key[:12])
    assert verify(client, key).status_code == 401


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"data": "x", "content_type": "text/plain"}, 415),
    ({"data": "{", "content_type": "application/json"}, 400),
    ({"json": {"contract_id": "1000000001"}}, 422),
    ({"json": {"contract_id": "1000000001", "otp": "12ab56"}}, 422),
    ({"json": {"contract_id": "1000000001", "otp": 123456}}, 422),
])
def test_bad_requests_are_problems(client, key, registered, kwargs, status) -> None:
    response = client.post("/api/v1/otp/verify", headers={"Authorization": f"Bearer {key}"}, **kwargs)
    assert response.status_code == status and response.mimetype == "application/problem+json"


def test_unknown_api_paths_and_methods_are_problems(client, key) -> None:
    assert client.get("/api/v1/nothing").mimetype == "application/problem+json"
    response = client.get("/api/v1/otp/verify", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 405 and response.mimetype == "application/problem+json"
