"""VRG002's wrong tries: one answer for every unusable token and a wrong code, counted against the customer and
the session (never the token), the flow starting over after five."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from sqlalchemy import select, update

from gateway.domain.errors import GatewayError
from gateway.services import credentials as cs
from gateway.storage.models import Credential, Customer
from tests.conftest import PASSWORD, Token
from tests.services.conftest import CLIENT, credential_row

pytestmark = pytest.mark.db
T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)  # 12:00 in Tokyo
ONE_ANSWER = "トークンIDまたはワンタイムパスワードが正しくありません。(E0202)"


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def authenticate(b):  # type: ignore[no-untyped-def]
    b.get("/b/0001/register")
    return b.post("/b/0001/register", {"contract_id": "1000000001", "password": PASSWORD})


def post_token(b, token_id, otp):  # type: ignore[no-untyped-def]
    return b.post("/b/0001/register/token", {"token_id": token_id, "otp": otp})


def wrong(token: Token, at: dt.datetime) -> str:
    near = {token.code(at, steps) for steps in range(-12, 13)}
    return next(code for code in ("000000", "111111", "222222") if code not in near)


def answer(page) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """What the page says: its visible text, and the form as rendered without the values typed."""
    form = re.search(r'(?s)<form method="post" action="/b/0001/register/token".*?</form>', page.text)
    assert form is not None
    return page.visible, re.sub(r'\svalue="[^"]*"', "", form.group(0))


def set_columns(svc, token_id: str, **values: object) -> None:  # type: ignore[no-untyped-def]
    with svc.db.transaction() as session:
        session.execute(update(Credential).where(Credential.credential_id == token_id).values(**values))


def test_every_unusable_token_and_a_wrong_code_get_one_answer(svc, browser, customer, make_customer, token, mint,
                                                              frozen) -> None:
    make_customer(contract_id="1000000002")
    bound, reserved, locked, revoked, expired, used = (mint() for _ in range(6))
    before = T0 - dt.timedelta(minutes=5)
    cs.register(svc, "0001", "1000000002", bound.credential_id, bound.code(before), CLIENT, now=before)
    with svc.db.reading() as session:
        other_id = session.scalar(select(Customer.id).where(Customer.contract_id == "1000000002"))
    set_columns(svc, reserved.credential_id, customer_id=other_id)  # held for another customer's issuance
    set_columns(svc, locked.credential_id, failure_count=10, locked_at=T0 - dt.timedelta(days=1))
    set_columns(svc, revoked.credential_id, state="revoked", revoked_at=T0 - dt.timedelta(days=1))
    set_columns(svc, expired.credential_id, expires_at=T0 - dt.timedelta(days=1))
    set_columns(svc, used.credential_id, last_step=int(T0.timestamp()) // 30)  # its current code is used up
    cases = {
        "unknown": ("SYMC00000000", token.code(T0)),
        "bound elsewhere": (bound.credential_id, bound.code(T0)),
        "reserved for another": (reserved.credential_id, reserved.code(T0)),
        "locked": (locked.credential_id, locked.code(T0)),
        "revoked": (revoked.credential_id, revoked.code(T0)),
        "expired": (expired.credential_id, expired.code(T0)),
        "replayed": (used.credential_id, used.code(T0)),
        "wrong code": (token.credential_id, wrong(token, T0)),
    }
    answers = {}
    for failures, (case, (token_id, otp)) in enumerate(cases.items()):
        if failures:
            frozen.shift(2 ** (failures - 1))  # past the wait the last wrong try asked for
        assert authenticate(browser).screen() == "VRG002"  # a fresh flow each time: five tries end one
        page = post_token(browser, token_id, otp)
        assert page.screen() == "VRG002" and ONE_ANSWER in page.visible, case
        answers[case] = answer(page)
    assert len(set(answers.values())) == 1, answers
    for bystander in (reserved, locked, revoked, expired, used):
        assert credential_row(svc, bystander.credential_id).failure_count == (10 if bystander is locked else 0)


def test_five_wrong_tries_in_one_flow_start_it_over(svc, browser, customer, token, frozen) -> None:
    authenticate(browser)
    for tries in range(1, 5):
        page = post_token(browser, token.credential_id, wrong(token, T0))
        assert page.screen() == "VRG002" and ONE_ANSWER in page.visible
        frozen.shift(2 ** (tries - 1))
    page = post_token(browser, token.credential_id, wrong(token, T0))
    assert page.screen() == "VRG001"
    assert "(E0215)" in page.visible and "最初からやり直してください" in page.visible
    assert browser.get("/b/0001/register/token").screen() == "VRG001"  # the flow is gone
    frozen.shift(16)
    assert authenticate(browser).screen() == "VRG002"  # the password again, and the customer may go on
    now = dt.datetime.now(dt.UTC)
    assert post_token(browser, token.credential_id, token.code(now)).screen() == "VRG003"


def test_a_throttled_try_is_asked_to_wait(browser, customer, token, frozen) -> None:
    authenticate(browser)
    post_token(browser, token.credential_id, wrong(token, T0))
    frozen.shift(0.5)
    page = post_token(browser, token.credential_id, token.code(T0))
    assert page.screen() == "VRG002" and "(E0210)" in page.visible


def test_a_customer_locked_after_too_many_wrong_codes_is_told_so(svc, browser, customer, token, frozen) -> None:
    at = T0 - dt.timedelta(hours=1)
    for failure in range(1, 11):
        with pytest.raises(GatewayError):
            cs.register(svc, "0001", "1000000001", token.credential_id, wrong(token, at), CLIENT, now=at)
        at += dt.timedelta(seconds=2 ** (failure - 1))
    authenticate(browser)
    page = post_token(browser, token.credential_id, token.code(T0))
    assert page.screen() == "VRG002" and "(E0216)" in page.visible
    assert "お取引店へお問い合わせください" in page.visible
    assert credential_row(svc, token.credential_id).state == "available"
