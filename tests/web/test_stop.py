"""VST001–VST003: stop use from the login page; then login asks for no code."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from gateway.services import credentials as cs
from tests.conftest import CONFIRMATION, PASSWORD
from tests.services.conftest import CLIENT, credential_row

pytestmark = pytest.mark.db
T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)


@pytest.fixture
def registered(svc, customer, token):  # type: ignore[no-untyped-def]
    at = T0 - dt.timedelta(minutes=5)
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(at), CLIENT, now=at)
    return token


def authenticate(b):  # type: ignore[no-untyped-def]
    b.get("/b/0001/stop")
    return b.post("/b/0001/stop", {"contract_id": "1000000001", "password": PASSWORD})


@pytest.mark.parametrize("agent", ["browser", "phone"])
def test_stop_use_then_login_without_a_code(request, svc, registered, agent) -> None:
    b = request.getfixturevalue(agent)
    with time_machine.travel(T0, tick=False):
        assert b.get("/b/0001/stop").screen() == "VST001"
        page = authenticate(b)
        assert page.screen() == "VST002"
        masked = registered.credential_id[:4] + "****" + registered.credential_id[-4:]
        assert masked in page.visible and registered.credential_id not in page.text
        assert "確認用パスワード" in page.visible
        page = b.post("/b/0001/stop/confirm", {"confirmation_password": CONFIRMATION})
        assert page.screen() == "VST003"
        assert "ワンタイムパスワードの利用停止が完了しました。(00002)" in page.visible
        assert "2026年11月24日以降" in page.visible
    assert credential_row(svc, registered.credential_id).state == "revoked"
    b.get("/b/0001/")
    page = b.post("/b/0001/", {"contract_id": "1000000001", "password": PASSWORD})
    assert page.screen() == "TOP001"


def test_wrong_confirmation_password(browser, registered) -> None:
    authenticate(browser)
    page = browser.post("/b/0001/stop/confirm", {"confirmation_password": "wrong123"})
    assert page.screen() == "VST002" and "確認用パスワードが正しくありません。(E0103)" in page.visible


def test_customer_without_a_token(browser, customer) -> None:
    page = authenticate(browser)
    assert page.screen() == "VST001" and "(E0212)" in page.visible


def test_bank_policy_asks_for_the_code(svc, browser, make_bank, make_customer, mint) -> None:
    make_bank("0001", removal_policy="code")
    make_customer()
    token = mint()
    at = T0 - dt.timedelta(minutes=5)
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(at), CLIENT, now=at)
    with time_machine.travel(T0, tick=False) as traveller:
        page = authenticate(browser)
        assert "ワンタイムパスワード" in page.visible and 'autocomplete="one-time-code"' in page.text
        page = browser.post("/b/0001/stop/confirm", {"confirmation_password": CONFIRMATION, "otp": "000000"})
        assert page.screen() == "VST002" and "(E0206)" in page.visible
        assert credential_row(svc, token.credential_id).state == "active"
        traveller.shift(2)  # past the one-second wait a wrong code earns
        page = browser.post("/b/0001/stop/confirm", {"confirmation_password": CONFIRMATION,
                                                      "otp": token.code(T0 + dt.timedelta(seconds=30))})
    assert page.screen() == "VST003"


def test_confirm_step_cannot_be_reached_directly(browser, registered) -> None:
    page = browser.get("/b/0001/stop/confirm")
    assert page.screen() == "VST001" and "(E0902)" in page.visible
