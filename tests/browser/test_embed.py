"""Embedding in Debian's Chromium: the example partner page (examples/partner) on a second local port frames
the flows and receives their results; a page on an unlisted origin cannot frame them; the redirect mode
comes back with a signed result that the partner's verifier accepts once.

The gateway runs on http://127.0.0.1:<port> and the partner pages on http://localhost:<port>, so the frame
is cross-site, as a bank's page framing the gateway is: its session needs `SameSite=None; Partitioned`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from examples.partner.serve import PartnerServer
from gateway.services import banks as bank_service
from gateway.services import results
from tests.browser.conftest import DESKTOP
from tests.browser.test_customer_flows import demo_code
from tests.conftest import CONFIRMATION, PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.db]


def _serve(server: PartnerServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def partner_factory(svc, live_server, customer) -> Iterator[Callable[[bool], PartnerServer]]:  # type: ignore[no-untyped-def]
    """Partner pages on their own ports; `listed` ones are put on bank 0001's origins and return URLs."""
    key = results.create_result_key(svc, "0001").key
    started: list[tuple[PartnerServer, threading.Thread]] = []

    def start(listed: bool) -> PartnerServer:
        server = PartnerServer("127.0.0.1", 0, live_server, "0001", key, public_host="localhost", quiet=True)
        if listed:
            bank_service.update_bank(svc, "0001", embed_origins=[server.origin], return_urls=[server.return_url])
        started.append((server, _serve(server)))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def page(chromium) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    context = chromium.new_context(locale="ja-JP", **DESKTOP)
    yield context.new_page()
    context.close()


def _watch_messages(page: Page) -> None:
    """Record every message the partner page receives, with its origin, beside the page's own handling."""
    page.evaluate("""() => { window.__received = [];
        window.addEventListener('message', e => window.__received.push({origin: e.origin, data: e.data})); }""")


def _authenticate(frame: FrameLocator | Page) -> None:
    frame.get_by_label("契約者ID").fill("1000000001")
    frame.get_by_label("ログインパスワード").fill(PASSWORD)
    frame.get_by_role("button", name="次へ").click()


def _register(frame: FrameLocator | Page, page: Page, base: str, token_id: str) -> None:
    _authenticate(frame)
    expect(frame.locator(".site-footer__screen")).to_have_text("画面ID : VRG002")
    frame.get_by_label("トークンID").fill(token_id)
    frame.get_by_label("ワンタイムパスワード").fill(demo_code(page, base, token_id))
    frame.get_by_role("button", name="登録").click()
    expect(frame.locator(".site-footer__screen")).to_have_text("画面ID : VRG003")


def test_partner_page_frames_registration_and_stop_use_and_gets_the_results(
        page, partner_factory, live_server, token) -> None:
    partner = partner_factory(True)
    page.goto(partner.origin + "/")
    _watch_messages(page)

    page.locator("#open-register").click()
    frame = page.frame_locator("#otp-frame")
    expect(frame.locator(".site-footer__screen")).to_have_text("画面ID : VRG001")
    _register(frame, page, live_server, token.credential_id)
    expect(frame.get_by_text("ワンタイムパスワードの利用登録が完了しました。")).to_be_visible()

    # The result page posted to the partner's origin; the partner's server accepted the signed result.
    expect(page.locator("#messages li")).to_have_count(1)
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "accepted")
    expect(page.locator("#verdict")).to_contain_text("register registered for 1000000001")
    received = page.evaluate("window.__received")
    assert [m["origin"] for m in received] == [live_server]
    message = received[0]["data"]
    assert message["type"] == "otp-gateway:result" and message["flow"] == "register"
    assert message["result"] == "registered" and message["bank"] == "0001"
    assert "****" in message["token_id"] and message["otp_result"].count(".") == 2

    # The session cookie of the frame is the embed one, partitioned and cross-site capable.
    cookies = {c["name"]: c for c in page.context.cookies(live_server)}
    assert cookies["gw_embed"]["sameSite"] == "None" and cookies["gw_embed"]["secure"]
    assert cookies["gw_embed"]["partitionKey"] == "http://localhost"  # CHIPS: kept per top-level site

    # Stop use in the frame as well.
    page.locator("#open-stop").click()
    frame = page.frame_locator("#otp-frame")
    expect(frame.locator(".site-footer__screen")).to_have_text("画面ID : VST001")
    _authenticate(frame)
    expect(frame.locator(".site-footer__screen")).to_have_text("画面ID : VST002")
    frame.get_by_label("確認用パスワード").fill(CONFIRMATION)
    frame.get_by_role("button", name="利用停止する").click()
    expect(frame.locator(".site-footer__screen")).to_have_text("画面ID : VST003")
    expect(page.locator("#messages li")).to_have_count(2)
    expect(page.locator("#verdict")).to_contain_text("stop stopped for 1000000001")
    assert page.evaluate("window.__received")[1]["data"]["result"] == "stopped"

    # 「ログイン画面に戻る」 in the frame asks the partner page to close it.
    frame.get_by_role("link", name="ログイン画面に戻る").click()
    expect(page.locator("#otp-frame")).to_have_count(0)
    assert page.evaluate("window.__received")[2]["data"]["type"] == "otp-gateway:close"


def test_a_page_on_an_unlisted_origin_cannot_frame_the_flow(page, partner_factory, live_server) -> None:
    partner_factory(True)
    stranger = partner_factory(False)  # same partner page, another port: not on the bank's list
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(stranger.origin + "/")
    _watch_messages(page)
    page.locator("#open-register").click()
    expect(page.locator("#otp-frame")).to_have_count(1)
    page.wait_for_timeout(1500)

    (child,) = [f for f in page.frames if f != page.main_frame]
    assert not child.url.startswith(live_server)  # Chromium replaced the refused document with its error page
    assert child.locator("form").count() == 0 and child.locator("#contract_id").count() == 0
    assert any("frame-ancestors" in text for text in console), console
    assert page.evaluate("window.__received") == []


def test_redirect_mode_round_trip_and_the_verifier_refuses_replay_and_tampering(
        page, partner_factory, live_server, token) -> None:
    partner = partner_factory(True)
    page.goto(partner.origin + "/")
    page.locator("#redirect-register").click()
    expect(page).to_have_url(f"{live_server}/b/0001/register?return_to=" + partner.return_url.replace(":", "%3A")
                             .replace("/", "%2F"))
    _register(page, page, live_server, token.credential_id)
    page.get_by_role("link", name="ログイン画面に戻る").click()

    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "accepted")
    expect(page.locator("#verdict")).to_contain_text("register registered for contract 1000000001")
    back = page.url
    assert back.startswith(partner.return_url + "?otp_result=")

    # The same result again: refused as used. A changed one: refused as tampered.
    page.goto(back)
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "refused")
    expect(page.locator("#verdict")).to_contain_text("already used")
    head, payload, signature = back.split("otp_result=")[1].split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    page.goto(f"{partner.return_url}?otp_result={head}.{flipped}.{signature}")
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "refused")

    # The flow is used up: going back to the gateway's return step does not mint a second result.
    page.goto(f"{live_server}/b/0001/return")
    expect(page.locator(".site-footer__screen")).to_have_text("画面ID : LGN001")


