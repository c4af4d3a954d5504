"""What every partner API call shares: body limits, JSON only, problems for every error, no cookies, rate limits."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from gateway import create_app
from gateway.services import banks as bank_service
from gateway.web.api.blueprint import IMPORT_BODY_LIMIT, JSON_BODY_LIMIT
from gateway.web.context import app_services

pytestmark = pytest.mark.db

#: The SPEC §6 table, exactly.
SPEC_CALLS = {
    ("post", "/otp/verify"), ("get", "/customers/{contract_id}"), ("put", "/customers/{contract_id}"),
    ("post", "/customers/{contract_id}/credential"), ("delete", "/customers/{contract_id}/credential"),
    ("post", "/customers/{contract_id}/unlock"), ("post", "/customers/{contract_id}/credential/resync"),
    ("post", "/credentials"), ("post", "/credentials/import"), ("get", "/events"), ("post", "/provision"),
    ("get", "/openapi.json"),
}


def test_the_document_lists_exactly_the_spec_calls(client) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["servers"] == [{"url": "/api/v1"}]
    calls = {(method, path) for path, item in document["paths"].items() for method in item if method != "parameters"}
    assert calls == SPEC_CALLS
    assert document["components"]["securitySchemes"]["bankKey"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["bankKey"][
            "description"]}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            public = operation.get("security") == []
            assert public == (path in ("/provision", "/openapi.json")), path
            if not public:
                assert "401" in operation["responses"] and "429" in operation["responses"]


def test_the_document_ships_in_the_package() -> None:
    from importlib.resources import files

    text = files("gateway.web").joinpath("openapi.json").read_text(encoding="utf-8")
    assert json.loads(text)["openapi"] == "3.1.0"


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/customers/1000000001"), ("POST", "/otp/verify"), ("POST", "/customers/1000000001/credential"),
    ("POST", "/credentials"),
])
def test_ordinary_calls_refuse_large_bodies(call, bank_a, method, path) -> None:
    body = json.dumps({"email": "a@b", "pad": "x" * JSON_BODY_LIMIT})
    response = call(bank_a, method, path, data=body, content_type="application/json")
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "/problems/request-entity-too-large"
    assert response.get_json()["max_bytes"] == JSON_BODY_LIMIT


def test_import_takes_a_larger_body_up_to_its_own_limit(call, bank_a) -> None:
    padding = "<!--" + "x" * (2 * 1024 * 1024) + "-->"
    big = call(bank_a, "POST", "/credentials/import", json={"pskc": padding + "<x/>"})
    assert big.status_code == 422 and big.get_json()["type"] == "/problems/pskc-refused"  # read, then refused
    too_big = call(bank_a, "POST", "/credentials/import", data=b"{" + b" " * IMPORT_BODY_LIMIT + b"}",
                   content_type="application/json")
    assert too_big.status_code == 413 and too_big.get_json()["max_bytes"] == IMPORT_BODY_LIMIT


def test_a_body_without_content_length_is_bounded_too(app, bank_a) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"email": "a@b", "pad": "x" * JSON_BODY_LIMIT}).encode()
    environ = EnvironBuilder(path="/api/v1/customers/1000000001", method="PUT", data=body,
                             content_type="application/json", headers=bank_a.auth).get_environ()
    del environ["CONTENT_LENGTH"]  # as a chunked request arrives
    environ["wsgi.input_terminated"] = True
    app_iter, status, headers = run_wsgi_app(app, environ)
    assert status.startswith("413") and headers["Content-Type"] == "application/problem+json"
    assert json.loads(b"".join(app_iter))["type"] == "/problems/request-entity-too-large"


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/customers/1000000001"), ("POST", "/customers/1000000001/credential"),
    ("POST", "/customers/1000000001/credential/resync"), ("POST", "/credentials/import"),
])
def test_json_only(call, bank_a, method, path) -> None:
    form = call(bank_a, method, path, data={"email": "a@b"})
    assert form.status_code == 415 and form.get_json()["type"] == "/problems/unsupported-media-type"
    broken = call(bank_a, method, path, data="{", content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["type"] == "/problems/invalid-json"
    array = call(bank_a, method, path, json=[1])
    assert array.status_code == 400 and array.mimetype == "application/problem+json"


def test_wrong_methods_are_405_problems_naming_the_allowed_ones(call, bank_a) -> None:
    response = call(bank_a, "PATCH", "/customers/1000000001")
    assert response.status_code == 405 and response.get_json()["type"] == "/problems/method-not-allowed"
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "PUT"}
    assert call(bank_a, "GET", "/customers/1000000001/unlock").headers["Allow"].count("POST") == 1
    unknown = call(bank_a, "GET", "/nothing/here")
    assert unknown.status_code == 404 and unknown.get_json()["type"] == "/problems/not-found"


def test_no_cookie_is_ever_set_or_read(client, call, bank_a) -> None:
    client.set_cookie("gw_session", "x" * 40)
    client.set_cookie("gw_view", "sp")
    responses = [
        call(bank_a, "GET", "/customers/1000000001?view=pc&lang=en"),
        call(bank_a, "PUT", "/customers/1000000001?view=sp", json={"email": "a@example.jp"}),
        call(bank_a, "POST", "/otp/verify", json={"contract_id": "1000000001", "otp": "123456"}),
        call(bank_a, "POST", "/credentials"),
        call(bank_a, "GET", "/events?view=pc"),
        call(bank_a, "GET", "/customers/nobody-"),
        call(None, "GET", "/customers/1000000001"),
        call(bank_a, "PATCH", "/credentials"),
        call(None, "GET", "/openapi.json?view=pc"),
    ]
    for response in responses:
        assert "Set-Cookie" not in response.headers, response.request.path


@pytest.mark.ratelimit
def test_rate_limit_per_key(app_config, svc, bank) -> None:  # type: ignore[no-untyped-def]
    app = create_app({**app_config, "RATELIMIT_API_PER_KEY": "3 per minute"})
    try:
        first = bank_service.create_api_key(app_services(app), "0001")
        second = bank_service.create_api_key(app_services(app), "0001")
        client = app.test_client()

        def get(key: str):  # type: ignore[no-untyped-def]
            return client.get("/api/v1/customers/1000000001", headers={"Authorization": f"Bearer {key}"})

        statuses = [get(first).status_code for _ in range(3)]
        statuses.append(client.post("/api/v1/otp/verify", json={"contract_id": "1", "otp": "123456"},
                                    headers={"Authorization": f"Bearer {first}"}).status_code)
        assert statuses == [404, 404, 404, 429]
        limited = get(first)
        assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
        assert limited.get_json()["type"] == "/problems/too-many-requests" and "Retry-After" in limited.headers
        assert get(second).status_code == 404  # the bank's other key has its own budget
    finally:
        app_services(app).db.dispose()
