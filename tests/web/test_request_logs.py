"""The request log: one JSON line per request on `gateway.request`, with a request id echoed back, and never a
secret in it — nor in any other log record, nor in the audit trail."""

from __future__ import annotations

import json
import logging
import re

import pytest
import time_machine
from sqlalchemy import select

from gateway.storage.models import AuditEvent
from tests.conftest import CONFIRMATION, PASSWORD
from tests.verify_fixtures import T0

pytestmark = pytest.mark.db
FIELDS = {"time", "request_id", "method", "path", "endpoint", "status", "duration_ms", "bank", "ip"}


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == "gateway.request"]


def test_one_json_line_per_request(client, key, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        client.post("/api/v1/otp/verify", json={"contract_id": "1999999999", "otp": "123456"},
                    headers={"Authorization": f"Bearer {key}", "X-Request-Id": "lb-7f3a.42"},
                    environ_base={"REMOTE_ADDR": "198.51.100.7"})
        client.get("/b/0001/")
        client.get("/no/such/page")
    api, page, missing = request_lines(caplog)
    assert set(api) == FIELDS
    assert api["request_id"] == "lb-7f3a.42" and api["ip"] == "198.51.100.7" and api["bank"] == "0001"
    assert (api["method"], api["path"], api["endpoint"], api["status"]) == (
        "POST", "/api/v1/otp/verify", "partner_api.verify", 200)
    assert isinstance(api["duration_ms"], float) and api["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(api["time"]))
    assert (page["endpoint"], page["bank"], page["status"]) == ("pages.login", "0001", 200)
    assert (missing["endpoint"], missing["bank"], missing["status"]) == ("unmatched", None, 404)


@pytest.mark.parametrize("offered", [None, "", "has space", "x" * 129, "bad\u00e9", "-leading-dash"])
def test_a_missing_or_odd_request_id_is_replaced(client, bank, offered, caplog: pytest.LogCaptureFixture) -> None:
    headers = {"X-Request-Id": offered} if offered is not None else {}
    with caplog.at_level(logging.INFO):
        response = client.get("/healthz", headers=headers)
    (line,) = request_lines(caplog)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])
    assert line["request_id"] == response.headers["X-Request-Id"]


def test_request_id_is_echoed(client, bank) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"


def test_no_secret_in_any_log_record_or_the_audit_trail(client, browser, svc, key, registered,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A verify call with a known code and key, a page login with password and code, and a query string
    carrying a code: none of the code, the key or the passwords reaches a log record or an audit row."""
    with time_machine.travel(T0, tick=False), caplog.at_level(logging.DEBUG):
        api_code = registered.code(T0)
        answer = client.post(f"/api/v1/otp/verify?otp={api_code}&key={key}",
                             json={"contract_id": "1000000001", "otp": api_code},
                             headers={"Authorization": f"Bearer {key}"})
        assert answer.get_json()["result"] == "accepted"
        page_code = registered.code(T0, 1)
        browser.get("/b/0001/")
        browser.post("/b/0001/", {"contract_id": "1000000001", "password": PASSWORD})
        assert browser.post("/b/0001/login/otp", {"otp": page_code}).screen() == "TOP001"
        wrong = client.post("/api/v1/otp/verify", json={"contract_id": "1000000001", "otp": "987654"},
                            headers={"Authorization": f"Bearer {key}"})
        assert wrong.get_json()["result"] == "rejected"
        browser.post("/b/0001/", {"contract_id": "1000000001", "password": "wrong-pass-9"})
    secrets = {api_code, page_code, "987654", key, key[4:], PASSWORD, CONFIRMATION, "wrong-pass-9",
               registered.secret.hex()}
    records = caplog.records
    assert len(request_lines(caplog)) >= 6
    for record in records:
        text = record.getMessage() + repr(record.args) + repr(getattr(record, "request_fields", ""))
        for secret in secrets:
            assert secret not in text, (record.name, text)
    assert not any("?" in str(line["path"]) for line in request_lines(caplog))
    with svc.db.reading() as session:
        rows = list(session.scalars(select(AuditEvent)))
    assert {"otp.verify", "login.otp", "login.password"} <= {row.event for row in rows}
    for row in rows:
        text = " ".join(str(getattr(row, column.name)) for column in AuditEvent.__table__.columns)
        for secret in secrets:
            assert secret not in text, (row.event, text)
