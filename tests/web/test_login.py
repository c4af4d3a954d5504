"""LGN001 / LGN002 / top page / logout through the test client, both layouts."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from gateway.services import credentials as cs
from tests.conftest import PASSWORD
from tests.services.conftest import CLIENT

pytestmark = pytest.mark.db
T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def registered(svc, customer, token):  # type: ignore[no-untyped-def]
    at = T0 - dt.timedelta(minutes=5)
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(at), CLIENT, now=at)
    return token


def login(b, password=PASSWORD, contract_id="1000000001"):  # type: ignore[no-untyped-def]
    b.get("/b/0001/")
    return b.post("/b/0001/", {"contract_id": contract_id, "password": password})


@pytest.mark.parametrize("agent", ["browser", "phone"])
def test_login_page_in_both_layouts(request, bank, agent) -> None:
    b = request.getfixturevalue(agent)
    page = b.get("/")
    assert page.screen() == "LGN001"
    for text in ("契約者ID", "ログインパスワード", "ログイン", "ワンタイムパスワードの新規登録はこちらから", "利用停止",
                 "ソフトウェアキーボード入力", "画面ID : LGN001"):
        assert text in page.text
    assert ("layout-sp" in page.text) == (agent == "phone")


def test_without_otp_login_goes_straight_to_the_top_page(browser, customer) -> None:
    page = login(browser)
    assert page.screen() == "TOP001"
    for text in ("トップページ", "各種お申込・お手続き", "ワンタイムパスワード申請", "ログアウト"):
        assert text in page.text


@pytest.mark.parametrize(("contract_id", "password"), [("1000000001", "wrong-pass"), ("1999999999", PASSWORD)])
def test_wrong_password_and_unknown_id_get_one_message(browser, customer, contract_id, password) -> None:
    page = login(browser, password, contract_id)
    assert page.screen() == "LGN001"
    assert "契約者IDまたはログインパスワードが正しくありません。(E0101)" in page.text


def test_locked_customer_is_told_only_with_the_right_password(browser, customer) -> None:
    for _ in range(5):
        login(browser, "wrong-pass")
    assert "(E0101)" in login(browser, "wrong-pass").text
    assert "ご利用を停止しています。お取引店へお問い合わせください。(E0102)" in login(browser).text


@pytest.mark.parametrize(("data", "message"), [
    ({"contract_id": "", "password": ""}, "契約者IDを入力してください。"),
    ({"contract_id": "1000-0001", "password": "x"}, "契約者IDは半角英数字で入力してください。"),
])
def test_login_form_errors(browser, bank, data, message) -> None:
    browser.get("/b/0001/")
    page = browser.post("/b/0001/", data)
    assert message in page.text and 'role="alert"' in page.text


def test_active_otp_asks_for_the_code_and_ids_change_at_each_step(browser, registered, frozen) -> None:
    browser.get("/b/0001/")
    before = browser.session_cookie()
    page = login(browser)
    assert page.screen() == "LGN002" and "ワンタイムパスワード認証画面" in page.text
    after_password = browser.session_cookie()
    assert after_password and after_password != before
    assert 'inputmode="numeric"' in page.text and 'autocomplete="one-time-code"' in page.text
    assert "maxlength=" in page.text
    # Between password and code nothing protected is reachable.
    assert browser.get("/b/0001/top").screen() == "LGN001"
    page = login(browser)
    wide = registered.code(T0).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    page = browser.post("/b/0001/login/otp", {"otp": wide})
    assert page.screen() == "TOP001"
    after_code = browser.session_cookie()
    assert after_code not in (before, after_password)


def test_old_session_id_no_longer_works(client, browser, registered, frozen) -> None:
    login(browser)
    old = browser.session_cookie()
    browser.post("/b/0001/login/otp", {"otp": registered.code(T0)})
    assert browser.get("/b/0001/top").screen() == "TOP001"
    client.set_cookie("gw_session", old)
    assert browser.get("/b/0001/top").screen() == "LGN001"


@pytest.mark.parametrize(("steps", "code", "message"), [
    (0, "000000", "ワンタイムパスワードが正しくありません。(E0206)"),
    (-4, None, "スマートフォンの日時が正しいかご確認ください。(約2分ずれている可能性があります)(E0208)"),
    (0, "12345", "ワンタイムパスワードは半角数字6桁で入力してください。"),
])
def test_code_outcomes(browser, registered, frozen, steps, code, message) -> None:
    login(browser)
    page = browser.post("/b/0001/login/otp", {"otp": code or registered.code(T0, steps)})
    assert page.screen() == "LGN002" and message in page.text


def test_used_code_and_throttle(browser, registered, frozen) -> None:
    login(browser)
    assert browser.post("/b/0001/login/otp", {"otp": registered.code(T0)}).screen() == "TOP001"
    browser.post("/b/0001/logout")
    login(browser)
    page = browser.post("/b/0001/login/otp", {"otp": registered.code(T0)})
    assert "既に使用されています" in page.text and "(E0207)" in page.text
    page = browser.post("/b/0001/login/otp", {"otp": registered.code(T0, 1)})  # too soon after a failure
    assert "(E0210)" in page.text


def test_clock_hint_offers_resync_which_completes_the_login(browser, registered, frozen) -> None:
    login(browser)
    page = browser.post("/b/0001/login/otp", {"otp": registered.code(T0, 5)})
    assert "(E0208)" in page.text and "トークンの時刻合わせ" in page.text
    frozen.shift(dt.timedelta(seconds=2))
    page = browser.post("/b/0001/login/resync", {"resync-otp1": registered.code(T0, 6),
                                                 "resync-otp2": registered.code(T0, 7)})
    assert page.screen() == "TOP001" and "(00004)" in page.text


def test_logout_ends_the_session_on_the_server(client, browser, customer) -> None:
    login(browser)
    cookie = browser.session_cookie()
    assert browser.get("/b/0001/top").screen() == "TOP001"
    page = browser.post("/b/0001/logout")
    assert page.screen() == "LGN001"
    client.set_cookie("gw_session", cookie)
    assert browser.get("/b/0001/top").screen() == "LGN001"


def test_post_routes_refuse_get(browser, bank) -> None:
    assert browser.get("/b/0001/logout").status == 405
    assert browser.get("/b/0001/login/resync").status == 405


def test_forms_without_csrf_token_change_nothing(browser, customer, audit_rows) -> None:
    before = len(audit_rows())
    browser.get("/b/0001/")
    page = browser.post("/b/0001/", {"contract_id": "1000000001", "password": PASSWORD}, csrf=False)
    assert page.screen() == "LGN001" and "(E0904)" in page.text
    assert len(audit_rows()) == before


def test_idle_session_ends_with_the_message(browser, registered) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        login(browser)
        traveller.shift(dt.timedelta(seconds=601))
        page = browser.post("/b/0001/login/otp", {"otp": registered.code(T0 + dt.timedelta(seconds=601))})
    assert page.screen() == "LGN001" and "時間経過にて強制ログオフされました" in page.text


def test_view_override_is_remembered(phone, bank) -> None:
    assert "layout-sp" in phone.get("/b/0001/").text
    assert "layout-pc" in phone.get("/b/0001/?view=pc").text
    assert "layout-pc" in phone.get("/b/0001/register").text


def test_unknown_bank_is_a_japanese_404(browser) -> None:
    page = browser.get("/b/9999/")
    assert page.status == 404 and "お探しのページは見つかりませんでした。" in page.text


@pytest.mark.parametrize(("path", "location"), [
    ("/b/0001/login", "/b/0001/"),
    ("/b/0001/login?view=sp", "/b/0001/?view=sp"),
])
def test_the_address_people_type_leads_to_the_login_page(client, browser, bank, path, location) -> None:
    response = client.get(path)
    assert response.status_code == 301 and response.headers["Location"] == location
    assert browser.get(path).screen() == "LGN001"
