"""Embedding: frame-ancestors per bank, the embed session cookie, the return_to allow-list, signed results,
and the example partner's verifier refusing tampered, expired, replayed and misdirected results."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import threading
import urllib.error
import urllib.request
from urllib.parse import parse_qs, quote, urlsplit

import jwt
import pytest

from examples.partner.serve import PartnerServer
from examples.partner.verify import ResultRefused, ResultVerifier, UsedResults
from gateway import create_app
from gateway.domain.embedding import allowed_return_to, normalise_origin
from gateway.domain.errors import InvalidInput
from gateway.services import banks as bank_service
from gateway.services import results
from gateway.web.context import app_services
from tests.cli.support import environment, invoke
from tests.conftest import CONFIRMATION, PASSWORD
from tests.web.conftest import Browser

pytestmark = pytest.mark.db

IB = "https://ib.example.jp"
SP = "https://sp.example.jp:8443"
RETURN = "https://ib.example.jp/otp/return"


@pytest.fixture
def bank(make_bank, svc):  # type: ignore[no-untyped-def]
    """Bank 0001 with two origins and two return URLs (the `customer` and `token` fixtures build on it)."""
    bank = make_bank("0001", embed_origins=[IB, SP], return_urls=[RETURN, "https://sp.example.jp:8443/otp"])
    make_bank("0002", "第二信用組合", prefix="DAIN", embed_origins=["https://other.example"])
    make_bank("0003", "第三信用組合", prefix="SANN")  # lists no origins
    return bank


@pytest.fixture
def key(svc, bank) -> str:  # type: ignore[no-untyped-def]
    return results.create_result_key(svc, "0001").key


def _csp(page) -> str:  # type: ignore[no-untyped-def]
    return page.headers["Content-Security-Policy"]


def _ancestors(page) -> str:  # type: ignore[no-untyped-def]
    return re.search(r"frame-ancestors ([^;]+)", _csp(page)).group(1)


def _embed_post(page) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    found = re.search(r"""id="embed-post" hidden data-origin="([^"]+)" data-message='([^']+)'""", page.text)
    assert found, page.text
    return found.group(1), json.loads(html.unescape(found.group(2)))


def _register_in(browser: Browser, base: str, token) -> object:  # type: ignore[no-untyped-def]
    browser.get(f"{base}/register")
    browser.post(f"{base}/register", {"contract_id": "1000000001", "password": PASSWORD})
    return browser.post(f"{base}/register/token", {"token_id": token.credential_id, "otp": token.code()})


# --- frame-ancestors and cookies -----------------------------------------------------------------------
def test_embed_pages_may_be_framed_by_their_own_banks_origins_only(browser, bank) -> None:
    for path in ("/b/0001/embed/register", "/b/0001/embed/stop"):
        page = browser.get(path)
        assert page.status == 200 and _ancestors(page) == f"{IB} {SP}"
        assert "unsafe-inline" not in _csp(page) and "X-Frame-Options" not in page.headers
    assert _ancestors(browser.get("/b/0002/embed/register")) == "https://other.example"
    # The ordinary pages, another bank's and the rest stay unframable.
    for path in ("/b/0001/register", "/b/0001/stop", "/b/0001/", "/b/0001/top"):
        assert _ancestors(browser.get(path)) == "'none'", path


def test_banks_without_origins_and_unknown_banks_have_no_embed_pages(browser, bank) -> None:
    for path in ("/b/0003/embed/register", "/b/0099/embed/register", "/b/0099/register", "/b/0001/embed/"
                 "login", "/b/0001/embed/top", "/b/0001/embed/ib/otp"):
        page = browser.get(path)
        assert page.status == 404, path
        assert _ancestors(page) in ("'none'", f"{IB} {SP}")
        assert "お探しのページは見つかりませんでした。" in page.visible
    assert _ancestors(browser.get("/b/0099/embed/register")) == "'none'"


def test_embed_session_cookie_is_cross_site_and_partitioned(browser, bank) -> None:
    cookie = browser.get("/b/0001/embed/register").headers["Set-Cookie"]
    assert cookie.startswith("gw_embed=")
    attributes = {part.strip().split("=")[0] for part in cookie.split(";")[1:]}
    assert attributes == {"Secure", "HttpOnly", "Path", "SameSite", "Partitioned"}
    assert "SameSite=None" in cookie and "Domain" not in cookie
    ordinary = Browser(browser.client.application.test_client()).get("/b/0001/register").headers["Set-Cookie"]
    assert ordinary.startswith("gw_session=") and "SameSite=Lax" in ordinary and "Partitioned" not in ordinary


def test_https_deployments_name_the_embed_cookie_with_the_host_prefix(app_config, bank) -> None:
    app = create_app({**app_config, "PUBLIC_BASE_URL": "https://otp.example.jp"})
    cookie = app.test_client().get("/b/0001/embed/register", base_url="https://otp.example.jp").headers["Set-Cookie"]
    assert cookie.startswith("__Host-gw_embed=") and "Secure" in cookie and "Partitioned" in cookie
    app_services(app).db.dispose()


def test_the_embed_session_is_apart_from_the_ordinary_one(browser, bank, customer) -> None:
    browser.get("/b/0001/register")
    browser.post("/b/0001/register", {"contract_id": "1000000001", "password": PASSWORD})
    # Half-way through the ordinary flow; the embedded one knows nothing of it.
    page = browser.get("/b/0001/embed/register/token", follow=False)
    assert page.status == 302 and page.location.endswith("/b/0001/embed/register")


# --- the embedded flow -----------------------------------------------------------------------------------
def test_embedded_pages_stay_in_the_frame(browser, bank, customer, token) -> None:
    page = browser.get("/b/0001/embed/register")
    assert 'action="/b/0001/embed/register"' in page.text
    assert 'href="/b/0001/embed/close?flow=register"' in page.text  # 「戻る」 closes the frame
    page = browser.post("/b/0001/embed/register", {"contract_id": "1000000001", "password": PASSWORD})
    assert page.screen() == "VRG002" and 'action="/b/0001/embed/register/token"' in page.text
    closed = browser.get("/b/0001/embed/close?flow=register")
    origin, message = _embed_post(closed)
    assert origin == IB and message == {"type": "otp-gateway:close", "bank": "0001", "flow": "register"}
    assert _ancestors(closed) == f"{IB} {SP}"
    # The flow is over: its second step is out of order now.
    assert browser.get("/b/0001/embed/register/token", follow=False).location.endswith("/b/0001/embed/register")


def test_embedded_registration_posts_a_signed_result_to_the_banks_origin(browser, key, customer, token) -> None:
    page = _register_in(browser, "/b/0001/embed", token)
    assert page.screen() == "VRG003" and "/static/js/embed.js" in page.text
    origin, message = _embed_post(page)
    assert origin == IB
    assert message["type"] == "otp-gateway:result" and message["flow"] == "register"
    assert message["result"] == "registered" and message["bank"] == "0001"
    assert message["token_id"] == token.credential_id[:4] + "****" + token.credential_id[-4:]
    assert "1000000001" not in json.dumps({k: v for k, v in message.items() if k != "otp_result"})
    claims = ResultVerifier("0001", key, UsedResults()).verify(message["otp_result"], origin=IB)
    assert claims["sub"] == "1000000001" and claims["mode"] == "embed"
    # A reload shows the same result (signed once), not a new one.
    assert _embed_post(browser.get("/b/0001/embed/register/done"))[1]["otp_result"] == message["otp_result"]


def test_the_parent_origin_can_be_chosen_among_the_listed_ones(browser, key, customer, token) -> None:
    browser.get(f"/b/0001/embed/register?origin={quote(SP)}")
    page = browser.post("/b/0001/embed/register", {"contract_id": "1000000001", "password": PASSWORD})
    page = browser.post("/b/0001/embed/register/token", {"token_id": token.credential_id, "otp": token.code()})
    origin, message = _embed_post(page)
    assert origin == SP and jwt.decode(message["otp_result"], key, algorithms=["HS256"], audience="0001")[
        "origin"] == SP


@pytest.mark.parametrize("origin", ["https://evil.example", "https://ib.example.jp.evil", "*", "null",
                                    "https://ib.example.jp/", "http://ib.example.jp", "https://sp.example.jp"])
def test_an_unlisted_parent_origin_is_refused(browser, bank, origin) -> None:
    assert browser.get(f"/b/0001/embed/register?origin={quote(origin)}").status == 400


def test_embedded_stop_use_posts_its_result(browser, key, customer, token) -> None:
    _register_in(browser, "/b/0001/embed", token)
    browser.get("/b/0001/embed/stop")
    page = browser.post("/b/0001/embed/stop", {"contract_id": "1000000001", "password": PASSWORD})
    assert page.screen() == "VST002"
    page = browser.post("/b/0001/embed/stop/confirm", {"confirmation_password": CONFIRMATION})
    assert page.screen() == "VST003"
    _origin, message = _embed_post(page)
    assert message["flow"] == "stop" and message["result"] == "stopped" and "****" in message["token_id"]
    assert ResultVerifier("0001", key, UsedResults()).verify(message["otp_result"], origin=IB)["result"] == "stopped"


def test_without_a_result_key_the_message_carries_no_signed_result(browser, bank, customer, token) -> None:
    _origin, message = _embed_post(_register_in(browser, "/b/0001/embed", token))
    assert message["result"] == "registered" and message["otp_result"] is None


def test_a_stale_embedded_form_starts_over_inside_the_frame(browser, bank, customer) -> None:
    browser.get("/b/0001/embed/stop")
    page = browser.post("/b/0001/embed/stop", {"contract_id": "1000000001", "password": PASSWORD,
                                               "csrf_token": "stale"}, follow=False)
    assert page.status == 302 and page.location.endswith("/b/0001/embed/stop")


def test_the_embed_script_posts_to_the_given_origin_only() -> None:
    from gateway.paths import resource

    script = (resource("static") / "js" / "embed.js").read_text()
    assert "postMessage(message, origin)" in script and '"*")' not in script.replace('origin !== "*"', "")


# --- redirect mode ---------------------------------------------------------------------------------------
def _start_redirect(browser: Browser, return_to: str, flow: str = "register"):  # type: ignore[no-untyped-def]
    return browser.get(f"/b/0001/{flow}?return_to={quote(return_to, safe='')}")


@pytest.mark.parametrize("return_to", [
    "https://ib.example.jp.evil/otp/return",
    "https://ib.example.jp.evil.example/otp/return",
    "https://evil.example/otp/return",
    "//ib.example.jp/otp/return",
    "//evil.example/otp/return",
    "/otp/return",
    "http://ib.example.jp/otp/return",  # scheme change
    "javascript:alert(1)//https://ib.example.jp/otp/return",
    "https://ib.example.jp:444/otp/return",  # another port
    "https://user@ib.example.jp/otp/return",
    "https://ib.example.jp@evil.example/otp/return",
    "https://ib.example.jp:443@evil.example/otp/return",
    "https://evil.example\\@ib.example.jp/otp/return",
    "https://ib.example.jp\\.evil.example/otp/return",
    "https:/ib.example.jp/otp/return",
    "https:ib.example.jp/otp/return",
    "https://ib.example.jp/otp/return/../../admin",
    "https://ib.example.jp/otp/%2e%2e/return",
    "https://ib.example.jp/otp/return/",
    "https://ib.example.jp/otp/returned",
    "https://ib.example.jp/otp/return#fragment",
    "https://ib.example.jp/otp/return?otp_result=forged",
    # The result's name in every spelling a bank's framework may read as `otp_result`.
    "https://ib.example.jp/otp/return?%6Ftp_result=forged",
    "https://ib.example.jp/otp/return?otp%5Fresult=forged",
    "https://ib.example.jp/otp/return?%256Ftp_result=forged",
    "https://ib.example.jp/otp/return?OTP_RESULT=forged",
    "https://ib.example.jp/otp/return?state=1&Otp_Result=forged",
    "https://ib.example.jp/otp/return?state=1;otp_result=forged",
    "https://ib.example.jp/otp/return?otp_result[]=forged",
    "https://ib.example.jp/otp/return?otp.result=forged",
    "https://ib.example.jp/otp/return?otp+result=forged",
    "https://ib.example.jp/otp/return?otp%20result=forged",
    "https://ib.example.jp/otp/return?+otp_result=forged",
    "https://ib.example.jp/otp/return?otp_result",
    "https://ib.example.jp/otp/return\n.evil.example",
    "https://ib.example.jp/otp/return\t",
    " https://ib.example.jp/otp/return",
    "https://ｉｂ.example.jp/otp/return",
    "https://evil.example/?next=https://ib.example.jp/otp/return",
    "",
])
def test_return_to_must_be_on_the_banks_list(browser, key, return_to) -> None:
    assert allowed_return_to(return_to, (RETURN,)) is None
    assert _start_redirect(browser, return_to).status == 400


@pytest.mark.parametrize("return_to", [RETURN, RETURN + "?state=xyz", RETURN + "?next=otp_result",
                                       RETURN + "?otp_results=1&my_otp_result=2", "HTTPS://IB.EXAMPLE.JP/otp/return",
                                       "https://ib.example.jp:443/otp/return", "https://sp.example.jp:8443/otp"])
def test_listed_return_urls_are_accepted(browser, key, return_to) -> None:
    assert allowed_return_to(return_to, (RETURN, "https://sp.example.jp:8443/otp")) == return_to
    page = _start_redirect(browser, return_to)
    assert page.status == 200 and 'href="/b/0001/return"' in page.text


def test_return_to_needs_a_result_key(browser, bank) -> None:
    assert _start_redirect(browser, RETURN).status == 400


def test_redirect_registration_returns_a_signed_result(browser, svc, key, customer, token) -> None:
    _start_redirect(browser, RETURN + "?state=abc")
    browser.post("/b/0001/register", {"contract_id": "1000000001", "password": PASSWORD})
    page = browser.post("/b/0001/register/token", {"token_id": token.credential_id, "otp": token.code()})
    assert page.screen() == "VRG003" and 'href="/b/0001/return"' in page.text
    back = browser.get("/b/0001/return", follow=False)
    assert back.status == 303
    url = urlsplit(back.location)
    assert f"{url.scheme}://{url.netloc}{url.path}" == RETURN
    query = parse_qs(url.query)
    assert query["state"] == ["abc"]
    (signed,) = query["otp_result"]

    header = jwt.get_unverified_header(signed)
    assert header["alg"] == "HS256" and header["kid"] == results.current_kid(svc, "0001")
    claims = jwt.decode(signed, key, algorithms=["HS256"], audience="0001", issuer="otp-gateway")
    assert claims["sub"] == "1000000001" and claims["flow"] == "register" and claims["result"] == "registered"
    assert claims["mode"] == "redirect" and claims["return_to"] == RETURN + "?state=abc"
    assert claims["exp"] - claims["iat"] == results.RESULT_TTL == 300
    assert len(claims["jti"]) >= 16 and claims["token_id"] == token.credential_id[:4] + "****" + \
        token.credential_id[-4:]
    assert token.credential_id not in signed and token.credential_id not in json.dumps(claims)

    # Once: the flow's result is handed over and gone.
    assert browser.get("/b/0001/return", follow=False).location.endswith("/b/0001/")
    assert browser.get("/b/0001/register/done", follow=False).location.endswith("/b/0001/register")


def test_going_back_from_a_redirect_flow_returns_cancelled(browser, key, customer) -> None:
    page = _start_redirect(browser, RETURN, "stop")
    assert 'href="/b/0001/return"' in page.text
    back = browser.get("/b/0001/return", follow=False)
    signed = parse_qs(urlsplit(back.location).query)["otp_result"][0]
    claims = ResultVerifier("0001", key, UsedResults()).verify(signed, return_to=RETURN)
    assert claims["flow"] == "stop" and claims["result"] == "cancelled" and "sub" not in claims


def test_an_ordinary_visit_forgets_an_earlier_return_to(browser, key, customer) -> None:
    _start_redirect(browser, RETURN)
    page = browser.get("/b/0001/register")
    assert 'href="/b/0001/return"' not in page.text and 'href="/b/0001/"' in page.text


# --- the bank's verifier ---------------------------------------------------------------------------------
@pytest.fixture
def signed(svc, key) -> str:  # type: ignore[no-untyped-def]
    return results.issue(svc, "0001", flow="register", result="registered", contract_id="1000000001",
                         token_id="SYMC****5678", mode="redirect", target=RETURN)


@pytest.fixture
def verifier(key) -> ResultVerifier:
    return ResultVerifier("0001", key, UsedResults())


def test_the_verifier_accepts_a_result_once(verifier, signed) -> None:
    assert verifier.verify(signed, return_to=RETURN)["sub"] == "1000000001"
    with pytest.raises(ResultRefused, match="already used"):
        verifier.verify(signed, return_to=RETURN)


def test_the_used_results_survive_a_restart_of_the_bank(tmp_path, key, signed) -> None:
    path = str(tmp_path / "used.db")
    ResultVerifier("0001", key, UsedResults(path)).verify(signed, return_to=RETURN)
    with pytest.raises(ResultRefused, match="already used"):
        ResultVerifier("0001", key, UsedResults(path)).verify(signed, return_to=RETURN)


def _b64(data: dict) -> str:  # type: ignore[type-arg]
    return jwt.utils.base64url_encode(json.dumps(data).encode()).decode()


def test_the_verifier_refuses_tampered_results(verifier, signed) -> None:
    head, payload, signature = signed.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    for change in ({"sub": "9999999999"}, {"result": "stopped"}, {"exp": claims["exp"] + 3600}):
        forged = f"{head}.{_b64({**claims, **change})}.{signature}"
        with pytest.raises(ResultRefused, match="bad signature"):
            verifier.verify(forged, return_to=RETURN)
    with pytest.raises(ResultRefused):
        verifier.verify(f"{head}.{payload}.{signature[:-2]}AA", return_to=RETURN)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    with pytest.raises(ResultRefused, match="algorithm"):
        verifier.verify(unsigned, return_to=RETURN)
    with pytest.raises(ResultRefused, match="not a JWT"):
        verifier.verify("garbage", return_to=RETURN)
    # None of that used the genuine result up.
    assert verifier.verify(signed, return_to=RETURN)["result"] == "registered"


def test_the_verifier_refuses_expired_results(svc, verifier) -> None:
    old = results.issue(svc, "0001", flow="register", result="registered", contract_id="1000000001", token_id=None,
                        mode="redirect", target=RETURN,
                        now=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=results.RESULT_TTL + 60))
    with pytest.raises(ResultRefused, match="expired"):
        verifier.verify(old, return_to=RETURN)


def test_the_verifier_refuses_results_meant_for_someone_else(svc, make_bank, key, signed) -> None:
    with pytest.raises(ResultRefused, match="another return URL"):
        ResultVerifier("0001", key, UsedResults()).verify(signed, return_to="https://ib.example.jp/other")
    with pytest.raises(ResultRefused, match="another origin"):
        ResultVerifier("0001", key, UsedResults()).verify(signed, origin=IB)
    with pytest.raises(ResultRefused, match="invalid"):  # another bank (audience), even with the same key
        ResultVerifier("0002", key, UsedResults()).verify(signed, return_to=RETURN)
    other_key = results.create_result_key(svc, "0002").key
    with pytest.raises(ResultRefused, match="bad signature"):
        ResultVerifier("0001", other_key, UsedResults()).verify(signed, return_to=RETURN)


def test_a_new_key_signs_from_now_on_and_the_bank_can_hold_both(svc, key, signed) -> None:
    old_kid = results.current_kid(svc, "0001")
    new = results.create_result_key(svc, "0001")
    assert new.kid != old_kid and new.key != key and results.current_kid(svc, "0001") == new.kid
    fresh = results.issue(svc, "0001", flow="stop", result="stopped", contract_id="1", token_id=None,
                          mode="redirect", target=RETURN)
    assert jwt.get_unverified_header(fresh)["kid"] == new.kid
    both = ResultVerifier("0001", {old_kid: key, new.kid: new.key}, UsedResults())
    assert both.verify(signed, return_to=RETURN)["result"] == "registered"
    assert both.verify(fresh, return_to=RETURN)["result"] == "stopped"
    with pytest.raises(ResultRefused, match="bad signature"):
        ResultVerifier("0001", key, UsedResults()).verify(fresh, return_to=RETURN)


def test_result_keys_are_sealed_at_rest_and_resealed_with_the_seal_keys(svc, key) -> None:
    from sqlalchemy import select

    from gateway.storage.models import ResultKey

    with svc.db.reading() as session:
        row = session.scalars(select(ResultKey)).one()
    assert key.encode() not in row.sealed_key and row.seal_key_id == svc.sealer.primary_id
    assert results.reseal_keys(svc) == 0


# --- tenants: origins and return URLs are checked when a bank is added or changed -----------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("https://IB.example.jp", "https://ib.example.jp"), ("https://ib.example.jp:443", "https://ib.example.jp"),
    ("http://localhost:8001", "http://localhost:8001"), ("https://ib.example.jp/", None),
    ("https://ib.example.jp/path", None), ("ib.example.jp", None), ("*", None), ("https://*.example.jp", None),
    ("https://user@ib.example.jp", None), ("https://ib.example.jp;", None), ("https://ib.example.jp 'self'", None),
    ("javascript://ib.example.jp", None), ("https://ib.example.jp?x", None),
])
def test_embed_origins_are_exact_origins(value, expected) -> None:
    assert normalise_origin(value) == expected


def test_update_bank_changes_origins_return_urls_and_policies(svc, bank) -> None:
    view = bank_service.update_bank(svc, "0001", embed_origins=["https://new.example"], return_urls=[],
                                    removal_policy="code", stop_cooloff_hours=24, colour="#123456")
    assert view.embed_origins == ("https://new.example",) and view.return_urls == ()
    assert (view.removal_policy, view.stop_cooloff_hours) == ("code", 24)
    assert view.colour == "#123456" and view.name == bank.name
    with pytest.raises(InvalidInput):
        bank_service.update_bank(svc, "0001", embed_origins=["https://new.example/x"])
    with pytest.raises(InvalidInput):
        bank_service.update_bank(svc, "0001", return_urls=["https://new.example/x?y=1"])
    with pytest.raises(InvalidInput):
        bank_service.update_bank(svc, "0001", logo_url="javascript:alert(1)")


def test_an_external_logo_is_allowed_by_the_pages_csp(browser, make_bank) -> None:
    make_bank("0001", logo_url="https://cdn.example.jp/logo.png")
    page = browser.get("/b/0001/")
    assert "img-src 'self' data: https://cdn.example.jp;" in _csp(page)
    assert '<img class="site-header__logo" src="https://cdn.example.jp/logo.png"' in page.text


def test_bank_commands_for_embedding(tmp_path, database_url, svc, bank) -> None:
    env = environment(tmp_path / "instance", database_url)
    updated = invoke(env, "bank", "update", "0001", "--embed-origin", "https://a.example",
                     "--embed-origin", "https://b.example:8443", "--return-url", "https://a.example/otp").stdout
    assert "https://a.example https://b.example:8443" in updated
    created = invoke(env, "bank", "result-key", "0001")
    key = created.lines[-1]
    assert key.startswith("ogwr_") and "kid rk_" in created.lines[0]
    shown = json.loads(invoke(env, "bank", "show", "0001", "--json").stdout)
    assert shown["embed_origins"] == ["https://a.example", "https://b.example:8443"]
    assert shown["return_urls"] == ["https://a.example/otp"] and shown["result_key"].startswith("rk_")
    assert key not in json.dumps(shown)
    signed = results.issue(svc, "0001", flow="register", result="registered", contract_id="1", token_id=None,
                           mode="redirect", target="https://a.example/otp")
    assert ResultVerifier("0001", key, UsedResults()).verify(signed, return_to="https://a.example/otp")
    cleared = invoke(env, "bank", "update", "0001", "--clear-embed-origins").stdout
    assert "embed origins (none)" in cleared
    bad = invoke(env, "bank", "update", "0001", "--embed-origin", "https://a.example/x", ok=False)
    assert bad.error(2).startswith("error: invalid embed origin")


def test_the_example_bank_refuses_a_return_with_two_results(svc, bank) -> None:
    """The bank's side (examples/partner): one `otp_result`, or nothing is believed."""
    key = results.create_result_key(svc, "0001").key
    server = PartnerServer("127.0.0.1", 0, "http://127.0.0.1:9", "0001", key, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        good = results.issue(svc, "0001", flow="register", result="registered", contract_id=None, token_id=None,
                             mode="redirect", target=server.return_url)
        for query, verdict in ((f"otp_result={good}", "accepted"),
                               (f"otp_result={good}&otp_result={good}", "refused"), ("", "refused")):
            try:
                with urllib.request.urlopen(f"{server.return_url}?{query}", timeout=10) as response:
                    text = response.read().decode()
            except urllib.error.HTTPError as refused:
                text = refused.read().decode()
            assert f'data-verdict="{verdict}"' in text, query
            if query.count("otp_result") == 2:
                assert "expected exactly one otp_result" in text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
