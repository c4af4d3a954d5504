"""Inside IB (seeds 000–003): BOP001, issuance with its mail, set-up page, start use, release, re-issue."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import time_machine

from tests.conftest import CONFIRMATION, PASSWORD, Token
from tests.services.conftest import pending_mails

pytestmark = pytest.mark.db
T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)  # 12:00:15 in Tokyo


@pytest.fixture
def ntt(make_bank, make_customer):  # type: ignore[no-untyped-def]
    make_bank("0002", "デモ商工信用組合", prefix="NTTD", period=60, service_id="10112180", contact="024-991-1000",
              removal_policy="code")
    return make_customer("0002", "2000000001")


def login(b, contract_id="2000000001"):  # type: ignore[no-untyped-def]
    b.get("/b/0002/")
    return b.post("/b/0002/", {"contract_id": contract_id, "password": PASSWORD})


def outbox_mails(app_config) -> list[email.message.EmailMessage]:  # type: ignore[no-untyped-def]
    folder = Path(app_config["INSTANCE_PATH"]) / "outbox"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))]


@pytest.mark.parametrize("agent", ["browser", "phone"])
def test_the_whole_journey(request, app_config, ntt, agent) -> None:
    b = request.getfixturevalue(agent)
    with time_machine.travel(T0, tick=False) as clock:
        assert login(b).screen() == "TOP001"
        page = b.get("/b/0002/ib/otp")
        assert page.screen() == "BOP001" and "登録状況 未登録" in page.visible
        assert "1分毎に更新される使い捨てのパスワード" in page.visible
        assert 'href="/b/0002/ib/otp/issue"' in page.text and 'href="/b/0002/ib/otp/start"' not in page.text

        page = b.get("/b/0002/ib/otp/issue")
        assert page.screen() == "BOT001" and "送付先メールアドレスの指定" in page.visible
        page = b.post("/b/0002/ib/otp/issue", {"email": "taro@example.jp", "email_confirm": "taro@example.jp",
                                               "activation_password": "1234", "activation_confirm": "1234"})
        assert page.screen() == "BOT003" and "taro@example.jp" in page.visible
        page = b.post("/b/0002/ib/otp/issue/confirm", {"confirmation_password": CONFIRMATION})
        assert page.screen() == "BOT002" and "トークン発行を受け付けました。" in page.visible
        user_id = re.search(r"ユーザID (\d{12})", page.visible).group(1)
        assert "サービスID 10112180" in page.visible

        (guide,) = outbox_mails(app_config)
        assert guide["Subject"] == "トークン発行のご案内" and guide["To"] == "taro@example.jp"
        assert f"ユーザID : {user_id}" in guide.get_body().get_content()
        assert "登録状況 トークン発行済" in b.get("/b/0002/ib/otp").visible

        # The set-up page (what the token app does), then the app's code starts OTP use.
        b.get("/b/0002/token/setup")
        page = b.post("/b/0002/token/setup", {"service_id": "10112180", "user_id": user_id,
                                              "activation_password": "1234", "agree": "y"})
        assert "data:image/svg+xml" in page.text and "NTTD" in page.visible
        uri_secret = re.search(r'setup__secret">([A-Z2-7]+)<', page.text).group(1)
        token = Token("x", base64.b32decode(uri_secret + "=" * (-len(uri_secret) % 8)), period=60)
        login(b)
        page = b.get("/b/0002/ib/otp/start")
        assert page.screen() == "BOK001"
        page = b.post("/b/0002/ib/otp/start", {"otp": token.code(T0)})
        assert page.screen() == "BOK002" and "ワンタイムパスワード利用開始登録を受けました。" in page.visible
        assert outbox_mails(app_config)[-1]["Subject"] == "ワンタイムパスワード利用開始のお知らせ"

        # From now on login asks for the code.
        clock.shift(dt.timedelta(minutes=1))
        assert login(b).screen() == "LGN002"
        assert b.post("/b/0002/login/otp", {"otp": token.code(T0 + dt.timedelta(minutes=1))}).screen() == "TOP001"

        # Release: 確認用パスワード and the code (bank policy), the 20万円 notice.
        clock.shift(dt.timedelta(minutes=1))
        page = b.get("/b/0002/ib/otp/release")
        assert page.screen() == "BOS001" and "20万円まで引き下げます" in page.visible
        page = b.post("/b/0002/ib/otp/release", {"confirmation_password": CONFIRMATION,
                                                 "otp": token.code(T0 + dt.timedelta(minutes=2))})
        assert page.screen() == "BOS002" and "ワンタイムパスワード利用解除登録を受けました。" in page.visible
        assert "「トークンの削除」" in page.visible and "2026年11月24日以降" in page.visible
        page = b.get("/b/0002/ib/otp")
        assert "2026年11月24日以降" in page.visible and 'href="/b/0002/ib/otp/issue"' not in page.text
        assert login(b).screen() == "TOP001"  # no code any more
        clock.move_to(dt.datetime(2026, 11, 23, 15, 0, 5, tzinfo=dt.UTC))  # 00:00:05 next day in Tokyo
        login(b)
        assert 'href="/b/0002/ib/otp/issue"' in b.get("/b/0002/ib/otp").text


@pytest.mark.parametrize(("data", "message"), [
    ({"email": "taro@", "email_confirm": "taro@", "activation_password": "1234", "activation_confirm": "1234"},
     "携帯電話メールアドレスの形式が正しくありません。"),
    ({"email": "taro@example.jp", "email_confirm": "jiro@example.jp", "activation_password": "1234",
      "activation_confirm": "1234"}, "携帯電話メールアドレスと確認用の入力が一致しません。"),
    ({"email": "taro@example.jp", "email_confirm": "taro@example.jp", "activation_password": "12a4",
      "activation_confirm": "12a4"}, "利用開始パスワードは4~8桁の数字で入力して下さい。"),
    ({"email": "taro@example.jp", "email_confirm": "taro@example.jp", "activation_password": "1234",
      "activation_confirm": "1235"}, "利用開始パスワードと確認用の入力が一致しません。"),
])
def test_issuance_input_errors_change_nothing(browser, app_config, ntt, data, message) -> None:
    login(browser)
    browser.get("/b/0002/ib/otp/issue")
    page = browser.post("/b/0002/ib/otp/issue", data)
    assert page.screen() == "BOT001" and message in page.visible
    assert "登録状況 未登録" in browser.get("/b/0002/ib/otp").visible
    assert outbox_mails(app_config) == []


def test_wrong_confirmation_password_and_cancel(browser, app_config, ntt) -> None:
    login(browser)
    browser.get("/b/0002/ib/otp/issue")
    browser.post("/b/0002/ib/otp/issue", {"email": "taro@example.jp", "email_confirm": "taro@example.jp",
                                          "activation_password": "1234", "activation_confirm": "1234"})
    page = browser.post("/b/0002/ib/otp/issue/confirm", {"confirmation_password": "wrong99"})
    assert page.screen() == "BOT003" and "(E0103)" in page.visible
    assert browser.get("/b/0002/ib/otp").screen() == "BOP001"  # 申込を中止する
    assert browser.get("/b/0002/ib/otp/issue/confirm").screen() == "BOP001"  # abandoned: no way back in
    assert outbox_mails(app_config) == []


def test_menu_needs_a_completed_login(browser, ntt) -> None:
    assert browser.get("/b/0002/ib/otp").screen() == "LGN001"
    assert browser.get("/b/0002/ib/otp/start").screen() == "LGN001"


def test_setup_page_refuses_wrong_values_and_needs_consent(browser, ntt) -> None:
    browser.get("/b/0002/token/setup")
    page = browser.post("/b/0002/token/setup", {"service_id": "10112180", "user_id": "999800000000",
                                                "activation_password": "1234"})
    assert "「上記の内容に同意する」にチェックを入れてください。" in page.visible
    page = browser.post("/b/0002/token/setup", {"service_id": "10112180", "user_id": "999800000000",
                                                "activation_password": "1234", "agree": "y"})
    assert "サービスID、ユーザIDまたは利用開始パスワードが正しくありません。(E0302)" in page.visible
    assert "data:image/svg+xml" not in page.text


def test_otpauth_uri_in_the_qr_matches_the_bank(browser, app_config, ntt, svc) -> None:
    from gateway.services import issuance
    from tests.services.conftest import CLIENT

    issued = issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT)
    provisioned = issuance.provision(svc, issued.service_id, issued.user_id, "1234", CLIENT)
    uri = urlparse(provisioned.otpauth_uri)
    assert unquote(uri.path).startswith("/デモ商工信用組合:NTTD")
    assert parse_qs(uri.query)["period"] == ["60"]


@pytest.fixture
def provisioned(svc, ntt):  # type: ignore[no-untyped-def]
    from gateway.services import issuance
    from tests.services.conftest import CLIENT

    issued = issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT)
    data = issuance.provision(svc, issued.service_id, issued.user_id, "1234", CLIENT)
    return Token(data.credential_id, base64.b32decode(data.secret + "=" * (-len(data.secret) % 8)), period=60)


@pytest.mark.parametrize(("otp", "message"), [("", "ワンタイムパスワードを入力してください。"),
                                              ("12a456", "半角数字6桁"), ("000000", "(E0206)")])
def test_start_use_bad_codes_change_nothing(browser, provisioned, otp, message) -> None:
    login(browser)
    browser.get("/b/0002/ib/otp/start")
    page = browser.post("/b/0002/ib/otp/start", {"otp": otp if otp != "000000" or provisioned.code() != otp
                                                 else "111111"})
    assert page.screen() == "BOK001" and message in page.visible
    assert "登録状況 トークン発行済" in browser.get("/b/0002/ib/otp").visible


def test_release_bad_inputs_change_nothing(svc, browser, provisioned) -> None:
    from gateway.services import issuance
    from tests.services.conftest import CLIENT

    with time_machine.travel(T0, tick=False) as clock:
        issuance.start_use(svc, "0002", "2000000001", provisioned.code(T0), CLIENT)
        clock.shift(dt.timedelta(minutes=1))
        login(browser)
        assert login(browser).screen() == "LGN002"
        browser.post("/b/0002/login/otp", {"otp": provisioned.code(T0 + dt.timedelta(minutes=1))})
        browser.get("/b/0002/ib/otp/release")
        page = browser.post("/b/0002/ib/otp/release", {"confirmation_password": CONFIRMATION, "otp": ""})
        assert page.screen() == "BOS001" and "ワンタイムパスワードを入力してください。" in page.visible
        page = browser.post("/b/0002/ib/otp/release", {"confirmation_password": "wrong99",
                                                       "otp": provisioned.code(T0 + dt.timedelta(minutes=2))})
        assert page.screen() == "BOS001" and "(E0103)" in page.visible
        assert "登録状況 利用中" in browser.get("/b/0002/ib/otp").visible


def test_a_stopped_mail_server_is_reported_and_the_mail_kept(app_config, smtp, ntt) -> None:
    from gateway import create_app
    from gateway.web.context import app_services
    from tests.web.conftest import Browser

    app = create_app({**app_config, "MAIL_URL": smtp.url})
    b = Browser(app.test_client())
    smtp.stop()
    login(b)
    b.get("/b/0002/ib/otp/issue")
    b.post("/b/0002/ib/otp/issue", {"email": "taro@example.jp", "email_confirm": "taro@example.jp",
                                    "activation_password": "1234", "activation_confirm": "1234"})
    page = b.post("/b/0002/ib/otp/issue/confirm", {"confirmation_password": CONFIRMATION})
    assert page.screen() == "BOT002" and "メールの送信が遅れています" in page.visible and "(W0301)" in page.visible
    assert pending_mails(app_services(app)) == 1
    smtp.start()
    assert list(app_services(app).mailer.deliver_pending().values()) == ["sent"]
    assert smtp.messages[-1]["Subject"] == "トークン発行のご案内"
    app_services(app).db.dispose()
