"""The two ways in to `POST /api/v1/otp/verify`, the fast path before Flask and the Flask view, give the same
answer: one function (`web.api.verify.answer`) makes it. The fast path answers every verify request itself
(Flask never sees one), the key's budget is spent once whatever the answer, and a broken database connection
is a 503 that counts nothing twice and reports no fresh code as replayed.
"""

from __future__ import annotations

import json

import pytest
import time_machine
from flask import request_started

from gateway import create_app
from gateway.services import banks as bank_service
from gateway.storage import driver
from gateway.web import security
from gateway.web.context import app_services
from tests.api.test_verify import without_hot_path
from tests.services.conftest import credential_row
from tests.verify_fixtures import T0

pytestmark = pytest.mark.db
IGNORED = {"X-Request-Id", "Date", "Server"}


@pytest.fixture
def flask_calls(app):  # type: ignore[no-untyped-def]
    """How many requests reached Flask."""
    calls: list[str] = []

    def started(sender, **extra) -> None:  # type: ignore[no-untyped-def]
        calls.append("flask")

    request_started.connect(started, app)
    yield calls
    request_started.disconnect(started, app)


def post(client, key: str | None, body, content_type: str = "application/json",  # type: ignore[no-untyped-def]
         headers: dict[str, str] | None = None, base_url: str = "http://localhost"):
    headers = dict(headers or {})
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/v1/otp/verify", data=data, content_type=content_type, headers=headers,
                       base_url=base_url)


def answer(response) -> tuple[int, bytes, list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    return (response.status_code, response.get_data(),
            sorted((k, v) for k, v in response.headers.items() if k not in IGNORED))


CASES = [
    dict(key=None, body={"contract_id": "1000000001", "otp": "123456"}),  # no key: 401
    dict(key="nope", body={"contract_id": "1000000001", "otp": "123456"}),  # not our key's shape
    dict(key="ogw_" + "x" * 43, body={"contract_id": "1000000001", "otp": "123456"}),  # no such key
    dict(body={"contract_id": "1000000001", "otp": "123456"}, content_type="text/plain"),  # 415
    dict(body="{not json"),  # 400
    dict(body=["a list"]),  # 400
    dict(body={"contract_id": "1000000001"}),  # 422
    dict(body={"contract_id": 1000000001, "otp": "123456"}),  # 422
    dict(body={"contract_id": "1000-0001", "otp": "123456"}),  # 422 contract_id
    dict(body={"contract_id": "1000000001", "otp": "12ab56"}),  # 422 otp
    dict(body={"contract_id": "1000000001", "otp": "12345678"}),  # 8 digits for a 6-digit token: 422
    dict(body={"contract_id": "1000000001", "otp": "123456", "pad": "x" * 70_000}),  # 413
]


@pytest.mark.parametrize("case", CASES)
def test_every_request_is_answered_by_the_fast_path_as_the_flask_view_would(app, key, registered, flask_calls,
                                                                            case) -> None:
    case = {"key": key, **case}
    with time_machine.travel(T0, tick=False):
        fast = post(app.test_client(), **case)
        assert flask_calls == []  # never handed on: nothing is verified twice
        without_hot_path(app)
        assert answer(post(app.test_client(), **case)) == answer(fast)
    assert fast.status_code in (400, 401, 413, 415, 422)


def test_same_bytes_and_headers_for_every_outcome(app, app_config, svc, key, registered) -> None:
    """Two apps on one database: the same requests in the same states get the same answers."""
    plain = create_app(app_config)
    without_hot_path(plain)
    try:
        clients = {"hot": app.test_client(), "flask": plain.test_client()}
        answers: dict[str, list] = {"hot": [], "flask": []}
        for name, client in clients.items():
            fresh_token(svc, registered, name)
            with time_machine.travel(T0, tick=False) as clock:
                for otp in (registered.code(T0), registered.code(T0), registered.code(T0, 4), "000000"):
                    answers[name].append(answer(post(client, key, {"contract_id": "1000000001", "otp": otp})))
                    clock.shift(1)
                answers[name].append(answer(post(client, key, {"contract_id": "1999999999", "otp": "123456"})))
                answers[name].append(answer(post(client, key, {"contract_id": "1000000001", "otp": "123456"},
                                                 base_url="https://localhost")))
        assert answers["hot"] == answers["flask"]
        assert ("Strict-Transport-Security", security.HSTS[1]) in answers["hot"][-1][2]
        assert [json.loads(a[1])["result"] for a in answers["hot"]] == [
            "accepted", "rejected", "rejected", "rejected", "not_registered", "rejected"]
    finally:
        app_services(plain).db.dispose()


def fresh_token(svc, registered, name: str) -> None:  # type: ignore[no-untyped-def]
    """Back to the state after registration: no step used, no failure counted."""
    from sqlalchemy import update

    from gateway.storage.models import Credential

    with svc.db.transaction() as session:
        session.execute(update(Credential).where(Credential.credential_id == registered.credential_id)
                        .values(last_step=None, drift=0, failure_count=0, last_failure_at=None, locked_at=None))


@pytest.mark.ratelimit
@pytest.mark.parametrize("way", ["fast path", "flask view"])
def test_the_budget_is_spent_exactly_once_whatever_the_answer(make_app, svc, bank, registered, way) -> None:
    """A 401, a 422 and a 200 each spend one unit of the key's budget: the fourth call is a 429."""
    app = make_app(RATELIMIT_API_PER_KEY="3 per minute")
    if way == "flask view":
        without_hot_path(app)
    key = bank_service.create_api_key(app_services(app), "0001")
    client = app.test_client()
    with time_machine.travel(T0, tick=False):
        statuses = [post(client, key, body).status_code for body in (
            {"contract_id": "1000000001", "otp": "12ab56"}, {"contract_id": "1000000001", "otp": "000000"},
            {"contract_id": "1000000001"}, {"contract_id": "1000000001", "otp": "000000"})]
        dead = "ogw_" + "y" * 43  # a key of our shape that is not live: its budget too
        dead_statuses = [post(client, dead, {"contract_id": "1000000001", "otp": "000000"}).status_code
                         for _ in range(4)]
        refused = post(client, key, {"contract_id": "1000000001", "otp": "000000"})
    assert statuses == [422, 200, 422, 429] and dead_statuses == [401, 401, 401, 429]
    assert refused.mimetype == "application/problem+json" and int(refused.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("code", ["fresh", "wrong"])
def test_a_connection_broken_after_the_write_is_sent_is_a_503_that_counts_nothing_twice(
        app, svc, key, registered, flask_calls, monkeypatch, audit_rows, code) -> None:
    """The write reaches the database and the connection breaks before the answer comes back: whether or not
    it committed, the bank gets a 503 problem (never `replayed_code` for its fresh code) and a wrong code is
    counted at most once."""
    dbapi = svc.db.engine.dialect.loaded_dbapi
    real, broken = driver.Transaction.execute, []

    def breaks_after_the_audit_row(self, statement, params=None):  # type: ignore[no-untyped-def]
        result = real(self, statement, params)
        if not broken and params and "audit_tail" in params:  # the verify's write, with its audit row
            broken.append(True)
            raise dbapi.OperationalError("server closed the connection unexpectedly")
        return result

    monkeypatch.setattr(driver.Transaction, "execute", breaks_after_the_audit_row)
    otp = registered.code(T0) if code == "fresh" else ("000000" if registered.code(T0) != "000000" else "111111")
    with time_machine.travel(T0, tick=False):
        response = post(app.test_client(), key, {"contract_id": "1000000001", "otp": otp})
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "/problems/database-unavailable" and response.headers["Retry-After"]
    assert flask_calls == [] and broken == [True]
    row = credential_row(svc, registered.credential_id)
    assert row.failure_count <= 1 and len(audit_rows("otp.verify")) <= 1
    if code == "fresh" and svc.db.dialect == "sqlite":  # rolled back: the code is still good
        with time_machine.travel(T0, tick=False):
            again = post(app.test_client(), key, {"contract_id": "1000000001", "otp": otp})
        assert again.get_json()["result"] == "accepted"


def test_an_unexpected_error_is_logged_with_the_request_id_and_never_the_code(app, key, registered, monkeypatch,
                                                                              caplog) -> None:
    from gateway.services import verification

    def fails(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(verification, "verify", fails)
    with time_machine.travel(T0, tick=False):
        response = post(app.test_client(), key, {"contract_id": "1000000001", "otp": registered.code(T0)},
                        headers={"X-Request-Id": "req-42"})
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    logged = [r for r in caplog.records if r.name == "gateway.verify"]
    assert len(logged) == 1 and "req-42" in logged[0].getMessage()
    assert registered.code(T0) not in caplog.text


def test_sqlite_checkpoints_once_the_answer_is_sent(app, svc, key, registered, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The write-ahead log is copied back after the response (WSGI close()), never inside a request's
    commit: SQLite's own checkpoint is off on the kept connections. PostgreSQL has nothing to copy."""
    from werkzeug.test import EnvironBuilder

    from gateway.storage import driver as driver_module

    monkeypatch.setattr(driver_module, "CHECKPOINT_EVERY", 2)
    driver = svc.db.driver
    sqlite = svc.db.dialect == "sqlite"

    def verify():  # type: ignore[no-untyped-def]
        environ = EnvironBuilder(path="/api/v1/otp/verify", method="POST", content_type="application/json",
                                 headers={"Authorization": f"Bearer {key}"},
                                 data=json.dumps({"contract_id": "1000000001", "otp": "000000"})).get_environ()
        answered = app(environ, lambda status, headers, exc_info=None: None)
        assert json.loads(b"".join(answered))["result"] == "rejected"
        return answered

    with time_machine.travel(T0, tick=True):
        verify().close()
        assert not driver.checkpoint_due
        second = verify()
        assert driver.checkpoint_due is sqlite  # two commits: due, but not done inside the request
        second.close()
        assert not driver.checkpoint_due
    if sqlite:
        kept = driver._connection()
        assert kept.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        busy, logged, copied = kept.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and logged == copied
