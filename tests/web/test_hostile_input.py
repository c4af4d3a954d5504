"""A hostile-input walk over every route of the app's URL map, for every method each route allows.

Every request answers below 500 and changes no state, whatever it carries: 10 kB fields and JSON strings, NUL
characters, a right-to-left override, a lone surrogate (JSON), JSON nested 30,000 deep, a 5 MB body, the
wrong content type (text/plain, multipart, form-encoded to the JSON routes, JSON to the forms), invalid
UTF-8 bytes. The partner API is called with a live bank key and with a well-formed key that is not; the
pages with the form's CSRF token filled in and without it, each in the session state its form needs (a
password step done, a flow at its step) so the hostile value reaches the view.

What "no state changed" means here: the rows of banks, api_keys, customers, credentials and issuances are
compared, every column, before and after each request. The only changes allowed are those of counted
failures, because a hostile value in a password field is a wrong password (the filler in the other fields
is a real contract ID or set-up ID with wrong passwords and no code): customers' password_failures,
locked_at and updated_at, issuances' activation_failures and locked_at, failure counts only ever going up.
Audit rows may be added for those failures. No code is ever well formed, so credentials never change.
Two keyed calls change state by design whatever their body (they take none): minting a token and
unlocking a customer. With the live key their answers are checked for no 5xx, and the state is taken
again after them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import session
from flask_wtf.csrf import generate_csrf
from sqlalchemy import text

from gateway.passwords import hash_password
from gateway.services import banks as bank_service
from gateway.services import credentials as cs
from gateway.services import issuance
from tests.services.conftest import CLIENT

pytestmark = [pytest.mark.db, pytest.mark.slow]

BANK = "0001"
ACTIVE, PLAIN, PROVISIONED, ISSUED = "1000000001", "1000000002", "1000000003", "1000000004"
ORIGIN = "https://ib.example.jp"
TABLES = ("banks", "api_keys", "customers", "credentials", "issuances")
#: Columns a counted failure may change (see the module's docstring).
COUNTED = {"customers": {"password_failures", "locked_at", "updated_at"},
           "issuances": {"activation_failures", "locked_at"}}
RISING = {"password_failures", "activation_failures"}
#: Keyed calls that change state by design and read no body.
BY_DESIGN = {"partner_api.mint_credential", "partner_api.unlock_customer"}

#: Hostile strings, each put into one field at a time (the others hold the filler).
STRINGS = {"10 kB": "x" * 10_000, "NUL": "1000\x000001", "RLO": "\u202e1000000001"}
JSON_ONLY_STRINGS = {"lone surrogate": "\ud800"}
DEEP = {"deep array": "[" * 30_000 + "]" * 30_000, "deep object": '{"a":' * 30_000 + "1" + "}" * 30_000,
        "deep array in 16 KiB": "[" * 8_000 + "]" * 8_000}
FIVE_MB = b"x" * (5 * 1024 * 1024)
#: Invalid UTF-8: a stray continuation byte, an overlong "/", an encoded surrogate.
BAD_UTF8 = (b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80")
#: Query parameters some GET routes read.
QUERY = ("view", "origin", "return_to", "flow", "after", "limit")


@dataclass
class World:
    """What the walk knows: the real IDs its filler and path variables use, and the session states."""

    key: str
    spare: str
    service_id: str
    issued_user_id: str
    states: dict[str, dict[str, Any]] = field(default_factory=dict)


@pytest.fixture
def app_config(app_config):  # type: ignore[no-untyped-def]
    """Rate limits out of the way: the walk sends about a thousand requests from one address."""
    return {**app_config, "RATELIMIT_PER_ADDRESS": "100000 per minute", "RATELIMIT_PER_CONTRACT": "100000 per minute",
            "RATELIMIT_API_PER_KEY": "100000 per minute"}


@pytest.fixture
def world(svc, make_bank, make_customer, mint) -> World:  # type: ignore[no-untyped-def]
    bank = make_bank(BANK, embed_origins=[ORIGIN], return_urls=[f"{ORIGIN}/otp/return"])
    for contract_id in (ACTIVE, PLAIN, PROVISIONED, ISSUED):
        make_customer(BANK, contract_id)
    registered = mint()
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cs.register(svc, BANK, ACTIVE, registered.credential_id, registered.code(at), CLIENT, now=at)
    started = issuance.issue(svc, BANK, PROVISIONED, "c@example.jp", "1234", CLIENT)
    issuance.provision(svc, started.service_id, started.user_id, "1234", CLIENT)
    waiting = issuance.issue(svc, BANK, ISSUED, "d@example.jp", "1234", CLIENT)
    now = int(time.time())

    def auth(contract_id: str, stage: str = "done") -> dict[str, Any]:
        return {"auth": {"bank": BANK, "contract_id": contract_id, "stage": stage}}

    def flow(kind: str, contract_id: str, step: str, **extra: Any) -> dict[str, Any]:
        return {"flow": {"kind": kind, "bank": BANK, "contract_id": contract_id, "step": step, "started": now,
                         **extra}}

    states = {
        "login_otp": auth(ACTIVE, "password"), "login_resync": auth(ACTIVE, "password"), "top": auth(ACTIVE),
        "otp_menu": auth(ACTIVE), "release": auth(ACTIVE), "logout": auth(ACTIVE), "issue": auth(PLAIN),
        "issue_confirm": {**auth(PLAIN), **flow("ib-issue", PLAIN, "confirm", email="b@example.jp",
                                                 activation_hash=hash_password("1234"))},
        "start": auth(PROVISIONED),
        "register_token": flow("register", PLAIN, "token"), "register_resync": flow("register", PLAIN, "token"),
        "stop_confirm": flow("stop", ACTIVE, "confirm"),
    }
    return World(key=bank_service.create_api_key(svc, BANK), spare=mint().credential_id,
                 service_id=bank.service_id, issued_user_id=waiting.user_id, states=states)


# --- the state ------------------------------------------------------------------------------------------
Snapshot = dict[str, dict[Any, dict[str, Any]]]


def snapshot(svc) -> Snapshot:  # type: ignore[no-untyped-def]
    with svc.db.engine.connect() as connection:
        return {table: {row["id"]: row for row in (dict(r._mapping) for r in connection.execute(
            text(f"SELECT * FROM {table}")))} for table in TABLES}


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    found = []
    for table in TABLES:
        old, new = before[table], after[table]
        if old.keys() != new.keys():
            found.append(f"{table}: rows {sorted(old)} → {sorted(new)}")
            continue
        for row_id, row in old.items():
            for column, value in row.items():
                now = new[row_id][column]
                if now == value:
                    continue
                if column not in COUNTED.get(table, ()):
                    found.append(f"{table} {row_id}: {column} changed")
                elif column in RISING and now < value:
                    found.append(f"{table} {row_id}: {column} went down")
    return found


# --- the requests ----------------------------------------------------------------------------------------
@dataclass
class Call:
    label: str
    kwargs: dict[str, Any]
    query: str = ""  # raw, appended to the path


def json_calls(members: list[str], required: list[str], filler: dict[str, str]) -> Iterator[Call]:
    """The hostile inputs as JSON routes take them (each member in turn, beside the required ones), and in
    the wrong shapes."""
    base = {name: filler.get(name, "x") for name in required}
    every = {name: filler.get(name, "x") for name in members}  # never an empty body, in the wrong shapes
    for label, value in {**STRINGS, **JSON_ONLY_STRINGS}.items():
        for name in members:
            yield Call(f"JSON {name}={label}", {"data": json.dumps({**base, name: value}),
                                                "content_type": "application/json"})
    for label, body in DEEP.items():
        yield Call(label, {"data": body, "content_type": "application/json"})
    yield Call("5 MB JSON", {"data": FIVE_MB, "content_type": "application/json"})
    yield Call("text/plain", {"data": json.dumps(every), "content_type": "text/plain"})
    yield Call("multipart", {"data": dict(every), "content_type": "multipart/form-data"})
    yield Call("form-encoded", {"data": dict(every)})
    pairs = b",".join(b'"%s": "%s"' % (name.encode(), bad) for name, bad in zip(members, BAD_UTF8 * 5, strict=False))
    yield Call("invalid UTF-8 JSON", {"data": b"{" + pairs + b"}", "content_type": "application/json"})


def form_calls(fields: list[str], filler: dict[str, str], csrf: str | None) -> Iterator[Call]:
    """The hostile inputs as the pages' forms take them (with the CSRF token when `csrf`), and in the wrong
    shapes."""
    token = {"csrf_token": csrf} if csrf else {}
    base = {name: filler.get(name, "") for name in fields}
    # With the token, one field at a time reaches the view; without it, one request with every field hostile.
    targets = [[name] for name in fields] if csrf else [fields]
    for label, value in STRINGS.items():
        for names in targets:
            yield Call(f"form {'+'.join(names)}={label}", {"data": {**base, **dict.fromkeys(names, value), **token}})
    for label, body in DEEP.items():
        yield Call(label, {"data": body, "content_type": "application/json"})
    yield Call("5 MB form", {"data": b"a=" + FIVE_MB, "content_type": "application/x-www-form-urlencoded"})
    yield Call("JSON to a form", {"data": json.dumps({**base, **token}), "content_type": "application/json"})
    yield Call("text/plain", {"data": "&".join(f"{k}={v}" for k, v in {**base, **token}.items()),
                              "content_type": "text/plain"})
    yield Call("multipart", {"data": {**base, **token}, "content_type": "multipart/form-data"})
    raw = b"&".join(b"%s=%s" % (name.encode(), bad) for name, bad in zip(fields, BAD_UTF8 * 5, strict=False))
    suffix = f"&csrf_token={csrf}".encode() if csrf else b""
    yield Call("invalid UTF-8 form", {"data": raw + suffix, "content_type": "application/x-www-form-urlencoded"})
    yield Call("percent-encoded invalid UTF-8", {"data": "&".join(f"{name}=%FF%C0%AF" for name in fields).encode()
                                                 + suffix, "content_type": "application/x-www-form-urlencoded"})


def get_calls() -> Iterator[Call]:
    """GET: the hostile strings in the query, and a hostile body nobody should read."""
    for label, value in STRINGS.items():
        yield Call(f"query={label}", {"query_string": dict.fromkeys(QUERY, value)})
    yield Call("5 MB body", {"data": FIVE_MB, "content_type": "application/x-www-form-urlencoded"})
    yield Call("deep array body", {"data": DEEP["deep array"], "content_type": "application/json"})
    yield Call("invalid UTF-8 query", {}, "?view=%FF&origin=%C0%AF&after=%ED%A0%80&return_to=%FF")


# --- the walk --------------------------------------------------------------------------------------------
def request_members(document: dict[str, Any], path: str, method: str) -> tuple[list[str], list[str]]:
    """The JSON members the OpenAPI document lists for an operation, and the required ones (contract_id and
    otp when it lists none)."""
    operation = document["paths"].get(path, {}).get(method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    members = sorted(schema.get("properties", {}))
    return (members, list(schema.get("required", []))) if members else (["contract_id", "otp"], [])


FIELD = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"')


def page_fields(html: str) -> list[str]:
    """The names of a page's form fields (its CSRF token aside)."""
    return sorted(set(FIELD.findall(html)) - {"csrf_token"})


def test_no_hostile_input_makes_a_5xx_or_changes_state(app, svc, world) -> None:  # type: ignore[no-untyped-def]
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    with app.test_request_context("/"):
        signed = generate_csrf()
        raw = session["csrf_token"]
    filler = {"contract_id": ACTIVE, "password": "wrong-pass1", "confirmation_password": "wrong123",
              "activation_password": "0000", "service_id": world.service_id, "user_id": world.issued_user_id,
              "credential_id": world.spare, "token_id": world.spare, "email": "a@example.jp",
              "email_confirm": "a@example.jp", "agree": "y", "status": "active", "pskc": "<x/>"}
    values = {"bank_code": BANK, "contract_id": ACTIVE, "filename": "css/gateway.css"}
    problems: list[str] = []
    answered: list[int] = []
    sent: set[str] = set()
    fields_of: dict[str, list[str]] = {}
    before = snapshot(svc)

    def send(rule_path: str, endpoint: str, method: str, path: str, call: Call, headers: dict[str, str],
             state: dict[str, Any] | None) -> None:
        nonlocal before
        client = app.test_client()
        if state is not None:
            with client.session_transaction(path) as seeded:
                seeded.update({"csrf_token": raw, **state})
        keyed = world.key in headers.get("Authorization", "")
        label = f"{method} {rule_path} [{call.label}{', keyed' if keyed else ''}]"
        sent.add(f"{method} {rule_path}")
        try:
            response = client.open(path + call.query, method=method, headers=headers, **call.kwargs)
        except Exception as error:  # every escape is reported, and the walk goes on
            problems.append(f"{label}: raised {type(error).__name__}: {str(error)[:120]}")
            before = snapshot(svc)
            return
        response.close()  # a static file is answered as an open file
        answered.append(response.status_code)
        if response.status_code >= 500:
            problems.append(f"{label}: {response.status_code}")
        after = snapshot(svc)
        if not (endpoint in BY_DESIGN and keyed):
            problems.extend(f"{label}: {change}" for change in changes(before, after))
        before = after

    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        path = rule.build(values, append_unknown=False)[1]
        view = rule.endpoint.rsplit(".", 1)[-1]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if path.startswith("/api/"):
                keyed = rule.endpoint.startswith("partner_api.")
                keys = [world.key, "ogw_" + "x" * 43] if keyed else [None]
                api_path = rule.rule.removeprefix("/api/v1").replace("<contract_id>", "{contract_id}")
                calls = list(get_calls()) if method == "GET" else list(
                    json_calls(*request_members(document, api_path, method), filler))
                for key in keys:
                    headers = {"Authorization": f"Bearer {key}"} if key else {}
                    for call in calls:
                        send(rule.rule, rule.endpoint, method, path, call, headers, None)
                continue
            state = world.states.get(view, {}) if path.startswith("/b/") else None
            if method == "GET":
                for call in get_calls():
                    send(rule.rule, rule.endpoint, method, path, call, {}, state)
                continue
            if view not in fields_of:
                # The form's fields, read off the page that shows it (a POST-only route's form is on the page
                # its path extends: /login/resync on /login/otp, /register/resync on /register/token).
                shown = path if "GET" in (rule.methods or ()) else path.replace("/login/resync", "/login/otp") \
                    .replace("/register/resync", "/register/token")
                client = app.test_client()
                with client.session_transaction(shown) as seeded:
                    seeded.update({"csrf_token": raw, **(state or {})})
                fields_of[view] = page_fields(client.get(shown).get_data(as_text=True)) or ["contract_id"]
                before = snapshot(svc)
            for csrf in (signed, None):
                for call in form_calls(fields_of[view], filler, csrf):
                    send(rule.rule, rule.endpoint, method, path, call, {}, state)

    every = {f"{m} {r.rule}" for r in app.url_map.iter_rules() for m in (r.methods or set()) - {"HEAD", "OPTIONS"}}
    assert sent == every
    # The hostile passwords reached the checks behind the forms (counted as wrong ones), not only the forms.
    counted = snapshot(svc)
    assert any(row["password_failures"] for row in counted["customers"].values())
    assert any(row["activation_failures"] for row in counted["issuances"].values())
    print(f"\n{len(answered)} hostile requests to {len(every)} routes and methods")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:60])

