"""One removal policy, every path: the stop pages, IB 利用解除 and the partner API's DELETE.

A `code` bank (the demo's 0002) needs the token's code on every path; a `lost-phone` bank (the default) the
two passwords alone. Every removal mails the customer a notice (when, how, whom to call) and is audited
with the path it took; a bank's cooling-off shows in the API's customer status and in signed results.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from pathlib import Path

import jwt
import pytest
import time_machine

from gateway.domain.errors import InvalidInput
from gateway.services import banks as bank_service
from gateway.services import credentials as cs
from gateway.services import results
from tests.conftest import CONFIRMATION, PASSWORD
from tests.services.conftest import CLIENT, credential_row

pytestmark = pytest.mark.db
T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)  # 12:00 in Tokyo
LATER = T0 + dt.timedelta(minutes=1)
PATHS = ("stop-page", "ib-release", "api")


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    with time_machine.travel(LATER, tick=False) as traveller:
        yield traveller


def bank_with(make_bank, make_customer, mint, svc, policy: str, cooloff: int = 0):  # type: ignore[no-untyped-def]
    """Bank 0002 with the policy, its customer (with an address) holding a token bound before T0, and a key."""
    make_bank("0002", "デモ商工信用組合", prefix="NTTD", contact="024-991-1000", removal_policy=policy,
              stop_cooloff_hours=cooloff)
    make_customer("0002", "2000000001", email="jiro@example.jp")
    token = mint("0002")
    cs.register(svc, "0002", "2000000001", token.credential_id, token.code(T0), CLIENT, now=T0)
    return token, bank_service.create_api_key(svc, "0002")


def outbox(app_config) -> list[email.message.EmailMessage]:  # type: ignore[no-untyped-def]
    folder = Path(app_config["INSTANCE_PATH"]) / "outbox"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))]


def remove(path: str, browser, client, key: str, otp: str | None):  # type: ignore[no-untyped-def]
    """Remove the token through the API or the stop pages, with `otp` if given."""
    if path == "api":
        kwargs = {"json": {"otp": otp}} if otp is not None else {}
        return client.delete("/api/v1/customers/2000000001/credential", headers={"Authorization": f"Bearer {key}"},
                             **kwargs)
    if path == "stop-page":
        browser.get("/b/0002/stop")
        page = browser.post("/b/0002/stop", {"contract_id": "2000000001", "password": PASSWORD})
        assert page.screen() == "VST002"
        return browser.post("/b/0002/stop/confirm", {"confirmation_password": CONFIRMATION, "otp": otp or ""})
    raise AssertionError(path)


def login_with_code(browser, token, at):  # type: ignore[no-untyped-def]
    browser.get("/b/0002/")
    browser.post("/b/0002/", {"contract_id": "2000000001", "password": PASSWORD})
    return browser.post("/b/0002/login/otp", {"otp": token.code(at)})


@pytest.mark.parametrize("path", PATHS)
def test_a_code_bank_never_removes_a_token_with_the_passwords_alone(svc, browser, client, app_config, make_bank,
                                                                    make_customer, mint, frozen, path) -> None:
    token, key = bank_with(make_bank, make_customer, mint, svc, "code")
    if path == "ib-release":
        assert login_with_code(browser, token, LATER).screen() == "TOP001"
        page = browser.get("/b/0002/ib/otp/release")
        assert page.screen() == "BOS001" and 'autocomplete="one-time-code"' in page.text
        page = browser.post("/b/0002/ib/otp/release", {"confirmation_password": CONFIRMATION})
        assert page.screen() == "BOS001" and "ワンタイムパスワードを入力してください。" in page.visible
    elif path == "stop-page":
        browser.get("/b/0002/stop")
        page = browser.post("/b/0002/stop", {"contract_id": "2000000001", "password": PASSWORD})
        assert page.screen() == "VST002" and 'autocomplete="one-time-code"' in page.text
        page = browser.post("/b/0002/stop/confirm", {"confirmation_password": CONFIRMATION})
        assert page.screen() == "VST002" and "ワンタイムパスワードを入力してください。" in page.visible
    else:
        response = remove("api", browser, client, key, None)
        assert response.status_code == 422 and response.get_json()["type"] == "/problems/code-required"
    assert credential_row(svc, token.credential_id).state == "active"
    assert outbox(app_config) == []
    browser.post("/b/0002/logout")
    assert login_with_code(browser, token, LATER + dt.timedelta(seconds=30)).screen() == "TOP001"  # still asked


@pytest.mark.parametrize("path", PATHS)
def test_a_code_bank_removes_the_token_with_its_code_and_tells_the_customer(
        svc, browser, client, app_config, make_bank, make_customer, mint, frozen, audit_rows, path) -> None:
    token, key = bank_with(make_bank, make_customer, mint, svc, "code")
    code = token.code(LATER)
    if path == "ib-release":
        login_with_code(browser, token, T0 + dt.timedelta(seconds=30))
        browser.get("/b/0002/ib/otp/release")
        page = browser.post("/b/0002/ib/otp/release", {"confirmation_password": CONFIRMATION, "otp": code})
        assert page.screen() == "BOS002"
    elif path == "stop-page":
        assert remove(path, browser, client, key, code).screen() == "VST003"
    else:
        assert remove(path, browser, client, key, code).status_code == 200
    assert credential_row(svc, token.credential_id).state == "revoked"
    (notice,) = [m for m in outbox(app_config) if "お知らせ" in m["Subject"] and "開始" not in m["Subject"]]
    body = notice.get_body(preferencelist=("plain",)).get_content()
    assert notice["To"] == "jiro@example.jp"
    assert "受付日時 : 2026年11月23日 12時01分" in body and "連絡先 : 024-991-1000" in body
    how = {"stop-page": "ログイン画面の「利用停止」", "ib-release": "「ワンタイムパスワード利用解除」",
           "api": "お取引店でのお手続き"}[path]
    assert how in body and code not in body
    (stopped,) = [r for r in audit_rows("credential.stop") if r.result == "ok"]
    assert json.loads(stopped.detail) == {"via": path, "notice": "queued"}


@pytest.mark.parametrize("path", ["stop-page", "api"])
def test_a_lost_phone_bank_removes_with_the_passwords_and_still_tells_the_customer(
        svc, browser, client, app_config, make_bank, make_customer, mint, frozen, audit_rows, path) -> None:
    token, key = bank_with(make_bank, make_customer, mint, svc, "lost-phone")
    if path == "stop-page":
        browser.get("/b/0002/stop")
        page = browser.post("/b/0002/stop", {"contract_id": "2000000001", "password": PASSWORD})
        assert 'autocomplete="one-time-code"' not in page.text
        page = browser.post("/b/0002/stop/confirm", {"confirmation_password": CONFIRMATION})
        assert page.screen() == "VST003"
    else:
        assert remove(path, browser, client, key, None).status_code == 200
    assert credential_row(svc, token.credential_id).state == "revoked"
    subjects = [m["Subject"] for m in outbox(app_config)]
    assert subjects == ["ワンタイムパスワード利用停止のお知らせ"]
    assert json.loads(audit_rows("credential.stop")[-1].detail) == {"via": path, "notice": "queued"}


def test_a_lost_phone_bank_releases_in_ib_without_the_code(svc, browser, make_bank, make_customer, mint,
                                                           frozen) -> None:
    token, _key = bank_with(make_bank, make_customer, mint, svc, "lost-phone")
    login_with_code(browser, token, LATER)
    page = browser.get("/b/0002/ib/otp/release")
    assert 'autocomplete="one-time-code"' not in page.text
    page = browser.post("/b/0002/ib/otp/release", {"confirmation_password": CONFIRMATION})
    assert page.screen() == "BOS002" and credential_row(svc, token.credential_id).state == "revoked"


def test_a_code_given_to_a_lost_phone_bank_is_still_checked(svc, browser, client, make_bank, make_customer, mint,
                                                            frozen) -> None:
    token, key = bank_with(make_bank, make_customer, mint, svc, "lost-phone")
    wrong = "000000" if token.code(LATER) != "000000" else "111111"
    response = remove("api", browser, client, key, wrong)
    assert response.status_code == 422 and response.get_json()["reason"] == "invalid_code"
    assert credential_row(svc, token.credential_id).state == "active"


def test_without_an_address_the_removal_is_audited_as_unnotified(svc, client, make_bank, make_customer, mint,
                                                                 frozen, audit_rows) -> None:
    make_bank("0002", "デモ商工信用組合", prefix="NTTD")
    make_customer("0002", "2000000001")
    token = mint("0002")
    cs.register(svc, "0002", "2000000001", token.credential_id, token.code(T0), CLIENT, now=T0)
    key = bank_service.create_api_key(svc, "0002")
    assert client.delete("/api/v1/customers/2000000001/credential",
                         headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert json.loads(audit_rows("credential.stop")[-1].detail) == {"via": "api", "notice": "no-address"}


def test_the_cooling_off_shows_in_the_api_and_in_signed_results(svc, browser, client, make_bank, make_customer,
                                                                mint, frozen) -> None:
    _token, key = bank_with(make_bank, make_customer, mint, svc, "lost-phone", cooloff=24)
    auth = {"Authorization": f"Bearer {key}"}
    before = client.get("/api/v1/customers/2000000001", headers=auth).get_json()
    assert (before["otp_removed_at"], before["otp_removed_recently"]) == (None, False)
    browser.get("/b/0002/stop")
    browser.post("/b/0002/stop", {"contract_id": "2000000001", "password": PASSWORD})
    assert browser.post("/b/0002/stop/confirm", {"confirmation_password": CONFIRMATION}).screen() == "VST003"
    after = client.get("/api/v1/customers/2000000001", headers=auth).get_json()
    assert after["otp_removed_at"] == "2026-11-23T03:01:15Z" and after["otp_removed_recently"] is True
    result_key = results.create_result_key(svc, "0002")
    claims = jwt.decode(results.issue(svc, "0002", flow="register", result="registered", contract_id="2000000001",
                                      token_id=None, mode="redirect", target="https://ib.example.jp/r"),
                        result_key.key, algorithms=["HS256"], audience="0002")
    assert claims["otp_removed_recently"] is True and claims["otp_removed_at"] == int(LATER.timestamp())
    frozen.shift(dt.timedelta(hours=24))
    later = client.get("/api/v1/customers/2000000001", headers=auth).get_json()
    assert later["otp_removed_recently"] is False and later["otp_removed_at"] == "2026-11-23T03:01:15Z"


def test_without_a_cooling_off_nothing_is_recent(svc, client, make_bank, make_customer, mint, frozen) -> None:
    _token, key = bank_with(make_bank, make_customer, mint, svc, "lost-phone")
    auth = {"Authorization": f"Bearer {key}"}
    client.delete("/api/v1/customers/2000000001/credential", headers=auth)
    shown = client.get("/api/v1/customers/2000000001", headers=auth).get_json()
    assert shown["otp_removed_recently"] is False and shown["otp_removed_at"] is not None


def test_bank_update_sets_the_policy_and_the_cooling_off(svc, bank) -> None:
    view = bank_service.update_bank(svc, "0001", removal_policy="code", stop_cooloff_hours=48)
    assert (view.removal_policy, view.stop_cooloff_hours, view.removal_needs_code) == ("code", 48, True)
    assert bank_service.add_bank(svc, "0003", "新しい銀行", prefix="NEWB").removal_policy == "lost-phone"
    for bad in ({"removal_policy": "never"}, {"stop_cooloff_hours": -1}, {"stop_cooloff_hours": 169}):
        with pytest.raises(InvalidInput):
            bank_service.update_bank(svc, "0001", **bad)
