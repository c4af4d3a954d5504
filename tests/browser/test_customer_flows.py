"""Click through registration → logout → login with a code → stop use → login without a code,
as a desktop browser and as an iPhone, reading the code from the demo token page as a person would."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, IPHONE, OUTPUT
from tests.conftest import CONFIRMATION, PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.db]


class Shots:
    def __init__(self, page: Page, layout: str) -> None:
        self.page, self.folder, self.count = page, OUTPUT / layout, 0
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()

    def take(self, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def screen(page: Page, screen_id: str) -> None:
    expect(page.locator(".site-footer__screen")).to_have_text(f"画面ID : {screen_id}")


def demo_code(page: Page, base: str, token_id: str, not_this: str | None = None) -> str:
    """Read the token's code off the demo token page; wait for the next one if `not_this` is showing."""
    demo = page.context.new_page()
    demo.goto(f"{base}/b/0001/demo/token")
    cell = demo.locator(f'tr[data-token="{token_id}"] .token-code')
    deadline = time.monotonic() + 65
    code = cell.inner_text().strip()
    while code == not_this and time.monotonic() < deadline:
        demo.wait_for_timeout(1000)  # the page refreshes itself every second
        code = cell.inner_text().strip()
    demo.close()
    assert re.fullmatch(r"\d{6}", code) and code != not_this
    return code


def login(page: Page, base: str) -> None:
    page.goto(f"{base}/b/0001/")
    page.get_by_label("契約者ID").fill("1000000001")
    page.get_by_label("ログインパスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()


@pytest.mark.parametrize(("layout", "device"), [("pc", DESKTOP), ("sp", IPHONE)])
def test_register_login_stop_login(chromium, live_server, customer, token, layout, device) -> None:
    base = live_server
    context = chromium.new_context(locale="ja-JP", **device)
    page = context.new_page()
    shots = Shots(page, layout)
    sep = ">>" if layout == "pc" else ">"

    # LGN001 → 「ワンタイムパスワードの新規登録はこちらから」
    page.goto(f"{base}/")
    screen(page, "LGN001")
    expect(page.get_by_role("link", name="利用停止")).to_be_visible()
    shots.take("LGN001-login")
    page.get_by_role("link", name="ワンタイムパスワードの新規登録はこちらから").click()

    # VRG001 利用者認証
    screen(page, "VRG001")
    expect(page.locator(".steps")).to_contain_text(sep)
    expect(page.get_by_text("契約者ID、ログインパスワードを入力し、「次へ」ボタンを押してください。")).to_be_visible()
    page.get_by_label("契約者ID").fill("1000000001")
    page.get_by_label("ログインパスワード").fill(PASSWORD)
    shots.take("VRG001-auth")
    page.get_by_role("button", name="次へ").click()

    # VRG002 登録情報入力: a wrong code first, then the demo token's code
    screen(page, "VRG002")
    expect(page.get_by_role("heading", name="ご利用を開始するワンタイムパスワードの利用登録")).to_be_visible()
    if layout == "sp":
        expect(page.get_by_text("(30秒間に数字が変更されます。)")).to_be_visible()
        expect(page.get_by_role("link", name="中止")).to_be_visible()
    else:
        expect(page.get_by_role("link", name="ログイン画面に戻る")).to_be_visible()
    otp_input = page.get_by_label("ワンタイムパスワード")
    expect(otp_input).to_have_attribute("inputmode", "numeric")
    expect(otp_input).to_have_attribute("autocomplete", "one-time-code")
    page.get_by_label("トークンID").fill(token.credential_id[:4].lower() + "-" + token.credential_id[4:])
    otp_input.fill("12345")
    page.get_by_role("button", name="登録").click()
    expect(page.get_by_role("alert").first).to_contain_text("半角数字6桁")
    shots.take("VRG002-error")
    code = demo_code(page, base, token.credential_id)
    page.get_by_label("トークンID").fill(token.credential_id)
    page.get_by_label("ワンタイムパスワード").fill(code)
    shots.take("VRG002-token")
    page.get_by_role("button", name="登録").click()

    # VRG003 処理結果
    screen(page, "VRG003")
    expect(page.get_by_text("ワンタイムパスワードの利用登録が完了しました。")).to_be_visible()
    shots.take("VRG003-done")
    page.get_by_role("link", name="ログイン画面に戻る" if layout == "pc" else "ログイン画面", exact=True).click()

    # LGN001 → LGN002 with the next code → top page → logout
    screen(page, "LGN001")
    login(page, base)
    screen(page, "LGN002")
    expect(page.get_by_role("heading", name="ワンタイムパスワード認証画面")).to_be_visible()
    shots.take("LGN002-otp")
    page.get_by_label("ワンタイムパスワード").fill(demo_code(page, base, token.credential_id, not_this=code))
    page.get_by_role("button", name="認証").click()
    screen(page, "TOP001")
    expect(page.get_by_text("各種お申込・お手続き")).to_be_visible()
    shots.take("TOP001-top")
    page.get_by_role("button", name="ログアウト").click()
    screen(page, "LGN001")

    # 利用停止: VST001 → VST002 (masked token) → VST003
    page.get_by_role("link", name="利用停止").click()
    screen(page, "VST001")
    page.get_by_label("契約者ID").fill("1000000001")
    page.get_by_label("ログインパスワード").fill(PASSWORD)
    shots.take("VST001-auth")
    page.get_by_role("button", name="次へ").click()
    screen(page, "VST002")
    expect(page.locator(".token-id")).to_have_text(token.credential_id[:4] + "****" + token.credential_id[-4:])
    page.get_by_label("確認用パスワード").fill(CONFIRMATION)
    shots.take("VST002-confirm")
    page.get_by_role("button", name="利用停止する").click()
    screen(page, "VST003")
    expect(page.get_by_text("ワンタイムパスワードの利用停止が完了しました。")).to_be_visible()
    shots.take("VST003-done")

    # Login without a code
    login(page, base)
    screen(page, "TOP001")
    shots.take("TOP001-no-code")
    assert shots.count == 11
    context.close()


def test_software_keyboard_types_into_the_password(chromium, live_server, customer) -> None:
    context = chromium.new_context(locale="ja-JP", **DESKTOP)
    page = context.new_page()
    page.goto(f"{live_server}/b/0001/")
    page.get_by_label("契約者ID").fill("1000000001")
    page.get_by_role("button", name="ソフトウェアキーボード入力").click()
    keyboard = page.get_by_role("group", name="ソフトウェアキーボード")
    for char in PASSWORD:
        keyboard.get_by_role("button", name=char, exact=True).click()
    expect(page.get_by_label("ログインパスワード")).to_have_value(PASSWORD)
    Shots(page, "keyboard").take("LGN001-software-keyboard")
    page.get_by_role("button", name="ログイン", exact=True).click()
    screen(page, "TOP001")
    context.close()


def test_pages_fit_a_320px_screen(chromium, live_server, bank) -> None:
    context = chromium.new_context(locale="ja-JP", **{**IPHONE, "viewport": {"width": 320, "height": 640}})
    page = context.new_page()
    for path in ("/b/0001/", "/b/0001/register", "/b/0001/stop"):
        page.goto(live_server + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, path
    context.close()
