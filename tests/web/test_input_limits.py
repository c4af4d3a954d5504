"""Hostile request bodies: the body limits, JSON nested too deeply, and passwords too long to hash."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text
from werkzeug.test import EnvironBuilder, run_wsgi_app

from gateway import config, create_app, passwords
from gateway.domain.errors import InvalidInput
from gateway.services import issuance
from gateway.web.context import app_services
from gateway.web.security import FORM_BODY_LIMIT
from tests.conftest import CONFIRMATION, PASSWORD
from tests.services.conftest import CLIENT

pytestmark = pytest.mark.db

MiB = 1024 * 1024
#: Well past passlib's own refusal (4,096): the length of password nobody has.
LONG_PASSWORD = "p" * 5000
#: What json.loads cannot take apart without running out of stack (the array fits the keyed calls' 64 KiB,
#: the object and the shorter array fit 16 KiB too).
DEEP_JSON = ["[" * 30_000 + "]" * 30_000, '{"a":' * 2_500 + "1" + "}" * 2_500]
SHORT_DEEP_JSON = ["[" * 8_000 + "]" * 8_000, DEEP_JSON[1]]


def rows(svc, table: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with svc.db.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


def column(svc, table: str, name: str) -> list[Any]:  # type: ignore[no-untyped-def]
    return [row[name] for row in rows(svc, table)]


def results(audit_rows, event: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [row.result for row in audit_rows(event)]


def chunked(app, path: str, body: bytes, content_type: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """A POST whose body comes without a Content-Length, as a chunked request arrives."""
    environ = EnvironBuilder(path=path, method="POST", data=body, content_type=content_type,
                             headers=headers or {}).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    app_iter, status, response_headers = run_wsgi_app(app, environ)
    return int(status[:3]), response_headers, b"".join(app_iter)


@pytest.fixture
def issued(svc, make_bank, make_customer):  # type: ignore[no-untyped-def]
    make_bank("0002", "デモ商工信用組合", prefix="NTTD", period=60, service_id="10112180")
    make_customer("0002", "2000000001")
    return issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT)


def provision_body(issued, password: str = "1234", **extra: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"service_id": issued.service_id, "user_id": issued.user_id, "activation_password": password, **extra}


# --- 1. body limits ---------------------------------------------------------------------------------------
def test_the_app_wide_limit_is_set_and_configurable(app, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * MiB == config.DEFAULTS["MAX_CONTENT_LENGTH"]
    monkeypatch.setenv("GATEWAY_MAX_CONTENT_LENGTH", str(8 * MiB))
    assert config.load(tmp_path)["MAX_CONTENT_LENGTH"] == 8 * MiB
    other = create_app({"INSTANCE_PATH": str(tmp_path), "MAX_CONTENT_LENGTH": 4 * MiB})
    try:
        assert other.config["MAX_CONTENT_LENGTH"] == 4 * MiB
    finally:
        app_services(other).db.dispose()
    for unusable in ("lots", "1024", str(2 * 1024**3)):
        with pytest.raises(config.ConfigError):
            config.load(tmp_path, {"MAX_CONTENT_LENGTH": unusable})


@pytest.mark.parametrize("size", [FORM_BODY_LIMIT + 1, 30 * MiB])
def test_provision_refuses_a_large_body_unread(client, svc, issued, audit_rows, size) -> None:
    body = json.dumps(provision_body(issued, pad="x" * size)).encode()
    response = client.post("/api/v1/provision", data=body, content_type="application/json")
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "/problems/request-entity-too-large" and problem["max_bytes"] == FORM_BODY_LIMIT
    assert column(svc, "issuances", "state") == ["issued"] and results(audit_rows, "token.provision") == []


def test_provision_refuses_a_large_chunked_body(app, svc, issued, audit_rows) -> None:
    body = json.dumps(provision_body(issued, pad="x" * FORM_BODY_LIMIT)).encode()
    status, headers, answer = chunked(app, "/api/v1/provision", body, "application/json")
    assert status == 413 and headers["Content-Type"] == "application/problem+json"
    problem = json.loads(answer)
    assert problem["type"] == "/problems/request-entity-too-large" and problem["max_bytes"] == FORM_BODY_LIMIT
    assert column(svc, "issuances", "state") == ["issued"] and results(audit_rows, "token.provision") == []


@pytest.mark.parametrize("size", [FORM_BODY_LIMIT + 1, 30 * MiB])
def test_a_page_form_refuses_a_large_body_with_a_japanese_page(browser, svc, customer, audit_rows, size) -> None:
    browser.get("/b/0001/")
    page = browser.post("/b/0001/", {"contract_id": "1000000001", "password": "wrong-pass", "pad": "x" * size})
    assert page.status == 413 and "(E0413)" in page.visible and "送信された内容が大きすぎます" in page.visible
    assert page.headers["Content-Type"].startswith("text/html")
    assert column(svc, "customers", "password_failures") == [0] and results(audit_rows, "login.password") == []


def test_a_page_form_refuses_a_large_chunked_body(app, browser, svc, customer, audit_rows) -> None:
    browser.get("/b/0001/")
    body = f"csrf_token={browser.token}&contract_id=1000000001&password=wrong-pass&pad={'x' * FORM_BODY_LIMIT}"
    cookie = browser.session_cookie()
    status, headers, answer = chunked(app, "/b/0001/", body.encode(), "application/x-www-form-urlencoded",
                                      headers={"Cookie": f"gw_session={cookie}"})
    assert status == 413 and headers["Content-Type"].startswith("text/html") and "(E0413)" in answer.decode()
    assert column(svc, "customers", "password_failures") == [0] and results(audit_rows, "login.password") == []


def test_a_chunked_body_within_the_limit_is_read_whole(app, svc, issued) -> None:
    body = json.dumps(provision_body(issued, pad="x" * (FORM_BODY_LIMIT - 200))).encode()
    status, _, answer = chunked(app, "/api/v1/provision", body, "application/json")
    assert status == 200 and json.loads(answer)["credential_id"].startswith("NTTD")


def test_an_ordinary_form_still_fits(browser, customer) -> None:
    browser.get("/b/0001/")
    assert browser.post("/b/0001/", {"contract_id": "1000000001", "password": PASSWORD,
                                     "pad": "x" * (FORM_BODY_LIMIT // 2)}).screen() == "TOP001"


# --- 2a. JSON nested too deeply ------------------------------------------------------------------------------
@pytest.mark.parametrize("body", SHORT_DEEP_JSON, ids=["array", "object"])
def test_deep_json_to_provision_is_a_400(client, svc, issued, body) -> None:
    response = client.post("/api/v1/provision", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["type"] == "/problems/invalid-json"
    assert column(svc, "issuances", "state") == ["issued"]


def test_the_app_json_provider_refuses_deep_json_as_a_value_error(app) -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        app.json.loads(DEEP_JSON[0])


# --- 2b. passwords too long to hash ------------------------------------------------------------------------------
def test_a_too_long_password_is_a_wrong_one_at_a_verifications_cost(monkeypatch) -> None:
    stored = passwords.hash_password(PASSWORD)
    spent: list[str] = []
    real = passwords._context.verify

    def counting(secret: str, hashed: str, **kwargs: Any) -> bool:
        spent.append(hashed)
        return real(secret, hashed, **kwargs)

    monkeypatch.setattr(passwords._context, "verify", counting)
    assert passwords.check_password(LONG_PASSWORD, stored) == passwords.Checked(ok=False)
    assert spent == [stored]
    assert passwords.check_password(LONG_PASSWORD, None) == passwords.Checked(ok=False)
    passwords.burn_time(LONG_PASSWORD)
    assert len(spent) == 3
    # Bytes count, not characters: 1,400 three-byte characters are too long as well.
    assert passwords.check_password("あ" * 1400, stored).ok is False


@pytest.mark.parametrize("password", [LONG_PASSWORD, "あ" * 1400, "\ud800x"])
def test_hashing_a_too_long_password_is_an_input_error(password) -> None:
    with pytest.raises(InvalidInput) as raised:
        passwords.hash_password(password)
    assert raised.value.field == "password"
    with pytest.raises(InvalidInput) as raised:
        passwords.hash_password(password, field="confirmation_password")
    assert raised.value.field == "confirmation_password"


@pytest.mark.parametrize("page", ["/b/0001/", "/b/0001/register", "/b/0001/stop"])
def test_a_too_long_login_password_on_a_page_is_a_wrong_one(browser, svc, customer, audit_rows, page) -> None:
    browser.get(page)
    shown = browser.post(page, {"contract_id": "1000000001", "password": LONG_PASSWORD})
    assert shown.status == 200 and "契約者IDまたはログインパスワードが正しくありません。(E0101)" in shown.visible
    assert column(svc, "customers", "password_failures") == [1]
    assert results(audit_rows, "login.password") == ["failed"]
    unknown = browser.post(page, {"contract_id": "1999999999", "password": LONG_PASSWORD})
    assert "(E0101)" in unknown.visible and results(audit_rows, "login.password") == ["failed", "unknown_customer"]


def test_a_too_long_confirmation_password_on_the_stop_page_is_a_wrong_one(browser, svc, customer, token,
                                                                         audit_rows) -> None:
    import datetime as dt

    from gateway.services import credentials as cs

    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(at), CLIENT, now=at)
    browser.get("/b/0001/stop")
    assert browser.post("/b/0001/stop", {"contract_id": "1000000001", "password": PASSWORD}).screen() == "VST002"
    page = browser.post("/b/0001/stop/confirm", {"confirmation_password": LONG_PASSWORD})
    assert page.screen() == "VST002" and "確認用パスワードが正しくありません。(E0103)" in page.visible
    assert column(svc, "customers", "password_failures") == [1]
    assert results(audit_rows, "confirmation.password") == ["failed"]
    assert column(svc, "credentials", "state") == ["active"]
    assert browser.post("/b/0001/stop/confirm", {"confirmation_password": CONFIRMATION}).screen() == "VST003"


def test_a_too_long_activation_password_on_the_setup_page_is_a_wrong_one(browser, svc, issued, audit_rows) -> None:
    browser.get("/b/0002/token/setup")
    page = browser.post("/b/0002/token/setup", {"service_id": issued.service_id, "user_id": issued.user_id,
                                                "activation_password": LONG_PASSWORD, "agree": "y"})
    assert page.status == 200 and "サービスID、ユーザIDまたは利用開始パスワードが正しくありません。(E0302)" in page.visible
    assert column(svc, "issuances", "activation_failures") == [1]
    assert results(audit_rows, "token.provision") == ["failed"]


def test_a_too_long_activation_password_on_the_api_is_a_wrong_one(client, svc, issued, audit_rows) -> None:
    response = client.post("/api/v1/provision", json=provision_body(issued, LONG_PASSWORD))
    assert response.status_code == 403 and response.get_json()["type"] == "/problems/activation-failed"
    assert column(svc, "issuances", "activation_failures") == [1]
    assert results(audit_rows, "token.provision") == ["failed"]
    unknown = client.post("/api/v1/provision", json={**provision_body(issued, LONG_PASSWORD),
                                                     "user_id": "999899999999"})
    assert unknown.status_code == 403 and results(audit_rows, "token.provision") == ["failed", "unknown"]
