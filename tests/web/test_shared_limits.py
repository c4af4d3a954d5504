"""Rate limits hold however many workers serve: one count per host by default, never one per process.

With `memory://` each gunicorn worker counted alone, so a limit of 60 a minute let 120 through with two
workers. The default storage is a file the host's workers share (`gateway.storage.ratelimits`); `serve`
refuses `memory://` with several workers; the per-contract limit of a later step keys on the flow's contract
ID, never on a form field the client may add.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import signal
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import time_machine
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from gateway.services import credentials as cs
from gateway.storage.ratelimits import SQLiteStorage
from tests.cli.support import SCRIPT, environment, invoke
from tests.conftest import PASSWORD, PG_URL
from tests.services.conftest import CLIENT
from tests.web.conftest import Browser
from tests.web.test_metrics import _free_port, _wait_for

T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)


def _hits(uri: str, count: int, queue) -> None:  # type: ignore[no-untyped-def]
    limiter = FixedWindowRateLimiter(storage_from_string(uri))
    queue.put(sum(limiter.hit(parse("60 per minute"), "login", "203.0.113.7") for _ in range(count)))


def test_the_file_storage_counts_once_for_every_process(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'limits' / 'ratelimits.db'}"
    assert isinstance(storage_from_string(uri), SQLiteStorage)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_hits, args=(uri, 50, queue)) for _ in range(3)]
    for worker in workers:
        worker.start()
    allowed = sum(queue.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    assert allowed == 60  # 150 tries from three processes, one limit of 60
    assert (tmp_path / "limits").stat().st_mode & 0o777 == 0o700


def test_the_file_storage_starts_a_window_afresh_once_it_expired(tmp_path: Path) -> None:
    storage = SQLiteStorage(f"sqlite:///{tmp_path / 'ratelimits.db'}")
    with time_machine.travel(T0, tick=False) as clock:
        assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
        assert storage.get("k") == 3 and storage.get_expiry("k") == pytest.approx(T0.timestamp() + 60)
        clock.shift(61)
        assert storage.get("k") == 0 and storage.incr("k", 60) == 1
        storage.clear("k")
        assert storage.get("k") == 0 and storage.check()


def test_the_default_storage_is_the_instance_folders_file(app_config, make_app) -> None:
    app = make_app(RATELIMIT_STORAGE_URI=None)
    assert app.config["RATELIMIT_STORAGE_URI"] == f"sqlite:///{Path(app_config['INSTANCE_PATH']) / 'ratelimits.db'}"


@pytest.mark.db
def test_serve_refuses_memory_storage_with_several_workers(tmp_path: Path, database_url: str) -> None:
    env = environment(tmp_path / "instance", database_url, GATEWAY_RATELIMIT_STORAGE_URI="memory://")
    line = invoke(env, "serve", "--port", str(_free_port()), "--workers", "2", ok=False).error()
    assert "memory://" in line and "each of the 2 workers alone" in line


@pytest.mark.db
@pytest.mark.skipif(bool(PG_URL), reason="the server test uses its own SQLite database")
def test_a_limit_holds_on_a_real_server_with_two_workers(tmp_path: Path, database_url: str, bank) -> None:
    """130 token-app set-up calls from one address against a limit of 60 a minute: 60 answered, 70 refused."""
    env = environment(tmp_path / "instance", database_url, TMPDIR=str(tmp_path),
                      GATEWAY_RATELIMIT_PER_ADDRESS="60 per minute")
    port = _free_port()
    server = subprocess.Popen([str(SCRIPT), "serve", "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def call(_number: int) -> int:
        body = json.dumps({"service_id": "10000000", "user_id": "999800000000",
                           "activation_password": "1234"}).encode()
        request = urllib.request.Request(base + "/api/v1/provision", data=body, method="POST",
                                         headers={"Content-Type": "application/json", "Connection": "close"})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status
        except urllib.error.HTTPError as refused:
            return refused.code

    try:
        _wait_for(base + "/healthz")
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(call, range(130)))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _, errors = server.communicate(timeout=20)
    assert "Traceback" not in errors
    assert statuses.count(429) == 70 and len(statuses) - statuses.count(429) == 60, sorted(set(statuses))


@pytest.mark.db
@pytest.mark.ratelimit
def test_a_later_steps_form_cannot_move_the_per_contract_count(make_app, svc, customer, token) -> None:
    """LGN002 counts against the flow's contract ID: a `contract_id` field added to the form changes nothing."""
    app = make_app(RATELIMIT_PER_CONTRACT="3 per minute")
    at = T0 - dt.timedelta(minutes=5)
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(at), CLIENT, now=at)
    browser = Browser(app.test_client())
    with time_machine.travel(T0, tick=False):
        browser.get("/b/0001/")
        assert browser.post("/b/0001/", {"contract_id": "1000000001", "password": PASSWORD}).screen() == "LGN002"
        statuses = [browser.post("/b/0001/login/otp", {"otp": "000000", "contract_id": f"{number:010d}"}).status
                    for number in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
