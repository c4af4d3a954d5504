"""VRG001–VRG003: registration from the login page, every outcome, both layouts."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import update

from gateway.services import credentials as cs
from gateway.services import removal
from gateway.storage.models import Credential
from tests.conftest import PASSWORD
from tests.services.conftest import CLIENT, credential_row

pytestmark = pytest.mark.db
T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)  # 12:00 in Tokyo


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def authenticate(b, contract_id="1000000001", password=PASSWORD):  # type: ignore[no-untyped-def]
    b.get("/b/0001/register")
    return b.post("/b/0001/register", {"contract_id": contract_id, "password": password})


@pytest.mark.parametrize(("agent", "sep", "buttons", "done_button"), [
    ("browser", ">>", "ログイン画面に戻る 登録", "ログイン画面に戻る"),
    ("phone", ">", "中止 登録", "ログイン画面"),
])
def test_registration_in_both_layouts(request, svc, customer, token, frozen, audit_rows, agent, sep, buttons,
                                      done_button) -> None:
    b = request.getfixturevalue(agent)
    page = b.get("/b/0001/register")
    assert page.screen() == "VRG001"
    assert f"ワンタイムパスワード利用登録 利用者認証 {sep} ワンタイムパスワード登録情報入力 {sep} 処理結果" in page.visible
    assert "契約者ID、ログインパスワードを入力し、「次へ」ボタンを押してください。" in page.text
    page = authenticate(b)
    assert page.screen() == "VRG002"
    assert "ご利用を開始するワンタイムパスワードの利用登録" in page.text
    assert "トークンID、ワンタイムパスワードを入力し、「登録」ボタンを押してください。" in page.text
    assert buttons in page.visible
    assert ("(30秒間に数字が変更されます。)" in page.text) == (agent == "phone")
    page = b.post("/b/0001/register/token", {"token_id": token.credential_id.lower(), "otp": token.code(T0)})
    assert page.screen() == "VRG003"
    assert "ワンタイムパスワードの利用登録が完了しました。" in page.visible
    assert page.visible.count(done_button) >= 1
    assert "次回のログインから「契約者ID」「ログインパスワード」に加え、「ワンタイムパスワード」が必要となります。" in page.text
    if agent == "phone":
        assert "(00001)" in page.text
    assert credential_row(svc, token.credential_id).state == "active"
    registered = [r for r in audit_rows("credential.register") if r.result == "ok"]
    assert registered and registered[-1].user_agent == b.user_agent


@pytest.fixture
def at_token_step(browser, customer, frozen):  # type: ignore[no-untyped-def]
    assert authenticate(browser).screen() == "VRG002"
    return browser


def post_token(b, token_id, otp):  # type: ignore[no-untyped-def]
    return b.post("/b/0001/register/token", {"token_id": token_id, "otp": otp})


@pytest.mark.parametrize(("token_id", "message"), [
    ("SYMC-1234-567$", "(E0201)"),
    ("", "トークンIDを入力してください。"),
    ("SYMC00000000", "トークンIDまたはワンタイムパスワードが正しくありません。(E0202)"),
])
def test_token_id_outcomes(at_token_step, token, token_id, message) -> None:
    page = post_token(at_token_step, token_id, token.code(T0))
    assert page.screen() == "VRG002" and message in page.text


def test_token_in_use_and_locked(svc, at_token_step, make_customer, mint, token, frozen) -> None:
    """Refused, with the one answer every unusable token gets (tests/web/test_register_failures.py)."""
    make_customer(contract_id="1000000002")
    other = mint()
    cs.register(svc, "0001", "1000000002", other.credential_id, other.code(T0), CLIENT, now=T0)
    page = post_token(at_token_step, other.credential_id, other.code(T0))
    assert page.screen() == "VRG002" and "トークンIDまたはワンタイムパスワードが正しくありません。(E0202)" in page.text
    with svc.db.transaction() as session:  # as if ten wrong codes had locked it
        session.execute(update(Credential).where(Credential.credential_id == token.credential_id)
                        .values(failure_count=10, locked_at=T0))
    frozen.shift(1)  # past the wait the wrong try asked for
    page = post_token(at_token_step, token.credential_id, token.code(T0))
    assert page.screen() == "VRG002" and "トークンIDまたはワンタイムパスワードが正しくありません。(E0202)" in page.text
    assert credential_row(svc, token.credential_id).state == "available"


@pytest.mark.parametrize(("steps", "message"), [
    (None, "トークンIDまたはワンタイムパスワードが正しくありません。(E0202)"),
    (-6, "スマートフォンの日時が正しいかご確認ください。(約3分ずれている可能性があります)(E0208)"),
])
def test_code_outcomes(at_token_step, token, steps, message) -> None:
    otp = "000000" if steps is None else token.code(T0, steps)
    page = post_token(at_token_step, token.credential_id, otp)
    assert page.screen() == "VRG002" and message in page.text


def test_already_registered_is_told_after_authentication(svc, browser, customer, token, frozen) -> None:
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(T0), CLIENT, now=T0)
    page = authenticate(browser)
    assert page.screen() == "VRG001" and "既にワンタイムパスワードの利用登録がされています。(E0211)" in page.text


def test_reregistration_too_soon_says_from_when(svc, browser, customer, token, mint, frozen) -> None:
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(T0), CLIENT, now=T0)
    removal.stop_use(svc, "0001", "1000000001", CLIENT, via=removal.API, now=T0)
    page = authenticate(browser)
    assert "翌日以降に再登録してください。(2026年11月24日から登録できます)(E0214)" in page.text
    frozen.move_to(dt.datetime(2026, 11, 23, 15, 0, 1, tzinfo=dt.UTC))  # 00:00:01 next day in Tokyo
    assert authenticate(browser).screen() == "VRG002"


def test_skipping_to_a_later_step_starts_over(browser, customer) -> None:
    page = browser.get("/b/0001/register/token")
    assert page.screen() == "VRG001" and "操作手順に誤りがあります。最初からやり直してください。(E0902)" in page.text
    assert browser.get("/b/0001/register/done").screen() == "VRG001"


def test_reload_and_double_submit_never_bind_twice(svc, at_token_step, token, audit_rows) -> None:
    data = {"token_id": token.credential_id, "otp": token.code(T0)}
    first = post_token(at_token_step, data["token_id"], data["otp"])
    assert first.screen() == "VRG003"
    again = post_token(at_token_step, data["token_id"], data["otp"])  # the browser re-sends the form
    assert again.screen() == "VRG003"
    assert at_token_step.get("/b/0001/register/done").screen() == "VRG003"  # reload
    assert len([r for r in audit_rows("credential.register") if r.result == "ok"]) == 1


def test_session_expiry_between_steps(browser, customer, token) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        authenticate(browser)
        traveller.shift(dt.timedelta(seconds=601))
        page = post_token(browser, token.credential_id, token.code(T0 + dt.timedelta(seconds=601)))
    assert page.screen() == "LGN001" or page.screen() == "VRG001"
    assert "時間経過にて強制ログオフされました" in page.text
    assert credential_row(browser.client.application.extensions["gateway"], token.credential_id).state == "available"


@pytest.mark.ratelimit
def test_too_many_requests_is_a_japanese_429(app_config, token, customer) -> None:
    from gateway import create_app
    from gateway.web.context import app_services
    from tests.web.conftest import Browser

    app = create_app({**app_config, "RATELIMIT_PER_CONTRACT": "3 per minute"})
    b = Browser(app.test_client())
    pages = [authenticate(b, password="wrong-pass") for _ in range(4)]
    assert [p.status for p in pages[:3]] == [200, 200, 200]
    assert pages[3].status == 429 and "ただいまアクセスが集中しています。" in pages[3].text
    app_services(app).db.dispose()


def test_clock_off_offers_registration_with_two_codes(svc, at_token_step, token, frozen) -> None:
    page = post_token(at_token_step, token.credential_id, token.code(T0, 5))
    assert "(E0208)" in page.visible and "トークンの時刻合わせ" in page.visible
    frozen.shift(2)  # each wrong try makes the next wait (1 s, then 2 s)
    page = at_token_step.post("/b/0001/register/resync", {
        "resync-token_id": token.credential_id, "resync-otp1": token.code(T0, 6), "resync-otp2": token.code(T0, 9)})
    assert page.screen() == "VRG002" and "(E0202)" in page.visible  # not consecutive: the one answer
    frozen.shift(3)
    page = at_token_step.post("/b/0001/register/resync", {
        "resync-token_id": token.credential_id, "resync-otp1": token.code(T0, 6), "resync-otp2": token.code(T0, 7)})
    assert page.screen() == "VRG003"
    row = credential_row(svc, token.credential_id)
    assert row.state == "active" and row.drift == 7
