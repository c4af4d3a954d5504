"""The WSGI hot path for `POST /api/v1/otp/verify` answers exactly as the Flask view would.

It answers ordinary requests itself and hands every other one, body and all, to the Flask view.
"""

from __future__ import annotations

import json

import pytest
import time_machine
from flask import request_started

from gateway import create_app, services
from gateway.services import banks as bank_service
from gateway.web import security
from tests.api.test_verify import without_hot_path
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


def test_ordinary_requests_never_reach_flask(client, key, registered, flask_calls) -> None:
    with time_machine.travel(T0, tick=False):
        for otp in (registered.code(T0), registered.code(T0), "000000"):
            assert post(client, key, {"contract_id": "1000000001", "otp": otp}).status_code == 200
        assert post(client, key, {"contract_id": "1999999999", "otp": "123456"}).status_code == 200
    assert flask_calls == []


@pytest.mark.parametrize("case", [
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
])
def test_other_requests_are_answered_by_flask_as_before(app, key, registered, flask_calls, case) -> None:
    """The hot path hands them on with the body intact: the answer is the Flask view's own."""
    case = {"key": key, **case}
    hot = post(app.test_client(), **case)
    assert flask_calls == ["flask"]
    assert hot.status_code in (400, 401, 413, 415, 422)
    without_hot_path(app)
    assert answer(post(app.test_client(), **case)) == answer(hot)


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
        services(plain).db.dispose()


def fresh_token(svc, registered, name: str) -> None:  # type: ignore[no-untyped-def]
    """Back to the state after registration: no step used, no failure counted."""
    from sqlalchemy import update

    from gateway.storage.models import Credential

    with svc.db.transaction() as session:
        session.execute(update(Credential).where(Credential.credential_id == registered.credential_id)
                        .values(last_step=None, drift=0, failure_count=0, last_failure_at=None, locked_at=None))


@pytest.mark.ratelimit
def test_the_budget_is_spent_once_per_call(app_config, svc, bank, registered) -> None:  # type: ignore[no-untyped-def]
    app = create_app({**app_config, "RATELIMIT_API_PER_KEY": "4 per minute"})
    try:
        key = bank_service.create_api_key(services(app), "0001")
        client = app.test_client()
        statuses = [post(client, key, {"contract_id": "1000000001", "otp": "000000"}).status_code
                    for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        refused = post(client, key, {"contract_id": "1000000001", "otp": "000000"})
        assert refused.mimetype == "application/problem+json" and int(refused.headers["Retry-After"]) >= 1
    finally:
        services(app).db.dispose()


def test_a_failure_before_the_commit_is_left_to_flask(client, key, registered, flask_calls, monkeypatch) -> None:
    """Nothing was written (the transaction rolled back): the Flask view answers, here successfully."""
    from gateway.services import verification

    real, failures = verification.verify_with_key, []

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(True)
            raise OSError("connection reset")
        return real(*args, **kwargs)

    monkeypatch.setattr(verification, "verify_with_key", flaky)
    with time_machine.travel(T0, tick=False):
        response = post(client, key, {"contract_id": "1000000001", "otp": registered.code(T0)})
    assert response.get_json() == {"result": "accepted", "credential_id": registered.credential_id}
    assert flask_calls == ["flask"]


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
