"""Prometheus metrics: verify outcomes by bank, lockouts, audit events, request latency; who may read /metrics;
and the real server (`otp-gateway serve`, two workers) adding up what every worker counted."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import time_machine

from gateway import create_app, observability
from gateway.config import ConfigError
from gateway.domain.errors import ActivationFailed, ActivationLocked, AuthenticationFailed
from gateway.services import credentials as cs
from gateway.services import customers as customer_service
from gateway.services import issuance
from gateway.storage import audit
from gateway.web.context import app_services
from tests.cli.support import SCRIPT, environment
from tests.conftest import PASSWORD, PG_URL
from tests.services.conftest import CLIENT
from tests.verify_fixtures import T0

pytestmark = pytest.mark.db


def value(name: str, **labels: str) -> float:
    return observability.metrics().registry.get_sample_value(name, labels) or 0.0


class Delta:
    """Metric values now, to compare with later (metrics live for the whole test process)."""

    def __init__(self, *series: tuple[str, dict[str, str]]) -> None:
        self.series = series
        self.before = [value(name, **labels) for name, labels in series]

    def __call__(self) -> list[float]:
        return [value(name, **labels) - before for (name, labels), before in zip(self.series, self.before, strict=True)]


def verify_outcome(outcome: str, bank: str = "0001") -> tuple[str, dict[str, str]]:
    return "gateway_verify_total", {"bank": bank, "outcome": outcome}


def lockout(kind: str, bank: str = "0001") -> tuple[str, dict[str, str]]:
    return "gateway_lockouts_total", {"bank": bank, "kind": kind}


def api_verify(client, key, otp, contract_id="1000000001"):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/otp/verify", json={"contract_id": contract_id, "otp": otp},
                       headers={"Authorization": f"Bearer {key}"}).get_json()


def test_every_verify_outcome_is_counted_by_bank(client, key, registered) -> None:
    outcomes = ("accepted", "replayed", "out_of_sync", "throttled", "rejected", "not_registered")
    delta = Delta(*(verify_outcome(o) for o in outcomes), ("gateway_audit_events_total",
                                                            {"event": "otp.verify", "result": "replayed_code"}))
    with time_machine.travel(T0, tick=False) as clock:
        assert api_verify(client, key, registered.code(T0))["result"] == "accepted"
        assert api_verify(client, key, registered.code(T0))["reason"] == "replayed_code"
        clock.shift(2)
        assert api_verify(client, key, registered.code(T0, 4))["reason"] == "out_of_sync"
        assert api_verify(client, key, "000000")["reason"] == "throttled"
        clock.shift(600)
        wrong = "000000" if registered.code() != "000000" else "111111"
        assert api_verify(client, key, wrong)["reason"] == "invalid_code"
    assert api_verify(client, key, "123456", contract_id="1999999999")["result"] == "not_registered"
    assert delta() == [1, 1, 1, 1, 1, 1, 1]


def test_login_page_codes_count_like_api_ones(browser, registered) -> None:
    delta = Delta(verify_outcome("accepted"), ("gateway_audit_events_total", {"event": "login.otp", "result": "ok"}))
    with time_machine.travel(T0, tick=False):
        browser.get("/b/0001/")
        browser.post("/b/0001/", {"contract_id": "1000000001", "password": PASSWORD})
        assert browser.post("/b/0001/login/otp", {"otp": registered.code(T0)}).screen() == "TOP001"
    assert delta() == [1, 1]


def test_credential_lockout_counts_once_then_locked_tries(client, key, registered) -> None:
    delta = Delta(lockout("credential"), verify_outcome("locked"), verify_outcome("rejected"))
    with time_machine.travel(T0, tick=False) as clock:
        wrong = "000000" if registered.code(T0) != "000000" else "111111"
        for _ in range(10):
            result = api_verify(client, key, wrong)
            clock.shift(600)
        assert result == {"result": "locked", "reason": "credential_locked"}
        assert api_verify(client, key, wrong)["result"] == "locked"  # already locked: no new lockout
    assert delta() == [1, 2, 9]


def test_customer_and_activation_lockouts(svc, make_bank, make_customer) -> None:
    make_bank()
    make_bank("0002", "デモ商工信用組合", prefix="NTTD", period=60, service_id="10112180")
    make_customer()
    make_customer("0002", "2000000001")
    delta = Delta(lockout("customer"), lockout("activation", "0002"))
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            customer_service.authenticate(svc, "0001", "1000000001", "wrong-pass", CLIENT)
    with pytest.raises(AuthenticationFailed):  # still locked: not a second lockout
        customer_service.authenticate(svc, "0001", "1000000001", "wrong-pass", CLIENT)
    issued = issuance.issue(svc, "0002", "2000000001", "taro@example.jp", "1234", CLIENT)
    for attempt in range(1, 6):
        with pytest.raises(ActivationFailed):  # the fifth locks, answered as a wrong password
            issuance.provision(svc, issued.service_id, issued.user_id, "0000", CLIENT)
    with pytest.raises(ActivationLocked):  # still locked: not a second lockout
        issuance.provision(svc, issued.service_id, issued.user_id, "1234", CLIENT)
    assert delta() == [1, 1]


def test_a_rolled_back_event_is_not_counted(svc, bank) -> None:
    series = ("gateway_audit_events_total", {"event": "test.rollback", "result": "ok"})
    delta = Delta(series)
    with pytest.raises(RuntimeError), svc.db.transaction() as session:
        audit.append(session, event="test.rollback", result="ok", now=T0, actor="operator")
        raise RuntimeError("changed my mind")
    assert delta() == [0]
    with svc.db.transaction() as session:
        audit.append(session, event="test.rollback", result="ok", now=T0, actor="operator")
    assert delta() == [1]


def test_request_latency_and_status_class(client, bank) -> None:
    labels = {"endpoint": "status.healthz", "method": "GET"}
    delta = Delta(("gateway_http_request_duration_seconds_count", labels),
                  ("gateway_http_requests_total", {**labels, "status": "2xx"}),
                  ("gateway_http_requests_total", {"endpoint": "unmatched", "method": "GET", "status": "4xx"}))
    assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert delta() == [1, 1, 1]
    assert value("gateway_http_request_duration_seconds_sum", **labels) > 0


def test_metrics_page_from_loopback(client, key, registered) -> None:
    api_verify(client, key, "123456", contract_id="1999999999")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert "Set-Cookie" not in response.headers
    text = response.get_data(as_text=True)
    assert re.search(r'^gateway_verify_total\{bank="0001",outcome="not_registered"\} [1-9]', text, re.M)
    for family in ("gateway_lockouts_total counter", "gateway_audit_events_total counter",
                   "gateway_http_requests_total counter", "gateway_http_request_duration_seconds histogram"):
        assert f"# TYPE {family}\n" in text


@pytest.mark.parametrize(("allow", "address", "status"), [
    (None, "127.0.0.1", 200),
    (None, "::1", 200),
    (None, "203.0.113.5", 403),
    (None, "::ffff:127.0.0.1", 200),
    ("10.0.0.0/8, 192.0.2.7", "10.1.2.3", 200),
    ("10.0.0.0/8, 192.0.2.7", "192.0.2.7", 200),
    ("10.0.0.0/8, 192.0.2.7", "127.0.0.1", 403),
    ("", "127.0.0.1", 403),
])
def test_who_may_read_metrics(app_config, allow, address, status) -> None:
    config = dict(app_config) if allow is None else {**app_config, "METRICS_ALLOW": allow}
    app = create_app(config)
    try:
        response = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": address},
                                         headers={"X-Forwarded-For": "127.0.0.1"})
        assert response.status_code == status
        if status == 403:
            assert response.mimetype == "application/problem+json" and b"gateway_" not in response.data
    finally:
        app_services(app).db.dispose()


def test_a_bad_metrics_allow_entry_stops_the_start(app_config) -> None:
    with pytest.raises(ConfigError, match="METRICS_ALLOW"):
        create_app({**app_config, "METRICS_ALLOW": "127.0.0.1, localhost"})


@pytest.mark.skipif(bool(PG_URL), reason="the server test uses its own SQLite database")
def test_real_server_adds_up_both_workers(svc, key, customer, token, database_url, tmp_path: Path) -> None:
    """`otp-gateway serve --workers 2`: verify calls land on both workers; every scrape shows them all."""
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(earlier), CLIENT, now=earlier)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = environment(tmp_path / "instance", database_url, TMPDIR=str(scratch))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = _free_port()
    out = tmp_path / "server.out"
    with out.open("w") as stdout:
        server = subprocess.Popen([str(SCRIPT), "serve", "--port", str(port), "--workers", "2"], env=env,
                                  stdout=stdout, stderr=subprocess.PIPE, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    calls = 60
    try:
        _wait_for(base + "/healthz")
        before = _scrape(base)

        def call(number: int) -> str:
            body = json.dumps({"contract_id": f"2{number:09d}" if number else "1000000001",
                               "otp": token.code() if number == 0 else "123456"}).encode()
            request = urllib.request.Request(base + "/api/v1/otp/verify", data=body, method="POST", headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {key}", "Connection": "close"})
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())["result"]

        results: list[str] = []
        workers: set[str] = set()
        with ThreadPoolExecutor(8) as pool:
            # The kernel hands connections to whichever worker accepts first: on a busy machine one
            # worker may take a whole batch. More batches until both have counted something.
            while len(workers) < 2 and len(results) < 10 * calls:
                results += pool.map(call, range(len(results), len(results) + calls))
                workers = {path.name.rsplit("_", 1)[1]
                           for path in scratch.glob("otp-gateway-metrics-*/counter_*.db")}
        assert len(workers) == 2, workers  # both workers counted something
        calls = len(results)
        assert results.count("accepted") == 1 and results.count("not_registered") == calls - 1
        for _ in range(6):  # whichever worker answers the scrape, it reports the sum
            after = _scrape(base)
            assert after.get(("0001", "not_registered"), 0) - before.get(("0001", "not_registered"), 0) == calls - 1
            assert after.get(("0001", "accepted"), 0) - before.get(("0001", "accepted"), 0) == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _, errors = server.communicate(timeout=20)
    assert "Traceback" not in errors
    assert not list(scratch.iterdir())  # the metrics directory is gone with the server
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
    verify_lines = [line for line in lines if line["endpoint"] == "partner_api.verify"]
    assert len(verify_lines) == calls and {line["bank"] for line in verify_lines} == {"0001"}
    assert all(line["status"] == 200 and line["path"] == "/api/v1/otp/verify" for line in verify_lines)
    assert all(not line.startswith("127.0.0.1 \"") for line in out.read_text().splitlines())  # no access log


def _scrape(base: str) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.findall(r'^gateway_verify_total\{bank="([^"]+)",outcome="([^"]+)"\} (\S+)$', text, re.M)
    return {(bank, outcome): float(number) for bank, outcome, number in found}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
