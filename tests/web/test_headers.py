"""Headers and cookies on the customer pages; the demo token page."""

from __future__ import annotations

import pytest

from gateway import create_app
from gateway.web.context import app_services
from tests.conftest import PASSWORD
from tests.web.conftest import Browser

pytestmark = pytest.mark.db


def test_security_headers(browser, bank) -> None:
    page = browser.get("/b/0001/")
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src 'self'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.text and " style=" not in page.text and " onclick=" not in page.text


def test_session_cookie_flags(browser, bank) -> None:
    page = browser.get("/b/0001/")
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("gw_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_https_deployments_get_host_prefixed_secure_cookies(app_config, bank, customer) -> None:
    app = create_app({**app_config, "PUBLIC_BASE_URL": "https://otp.example.jp"})
    b = Browser(app.test_client())
    page = b.client.get("/b/0001/", base_url="https://otp.example.jp")
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("__Host-gw_session=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie
    app_services(app).db.dispose()


def test_labels_are_tied_to_inputs_and_errors_announced(browser, customer) -> None:
    browser.get("/b/0001/")
    page = browser.post("/b/0001/", {"contract_id": "1000000001", "password": "wrong-" + PASSWORD})
    assert '<label class="field__label" for="contract_id">' in page.text and 'id="contract_id"' in page.text
    assert 'role="alert"' in page.text and 'aria-invalid="true"' in page.text


def test_demo_token_page_shows_live_codes(browser, bank, token) -> None:
    page = browser.get("/b/0001/demo/token")
    assert token.credential_id in page.text
    assert page.text.count('class="token-code"') >= 1
    data = browser.client.get("/b/0001/demo/token.json").get_json()
    (entry,) = [t for t in data["tokens"] if t["token_id"] == token.credential_id]
    assert entry["code"] in {token.code(steps=s) for s in (-1, 0, 1)}


def test_demo_token_page_is_a_404_for_real_banks(browser, make_bank, mint) -> None:
    make_bank("0100", "本番信用組合", prefix="REAL", demo=False)
    mint("0100")
    assert browser.get("/b/0100/demo/token").status == 404
    assert browser.client.get("/b/0100/demo/token.json").status_code == 404


def test_brand_colour_comes_from_a_stylesheet(browser, make_bank) -> None:
    make_bank("0001", colour="#7a1f5c")
    assert "--brand: #7a1f5c" in browser.client.get("/b/0001/brand.css").get_data(as_text=True)
    assert "/b/0001/brand.css" in browser.get("/b/0001/").text


def test_root_goes_to_the_default_bank(browser, bank) -> None:
    assert browser.get("/", follow=False).location.endswith("/b/0001/")


def test_https_forms_work_without_a_referer(app_config, bank, customer) -> None:
    """`Referrer-Policy: no-referrer` means no Referer on our own form posts: HTTPS must still work."""
    app = create_app({**app_config, "PUBLIC_BASE_URL": "https://otp.example.jp"})
    client = app.test_client()
    b = Browser(client)
    https = "https://otp.example.jp"
    page = b._page(client.get("/b/0001/register", base_url=https))
    assert page.screen() == "VRG001"
    response = client.post("/b/0001/register", base_url=https, headers={"Sec-Fetch-Site": "same-origin"},
                           data={"csrf_token": b.token, "contract_id": "1000000001", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/b/0001/register/token")
    app_services(app).db.dispose()


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_forms_posted_from_another_site_are_refused(browser, customer, site) -> None:
    page = browser.get("/b/0001/register")
    response = browser.client.post("/b/0001/register", headers={"Sec-Fetch-Site": site}, data={
        "csrf_token": browser.token, "contract_id": "1000000001", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/b/0001/")
    page = browser.get("/b/0001/")
    assert page.screen() == "LGN001" and "(E0904)" in page.text  # the form-expired notice; nothing was checked
