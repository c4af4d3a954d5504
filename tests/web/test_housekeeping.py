"""What a reviewer checks beside the flows: forwarded headers believed only from trusted proxies, expired
sessions swept out, private files, absolute links in mails."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import signal
import stat
import subprocess
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from gateway.services import issuance
from gateway.storage.models import WebSession
from gateway.web import sessions
from gateway.web.context import app_services
from gateway.web.security import HSTS
from tests.cli.support import SCRIPT, environment
from tests.conftest import PASSWORD, PG_URL
from tests.services.conftest import CLIENT
from tests.web.conftest import Browser
from tests.web.test_metrics import _free_port, _wait_for

HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.fixture
def behind_proxy(make_app):  # type: ignore[no-untyped-def]
    """The app with 10.0.0.5 named as its reverse proxy."""
    return make_app(TRUSTED_PROXIES="10.0.0.5")


@pytest.mark.db
@pytest.mark.parametrize("path", ["/b/0001/", "/healthz", "/api/v1/otp/verify"])
def test_a_clients_forwarded_proto_gives_no_hsts(client, bank, path) -> None:
    response = client.open(path, method="POST" if "verify" in path else "GET", headers=HTTPS, json={})
    assert HSTS[0] not in response.headers


@pytest.mark.db
@pytest.mark.parametrize(("peer", "hsts"), [("10.0.0.5", True), ("203.0.113.9", False)])
def test_a_trusted_proxys_forwarded_proto_is_believed(behind_proxy, bank, peer, hsts) -> None:
    response = behind_proxy.test_client().get("/b/0001/", headers=HTTPS, environ_base={"REMOTE_ADDR": peer})
    assert (HSTS[0] in response.headers) is hsts


@pytest.mark.db
@pytest.mark.ratelimit
def test_the_per_address_limit_counts_the_client_a_trusted_proxy_names(make_app, customer) -> None:
    app = make_app(TRUSTED_PROXIES="10.0.0.5", RATELIMIT_PER_ADDRESS="2 per minute")

    def login(peer: str, forwarded: str) -> int:
        """A person's browser: the form (its CSRF token) fetched, then posted, both through `peer`."""
        browser = Browser(app.test_client())
        browser.client.environ_base.update(REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
        browser.get("/b/0001/")
        return browser.post("/b/0001/", {"contract_id": "1000000001", "password": PASSWORD}, follow=False).status

    # Through the proxy, two clients each have their own budget.
    assert [login("10.0.0.5", "198.51.100.1") for _ in range(3)][-1] == 429
    assert login("10.0.0.5", "198.51.100.2") != 429
    # A client reaching us directly cannot buy a fresh budget with a forged header.
    assert [login("203.0.113.9", f"198.51.100.{n}") for n in range(10, 13)][-1] == 429


@pytest.mark.db
@pytest.mark.skipif(bool(PG_URL), reason="the server test uses its own SQLite database")
def test_the_real_server_ignores_a_loopback_clients_forwarded_proto(tmp_path: Path, database_url: str) -> None:
    """gunicorn itself would believe X-Forwarded-Proto from 127.0.0.1: `serve` tells it not to."""
    env = environment(tmp_path / "instance", database_url, TMPDIR=str(tmp_path))
    port = _free_port()
    server = subprocess.Popen([str(SCRIPT), "serve", "--port", str(port), "--workers", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers=HTTPS)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers.get(HSTS[0]) is None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.communicate(timeout=20)


@pytest.mark.db
def test_expired_sessions_are_swept_when_sessions_are_made(app, client, svc, bank, monkeypatch) -> None:
    now = dt.datetime.now(dt.UTC)
    table = WebSession.__table__
    with svc.db.transaction() as tx:
        for number, (created, seen) in enumerate([(now - dt.timedelta(hours=2), now - dt.timedelta(hours=2)),
                                                  (now - dt.timedelta(hours=2), now - dt.timedelta(seconds=5)),
                                                  (now - dt.timedelta(minutes=1), now - dt.timedelta(seconds=5))]):
            tx.execute(insert(table).values(id_hash=f"{number:064d}", data="{}", created_at=created,
                                            last_seen_at=seen))

    def count() -> int:
        with svc.db.reading() as session:
            return int(session.scalar(select(func.count()).select_from(table)))

    client.get("/b/0001/")  # a new session (the login form's CSRF token)
    assert count() == 2  # the idle one and the one past its absolute limit are gone; the live one and ours stay
    monkeypatch.setattr(sessions, "PURGE_EVERY", 3600.0)
    with svc.db.transaction() as tx:
        tx.execute(insert(table).values(id_hash="9" * 64, data="{}", created_at=now - dt.timedelta(hours=2),
                                        last_seen_at=now - dt.timedelta(hours=2)))
    app.test_client().get("/b/0001/")
    assert count() == 4  # swept at most once a minute per process, not on every request


@pytest.mark.skipif(bool(PG_URL), reason="file modes are SQLite's")
def test_the_instance_folder_and_the_database_are_private(tmp_path: Path, make_app) -> None:
    instance = tmp_path / "fresh"
    old_umask = os.umask(0o022)
    try:
        app = make_app(INSTANCE_PATH=str(instance), DATABASE_URL=None, RATELIMIT_STORAGE_URI=None)
        from gateway.storage import migrate

        migrate.upgrade(app_services(app).db)
        app.test_client().get("/healthz")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    files = [path for path in instance.iterdir() if path.is_file()]
    assert {"gateway.db", "gateway.db-wal", "ratelimits.db"} <= {path.name for path in files}
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {path.name: 0o600 for path in files}


@pytest.mark.skipif(bool(PG_URL), reason="file modes are SQLite's")
def test_an_existing_world_readable_instance_is_made_private(tmp_path: Path, make_app) -> None:
    instance = tmp_path / "old"
    instance.mkdir(mode=0o755)
    (instance / "gateway.db").touch(mode=0o644)
    make_app(INSTANCE_PATH=str(instance), DATABASE_URL=f"sqlite:///{instance}/gateway.db")
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert stat.S_IMODE((instance / "gateway.db").stat().st_mode) == 0o600


@pytest.mark.db
def test_the_issuance_mail_links_to_the_setup_page_absolutely(app_config, make_app, make_bank, make_customer) -> None:
    app = make_app(PUBLIC_BASE_URL="https://otp.example.jp")
    make_bank("0002", "デモ商工信用組合", prefix="NTTD", period=60, service_id="10112180")
    make_customer("0002", "2000000001")
    issuance.issue(app_services(app), "0002", "2000000001", "taro@example.jp", "1234", CLIENT)
    (path,) = sorted((Path(app_config["INSTANCE_PATH"]) / "outbox").glob("*.eml"))
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "スマートフォンの方 : https://otp.example.jp/b/0002/token/setup" in body
