"""`GET /healthz`: 200 while the database answers, 503 problem+json when it is really down (the SQLite file's
folder gone, the file not a database, a PostgreSQL server that is not there); cheap and stateless."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway import create_app
from gateway.storage.models import WebSession
from gateway.web.context import app_services
from tests.conftest import PG_URL

pytestmark = pytest.mark.db


@pytest.fixture
def sqlite_app(app_config, database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An app whose SQLite database lives alone in a folder the test can take away."""
    if PG_URL:
        pytest.skip("needs a SQLite file")
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(database_url.removeprefix("sqlite:///"), folder / "gateway.db")
    app = create_app({**app_config, "DATABASE_URL": f"sqlite:///{folder / 'gateway.db'}"})
    yield app, folder
    app_services(app).db.dispose()


def assert_down(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 503 and body["database"] == "down" and body["type"] == "/problems/database-unavailable"
    assert response.headers["Retry-After"] == "5"
    # The driver's words (paths, hosts, ports) stay in the server's log.
    text = response.get_data(as_text=True)
    for leak in ("Error", "sqlite", "gateway.db", "127.0.0.1", "port"):
        assert leak not in text


def test_ok_without_session_cookie_rate_limit_or_session_row(client, svc, bank) -> None:
    for _ in range(100):  # more than any per-address limit
        response = client.get("/healthz")
        assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "up"}
    assert "Set-Cookie" not in response.headers
    assert not any(name.lower().startswith(("x-ratelimit", "retry-after")) for name in response.headers.keys())
    assert response.headers["Cache-Control"] == "no-store"
    with svc.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0


def test_sqlite_folder_removed_then_back(sqlite_app, caplog: pytest.LogCaptureFixture) -> None:
    app, folder = sqlite_app
    client = app.test_client()
    # The app's pool holds an open connection to the file: it must not make the check pass.
    assert client.get("/status").status_code == 200
    assert client.get("/healthz").status_code == 200
    moved = folder.with_name("moved")
    folder.rename(moved)
    with caplog.at_level(logging.INFO, logger="gateway.health"):
        assert_down(client.get("/healthz"))
        assert_down(client.get("/healthz"))
        moved.rename(folder)
        assert client.get("/healthz").status_code == 200
    messages = [record.getMessage() for record in caplog.records if record.name == "gateway.health"]
    assert len(messages) == 2  # a change of state is logged once, not at every check
    assert messages[0].startswith("database unavailable: OperationalError") and "reachable again" in messages[1]


def test_sqlite_file_that_is_not_a_database(sqlite_app) -> None:
    app, folder = sqlite_app
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    app_services(app).db.dispose()
    for name in os.listdir(folder):
        (folder / name).unlink()
    (folder / "gateway.db").write_bytes(b"this is not a database" * 100)
    assert_down(client.get("/healthz"))


def test_postgresql_that_is_not_there(app_config) -> None:
    """A PostgreSQL URL whose port has no listener: refused at once, 503, no traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    app = create_app({**app_config, "DATABASE_URL": f"postgresql+psycopg://gateway:pw@127.0.0.1:{port}/gateway"})
    try:
        started = time.monotonic()
        response = app.test_client().get("/healthz")
        assert_down(response)
        assert "pw" not in response.get_data(as_text=True)
        assert time.monotonic() - started < 5
    finally:
        app_services(app).db.dispose()
