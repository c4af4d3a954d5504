"""What a customer types, through the page form and through the partner API: the same answer either way.

A bank's own UI passes on what its customer typed, so each messy input below goes once through a page (VRG002,
LGN002, its resync form, the token set-up page) and once through the matching API call, each with a token and a
customer of its own, and both must come out the same: accepted, or refused as malformed input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine

from gateway.services import banks as bank_service
from gateway.services import credentials as cs
from gateway.services import issuance
from tests.conftest import PASSWORD
from tests.services.conftest import CLIENT, credential_row

pytestmark = pytest.mark.db
T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)
WIDE = str.maketrans("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-",
                     "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ"
                     "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ－")
#: The pages' syntax messages: the form refused the input before anything was looked up.
SYNTAX = ("(E0201)", "ワンタイムパスワードは半角数字", "を入力してください。")
OK, MALFORMED = "accepted", "malformed"


def groups(value: str, sep: str) -> str:
    """SYMC12345678 → SYMC<sep>1234<sep>5678; 123456 → 123<sep>456."""
    if len(value) == 12:
        return sep.join((value[:4], value[4:8], value[8:]))
    return sep.join((value[:3], value[3:]))


#: (name, what the customer types given the real value, the outcome on both paths).
TOKEN_IDS: list[tuple[str, Callable[[str], str], str]] = [
    ("as printed", lambda t: t, OK),
    ("lower case", str.lower, OK),
    ("spaces around and between", lambda t: f" {groups(t, ' ')} ", OK),
    ("hyphens", lambda t: groups(t, "-"), OK),
    ("full-width", lambda t: t.translate(WIDE), OK),
    ("full-width lower case with full-width hyphens", lambda t: groups(t.lower(), "-").translate(WIDE), OK),
    ("ideographic spaces", lambda t: groups(t, "\u3000"), OK),
    ("katakana long marks and dashes", lambda t: groups(t, "ー").replace("ー", "\u2010", 1), OK),
    ("a tab", lambda t: groups(t, "\t"), OK),
    ("underscores", lambda t: groups(t, "_"), MALFORMED),
    ("a NUL", lambda t: t + "\x00", MALFORMED),
    ("a right-to-left override", lambda t: "\u202e" + t, MALFORMED),
    ("33 characters", lambda t: t + "X" * 21, MALFORMED),
    ("beyond the input limit", lambda t: " " * 60 + t, MALFORMED),
    ("blank", lambda t: "   ", MALFORMED),
    ("empty", lambda t: "", MALFORMED),
]
CODES: list[tuple[str, Callable[[str], str], str]] = [
    ("as shown", lambda c: c, OK),
    ("full-width", lambda c: c.translate(WIDE), OK),
    ("a space in the middle", lambda c: groups(c, " "), OK),
    ("a hyphen in the middle", lambda c: groups(c, "-"), OK),
    ("full-width with an ideographic space", lambda c: groups(c, "\u3000").translate(WIDE), OK),
    ("spaces around", lambda c: f"  {c} ", OK),
    ("five digits", lambda c: c[:5], MALFORMED),
    ("seven digits", lambda c: c + "0", MALFORMED),
    ("eight digits for a six-digit token", lambda c: c + "00", MALFORMED),
    ("a letter", lambda c: c[:5] + "O", MALFORMED),
    ("Arabic-Indic digits", lambda c: c.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")), MALFORMED),
    ("a NUL", lambda c: c + "\x00", MALFORMED),
    ("blank", lambda c: " ", MALFORMED),
]


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def key(svc, bank) -> str:  # type: ignore[no-untyped-def]
    return bank_service.create_api_key(svc, "0001")


def api(client, key: str, path: str, body: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    response = client.post(f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {key}"})
    if response.status_code < 300:
        return OK
    problem = response.get_json()
    if response.status_code == 422 and problem["type"] == "/problems/invalid-input":
        return MALFORMED
    return f"{response.status_code} {problem['type']}"


def page(result, success_screen: str) -> str:  # type: ignore[no-untyped-def]
    if result.screen() == success_screen:
        return OK
    if any(message in result.text for message in SYNTAX):
        return MALFORMED
    return f"{result.screen()} {result.visible[:200]}"


def bind(svc, token, contract_id: str) -> None:  # type: ignore[no-untyped-def]
    at = T0 - dt.timedelta(minutes=5)
    cs.register(svc, "0001", contract_id, token.credential_id, token.code(at), CLIENT, now=at)


def login(browser, contract_id: str):  # type: ignore[no-untyped-def]
    browser.get("/b/0001/")
    return browser.post("/b/0001/", {"contract_id": contract_id, "password": PASSWORD})


@pytest.fixture
def at_vrg002(browser, make_customer, mint, frozen):  # type: ignore[no-untyped-def]
    """Two customers and two available tokens: the first customer past VRG001 in `browser` (at VRG002), the
    second left to the API: (the page's token, the API's token)."""
    by_page, by_api = mint(), mint()
    make_customer(contract_id="1000000001")
    make_customer(contract_id="1000000002")
    browser.get("/b/0001/register")
    assert browser.post("/b/0001/register", {"contract_id": "1000000001", "password": PASSWORD}).screen() == "VRG002"
    return by_page, by_api


@pytest.mark.parametrize(("typed", "expected"), [pytest.param(t, e, id=n) for n, t, e in TOKEN_IDS])
def test_token_id_at_registration(browser, client, svc, key, at_vrg002, typed, expected) -> None:
    by_page, by_api = at_vrg002
    on_page = page(browser.post("/b/0001/register/token", {"token_id": typed(by_page.credential_id),
                                                           "otp": by_page.code(T0)}), "VRG003")
    on_api = api(client, key, "/customers/1000000002/credential",
                 {"credential_id": typed(by_api.credential_id), "otp": by_api.code(T0)})
    assert (on_page, on_api) == (expected, expected)
    states = {credential_row(svc, t.credential_id).state for t in (by_page, by_api)}
    assert states == {"active" if expected == OK else "available"}


@pytest.mark.parametrize(("typed", "expected"), [pytest.param(t, e, id=n) for n, t, e in CODES])
def test_code_at_registration(browser, client, key, at_vrg002, typed, expected) -> None:
    by_page, by_api = at_vrg002
    on_page = page(browser.post("/b/0001/register/token", {"token_id": by_page.credential_id,
                                                           "otp": typed(by_page.code(T0))}), "VRG003")
    on_api = api(client, key, "/customers/1000000002/credential",
                 {"credential_id": by_api.credential_id, "otp": typed(by_api.code(T0))})
    assert (on_page, on_api) == (expected, expected)


@pytest.fixture
def logged_in(browser, svc, make_customer, mint, frozen):  # type: ignore[no-untyped-def]
    """Two customers with bound tokens: the first past the password step in `browser` (at LGN002), the
    second's left to the API: (the page's token, the API's token)."""
    by_page, by_api = mint(), mint()
    for contract_id, token in (("1000000001", by_page), ("1000000002", by_api)):
        make_customer(contract_id=contract_id)
        bind(svc, token, contract_id)
    assert login(browser, "1000000001").screen() == "LGN002"
    return by_page, by_api


@pytest.mark.parametrize(("typed", "expected"), [pytest.param(t, e, id=n) for n, t, e in CODES])
def test_code_at_login_and_verify(browser, client, key, logged_in, typed, expected) -> None:
    by_page, by_api = logged_in
    on_page = page(browser.post("/b/0001/login/otp", {"otp": typed(by_page.code(T0))}), "TOP001")
    response = client.post("/api/v1/otp/verify", json={"contract_id": "1000000002", "otp": typed(by_api.code(T0))},
                           headers={"Authorization": f"Bearer {key}"})
    on_api = ({"accepted": OK}.get(response.get_json().get("result"), response.get_json().get("result"))
              if response.status_code == 200 else
              MALFORMED if response.status_code == 422 else str(response.status_code))
    assert (on_page, on_api) == (expected, expected)


@pytest.mark.parametrize(("typed", "expected"), [pytest.param(t, e, id=n) for n, t, e in CODES])
def test_codes_at_resync(browser, client, key, logged_in, typed, expected) -> None:
    """The clock-hint page's two codes, and the API's resync: the phone's clock four steps ahead."""
    by_page, by_api = logged_in
    on_page = page(browser.post("/b/0001/login/resync", {"resync-otp1": typed(by_page.code(T0, 4)),
                                                         "resync-otp2": typed(by_page.code(T0, 5))}), "TOP001")
    on_api = api(client, key, "/customers/1000000002/credential/resync",
                 {"otp1": typed(by_api.code(T0, 4)), "otp2": typed(by_api.code(T0, 5))})
    assert (on_page, on_api) == (expected, expected)


#: サービスID and ユーザID as a person copies them off the mail (the activation password typed plainly).
SETUP_IDS: list[tuple[str, Callable[[str], str], str]] = [
    ("as printed", lambda v: v, OK),
    ("full-width", lambda v: v.translate(WIDE), OK),
    ("spaces and hyphens", lambda v: f" {v[:4]}-{v[4:]} ", OK),
    ("ideographic spaces", lambda v: f"{v[:4]}\u3000{v[4:]}", OK),
    ("a letter", lambda v: v[:-1] + "O", "refused"),
    ("a NUL", lambda v: v + "\x00", "refused"),
]


@pytest.mark.parametrize(("typed", "expected"), [pytest.param(t, e, id=n) for n, t, e in SETUP_IDS])
def test_setup_ids_on_the_page_and_through_the_token_app_api(browser, client, make_bank, make_customer, svc,
                                                             frozen, typed, expected) -> None:
    make_bank("0002", "デモ商工信用組合", prefix="NTTD", period=60, service_id="10112180")
    issued = []
    for contract_id in ("2000000001", "2000000002"):
        make_customer("0002", contract_id)
        issued.append(issuance.issue(svc, "0002", contract_id, "taro@example.jp", "1234", CLIENT))
    browser.get("/b/0002/token/setup")
    result = browser.post("/b/0002/token/setup", {
        "service_id": typed(issued[0].service_id), "user_id": typed(issued[0].user_id),
        "activation_password": "１２３４", "agree": "y"})
    on_page = OK if "data:image/svg+xml" in result.text else (
        "refused" if "(E0302)" in result.visible else result.visible[:200])
    response = client.post("/api/v1/provision", json={
        "service_id": typed(issued[1].service_id), "user_id": typed(issued[1].user_id),
        "activation_password": "１２３４"})
    on_api = OK if response.status_code == 200 else (
        "refused" if response.get_json()["type"] == "/problems/activation-failed" else response.status_code)
    assert (on_page, on_api) == (expected, expected)
