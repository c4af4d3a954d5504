"""Inside IB in a real browser, both layouts: login → トークン発行 → the mail from a real SMTP server →
set-up through the token-app API → 利用開始 with a code → login with a code → 利用解除."""

from __future__ import annotations

import datetime as dt
import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from gateway import create_app
from gateway.web.context import app_services
from tests.browser.conftest import DESKTOP, IPHONE
from tests.browser.test_customer_flows import Shots, screen
from tests.conftest import CONFIRMATION, PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.db]


@pytest.fixture
def app(app_config, smtp):  # type: ignore[no-untyped-def]
    application = create_app({**app_config, "MAIL_URL": smtp.url})
    yield application
    app_services(application).db.dispose()


def login(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/b/0002/")
    page.get_by_label("契約者ID").fill("2000000001")
    page.get_by_label("ログインパスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()


class Phone:
    """The token app: its next codes. It may run a step or two ahead; the verifier's window and the drift
    it records follow it, so the test need not wait a minute between codes."""

    def __init__(self, totp: pyotp.TOTP) -> None:
        self.totp, self.ahead = totp, 0

    def next_code(self) -> str:
        code = self.totp.at(time.time() + self.ahead * self.totp.interval)
        self.ahead += 1
        return code


@pytest.mark.parametrize(("layout", "device"), [("pc", DESKTOP), ("sp", IPHONE)])
def test_issue_setup_start_release(chromium, live_server, smtp, make_bank, make_customer, layout, device) -> None:
    make_bank("0002", "デモ商工信用組合", prefix="NTTD", period=60, service_id="10112180", contact="024-991-1000",
              removal_policy="code")  # as demo bank 0002: 利用解除 needs the code
    make_customer("0002", "2000000001")
    base = live_server
    context = chromium.new_context(locale="ja-JP", **device)
    page = context.new_page()
    shots = Shots(page, f"ib-{layout}")

    login(page, base)
    screen(page, "TOP001")
    page.get_by_role("link", name="ワンタイムパスワード申請").click()
    screen(page, "BOP001")
    expect(page.locator(".otp-status")).to_have_text("未登録")
    expect(page.get_by_text("ワンタイムパスワード利用開始", exact=True)).to_have_attribute("aria-disabled", "true")
    shots.take("BOP001-none")
    page.get_by_role("link", name="トークン発行").click()

    screen(page, "BOT001")
    page.get_by_label("携帯電話メールアドレス", exact=True).fill("taro@example.jp")
    page.get_by_label("携帯電話メールアドレス(確認用)").fill("taro@example.jp")
    page.get_by_label("利用開始パスワード", exact=True).fill("2468")
    page.get_by_label("利用開始パスワード(確認用)").fill("2468")
    shots.take("BOT001-input")
    page.get_by_role("button", name="次へ").click()
    screen(page, "BOT003")
    expect(page.locator(".email")).to_have_text("taro@example.jp")
    page.get_by_label("確認用パスワード").fill(CONFIRMATION)
    shots.take("BOT003-confirm")
    page.get_by_role("button", name="確定する").click()
    screen(page, "BOT002")
    expect(page.get_by_text("トークン発行を受け付けました。")).to_be_visible()
    shots.take("BOT002-done")

    # The mail, from the real SMTP server.
    guide = smtp.messages[-1]
    assert guide["Subject"] == "トークン発行のご案内"
    text = guide.get_body().get_content()
    service_id = re.search(r"サービスID : (\d+)", text).group(1)
    user_id = re.search(r"ユーザID : (\d+)", text).group(1)
    expect(page.locator(".user-id")).to_have_text(user_id)

    # The token app: the API with the three values; codes from the returned secret.
    response = page.request.post(f"{base}/api/v1/provision", data={
        "service_id": service_id, "user_id": user_id, "activation_password": "2468"})
    assert response.status == 200
    totp = pyotp.parse_uri(response.json()["otpauth_uri"])
    assert totp.interval == 60
    phone = Phone(totp)

    page.get_by_role("link", name="ワンタイムパスワード申請内容選択へ").click()
    screen(page, "BOP001")
    expect(page.locator(".otp-status")).to_have_text("トークン発行済")
    page.get_by_role("link", name="ワンタイムパスワード利用開始").click()
    screen(page, "BOK001")
    page.get_by_label("ワンタイムパスワード").fill(phone.next_code())
    shots.take("BOK001-code")
    page.get_by_role("button", name="利用開始する").click()
    screen(page, "BOK002")
    expect(page.get_by_text("ワンタイムパスワード利用開始登録を受けました。")).to_be_visible()
    shots.take("BOK002-done")
    assert smtp.messages[-1]["Subject"] == "ワンタイムパスワード利用開始のお知らせ"

    # Login now asks for the code.
    login(page, base)
    screen(page, "LGN002")
    page.get_by_label("ワンタイムパスワード").fill(phone.next_code())
    page.get_by_role("button", name="認証").click()
    screen(page, "TOP001")

    # 利用解除 with the code (this bank's policy), then re-issue waits for tomorrow.
    page.get_by_role("link", name="ワンタイムパスワード申請").click()
    expect(page.locator(".otp-status")).to_have_text("利用中")
    page.get_by_role("link", name="ワンタイムパスワード利用解除").click()
    screen(page, "BOS001")
    expect(page.get_by_text("20万円まで引き下げます", exact=False)).to_be_visible()
    page.get_by_label("確認用パスワード").fill(CONFIRMATION)
    page.get_by_label("ワンタイムパスワード").fill(phone.next_code())
    shots.take("BOS001-confirm")
    page.get_by_role("button", name="解除する").click()
    screen(page, "BOS002")
    expect(page.get_by_text("ワンタイムパスワード利用解除登録を受けました。")).to_be_visible()
    shots.take("BOS002-done")
    page.get_by_role("link", name="トップページへ").click()
    page.get_by_role("link", name="ワンタイムパスワード申請").click()
    tomorrow = (dt.datetime.now(dt.timezone(dt.timedelta(hours=9))) + dt.timedelta(days=1)).date()
    expect(page.get_by_text(f"トークン発行は{tomorrow.year}年{tomorrow.month}月{tomorrow.day}日以降")).to_be_visible()
    shots.take("BOP001-released")
    context.close()
