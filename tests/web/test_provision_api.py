"""`POST /api/v1/provision`: the token app's set-up call."""

from __future__ import annotations

import pyotp
import pytest

from gateway.services import issuance
from tests.services.conftest import CLIENT

pytestmark = pytest.mark.db


@pytest.fixture
def issued(svc, make_bank, make_customer):  # type: ignore[no-untyped-def]
    make_bank("0002", "デモ商工信用組合", prefix="NTTD", period=60, service_id="10112180")
    make_customer("0002", "2000000001")
    return issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT)


def post(client, body, **kw):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/provision", json=body, **kw)


def test_provision_returns_the_token_once(client, issued) -> None:
    body = {"service_id": issued.service_id, "user_id": issued.user_id, "activation_password": "1234"}
    response = post(client, body)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    data = response.get_json()
    assert data["period"] == 60 and data["digits"] == 6 and data["algorithm"] == "SHA1"
    assert data["credential_id"].startswith("NTTD")
    assert pyotp.parse_uri(data["otpauth_uri"]).secret == data["secret"]
    again = post(client, body)
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert again.get_json()["type"] == "/problems/issuance-used"


def test_wrong_password_then_lock(client, issued) -> None:
    body = {"service_id": issued.service_id, "user_id": issued.user_id, "activation_password": "0000"}
    statuses = [post(client, body).status_code for _ in range(5)]
    assert statuses == [403, 403, 403, 403, 403]  # locked now, and told like a wrong password
    locked = post(client, {**body, "activation_password": "1234"})
    assert locked.status_code == 403 and locked.get_json()["type"] == "/problems/activation-failed"


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"data": "x", "content_type": "text/plain"}, 415),
    ({"data": "[1]", "content_type": "application/json"}, 400),
    ({"json": {"service_id": "10112180"}}, 422),
    ({"json": {"service_id": 10112180, "user_id": "1", "activation_password": "1"}}, 422),
])
def test_bad_requests_are_problems(client, issued, kwargs, status) -> None:
    response = client.post("/api/v1/provision", **kwargs)
    assert response.status_code == status and response.mimetype == "application/problem+json"
