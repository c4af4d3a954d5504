"""Hostile bodies to the partner API: a stranger's large body, JSON nested too deeply, passwords too long."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from gateway.web.api.blueprint import JSON_BODY_LIMIT
from tests.api.test_verify import without_hot_path
from tests.web.test_input_limits import DEEP_JSON, LONG_PASSWORD, MiB, rows

pytestmark = pytest.mark.db


class Untouched(io.BytesIO):
    """A request body that must never be read."""

    def read(self, *args: Any) -> bytes:
        raise AssertionError("the body was read")

    readinto = readline = read  # type: ignore[assignment]


@pytest.mark.parametrize(("path", "method"), [("/api/v1/customers/1000000001", "PUT"),
                                              ("/api/v1/otp/verify", "POST")])
@pytest.mark.parametrize("key", [None, "ogw_" + "x" * 43])
def test_a_strangers_large_body_to_a_keyed_call_is_401_unread(app, bank, path, method, key) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    environ = EnvironBuilder(path=path, method=method, content_type="application/json",
                             headers=headers).get_environ()
    environ["CONTENT_LENGTH"] = str(30 * MiB)
    environ["wsgi.input"] = Untouched()
    app_iter, status, _ = run_wsgi_app(app, environ)
    assert status.startswith("401") and json.loads(b"".join(app_iter))["type"] == "/problems/unauthorized"


def test_a_keyed_large_body_is_still_413(call, bank_a) -> None:
    response = call(bank_a, "POST", "/otp/verify", data=b"{" + b" " * (JSON_BODY_LIMIT + 1) + b"}",
                    content_type="application/json")
    assert response.status_code == 413 and response.get_json()["max_bytes"] == JSON_BODY_LIMIT


@pytest.mark.parametrize("body", DEEP_JSON, ids=["array", "object"])
@pytest.mark.parametrize(("method", "path"), [("PUT", "/customers/1000000001"), ("POST", "/otp/verify"),
                                              ("POST", "/customers/1000000001/credential")])
def test_deep_json_to_the_partner_api_is_a_400(call, bank_a, method, path, body) -> None:
    response = call(bank_a, method, path, data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["type"] == "/problems/invalid-json"
    stranger = call(None, method, path, data=body, content_type="application/json",
                    headers={"Authorization": "Bearer ogw_" + "x" * 43})
    assert stranger.status_code == 401


@pytest.mark.parametrize("body", DEEP_JSON, ids=["array", "object"])
def test_deep_json_to_the_verify_fast_path_is_a_400(app, bank_a, body) -> None:
    hot = app.test_client().post("/api/v1/otp/verify", data=body, content_type="application/json",
                                 headers=bank_a.auth)
    without_hot_path(app)
    plain = app.test_client().post("/api/v1/otp/verify", data=body, content_type="application/json",
                                   headers=bank_a.auth)
    assert hot.status_code == plain.status_code == 400 and hot.get_data() == plain.get_data()


def test_put_customer_with_a_too_long_password_is_a_422(call, bank_a, svc) -> None:
    before = rows(svc, "customers")
    for body in ({"password": LONG_PASSWORD}, {"confirmation_password": LONG_PASSWORD}):
        response = call(bank_a, "PUT", "/customers/1000000009", json=body)
        assert response.status_code == 422 and response.get_json()["type"] == "/problems/invalid-input"
    assert rows(svc, "customers") == before


#: A lone surrogate, as a JSON escape: no text has one, and it cannot be encoded, stored or hashed.
LONE = "\ud800"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/credentials/import", {"pskc": LONE}),
    ("POST", "/credentials/import", {"pskc": "<x/>", "password": LONE}),
    ("PUT", "/customers/1000000009", {"password": "pass1234", "email": f"a{LONE}@example.jp"}),
    ("POST", "/otp/verify", {"contract_id": "1000000001", "otp": f"12345{LONE}"}),
    ("POST", "/otp/verify", {LONE: 1, "contract_id": "1000000001", "otp": "123456"}),
])
def test_a_lone_surrogate_is_malformed_json(call, bank_a, svc, audit_rows, method, path, body) -> None:
    before = rows(svc, "customers"), rows(svc, "credentials"), len(audit_rows())
    response = call(bank_a, method, path, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and response.get_json()["type"] == "/problems/invalid-json"
    assert (rows(svc, "customers"), rows(svc, "credentials"), len(audit_rows())) == before


def test_a_lone_surrogate_to_provision_is_malformed_json(client, svc) -> None:
    body = {"service_id": "10112180", "user_id": "999800000000", "activation_password": LONE}
    response = client.post("/api/v1/provision", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and response.get_json()["type"] == "/problems/invalid-json"


def test_paired_surrogates_are_text(call, bank_a) -> None:
    """An escaped pair is one character (here an emoji): ordinary JSON, judged on its merits."""
    response = call(bank_a, "PUT", "/customers/1000000001", data='{"email": "\\ud83d\\ude00@example.jp"}',
                    content_type="application/json")
    assert response.status_code == 422 and response.get_json()["fields"] == ["email"]
