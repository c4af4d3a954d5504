"""Fixtures: a migrated database per test (SQLite file, or PostgreSQL when GATEWAY_TEST_DATABASE_URL is set),
the app, its services, and factories for banks, customers and tokens."""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import select, text

from gateway import create_app
from gateway.services import Services
from gateway.services import banks as bank_service
from gateway.services import credentials as credential_service
from gateway.services import customers as customer_service
from gateway.storage import migrate
from gateway.storage.db import Database
from gateway.storage.models import AuditEvent
from gateway.web.context import app_services
from tests.smtp import smtp  # noqa: F401 - a real SMTP server, for the tests that send mail

#: `key` and `registered` for the tests around the partner API's verify (modules may override them).
pytest_plugins = ["tests.verify_fixtures"]

SEAL_KEY = "test:" + base64.urlsafe_b64encode(b"\x01" * 32).decode()
PG_URL = os.environ.get("GATEWAY_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL")
#: RFC 6238 / RFC 4226 vectors and the PSKC sample files (their sources: tests/vectors/README.md).
VECTORS = Path(__file__).resolve().parent / "vectors"
PASSWORD = "pass1234"
CONFIRMATION = "conf1234"


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per run: a SQLite file to copy, or the PostgreSQL database to truncate."""
    if PG_URL:
        db = Database(PG_URL)
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        migrate.upgrade(db)
        db.dispose()
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "gateway.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return str(path)


@pytest.fixture
def database_url(_template_db: str, tmp_path: Path) -> str:
    """A freshly migrated, empty database for this test."""
    if PG_URL:
        db = Database(PG_URL)
        with db.engine.begin() as connection:
            connection.execute(text(
                "TRUNCATE audit_events, api_keys, credentials, customers, banks RESTART IDENTITY CASCADE"))
            for table in _extra_tables(connection):
                connection.execute(text(f"TRUNCATE {table} RESTART IDENTITY CASCADE"))
            connection.execute(text("UPDATE audit_head SET seq = 0, hash = :h, prev_hash = :h"), {"h": "0" * 64})
            # Tamper tests switch the append-only guard off; every test starts with it on.
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
        db.dispose()
        return PG_URL
    target = tmp_path / "gateway.db"
    shutil.copy(_template_db, target)
    return f"sqlite:///{target}"


CORE_TABLES = {"audit_events", "api_keys", "credentials", "customers", "banks", "audit_head", "alembic_version"}


def _extra_tables(connection) -> list[str]:  # type: ignore[no-untyped-def]
    rows = connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    return sorted(name for (name,) in rows if name not in CORE_TABLES)


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, object]:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "SEAL_KEYS": SEAL_KEY,
        "RATELIMIT_STORAGE_URI": REDIS_URL or "memory://",
    }


@pytest.fixture
def app(app_config: dict[str, object]):  # type: ignore[no-untyped-def]
    if REDIS_URL:
        # Rate-limit counters live in Redis across tests; each test starts with none.
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    application = create_app(app_config)
    yield application
    app_services(application).db.dispose()


@pytest.fixture
def make_app(app_config: dict[str, object]):  # type: ignore[no-untyped-def]
    """`make_app(KEY=value, …)`: another app on the test's database with these settings (None: the default),
    its connections closed at the end of the test."""
    made = []

    def make(**overrides: object):  # type: ignore[no-untyped-def]
        application = create_app({**app_config, **overrides})
        made.append(application)
        return application

    yield make
    for application in made:
        app_services(application).db.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def svc(app) -> Services:  # type: ignore[no-untyped-def]
    return app_services(app)


@dataclass
class Token:
    credential_id: str
    secret: bytes
    period: int = 30
    digits: int = 6
    algorithm: str = "SHA1"

    def code(self, at: dt.datetime | float | None = None, steps: int = 0) -> str:
        """The code the phone shows at `at` (default: now), `steps` periods later."""
        if at is None:
            at = dt.datetime.now(dt.UTC)
        ts = at.timestamp() if isinstance(at, dt.datetime) else at
        totp = pyotp.TOTP(base64.b32encode(self.secret).decode(), digits=self.digits,
                          digest=self.algorithm.lower(), interval=self.period)
        return totp.at(int(ts) + steps * self.period)


def token_from_uri(minted: credential_service.Minted) -> Token:
    query = parse_qs(urlparse(minted.otpauth_uri).query)
    b32 = query["secret"][0]
    secret = base64.b32decode(b32 + "=" * (-len(b32) % 8))
    return Token(minted.credential_id, secret, period=int(query.get("period", ["30"])[0]),
                 digits=int(query.get("digits", ["6"])[0]), algorithm=query.get("algorithm", ["SHA1"])[0])


@pytest.fixture
def make_bank(svc: Services) -> Callable[..., bank_service.BankView]:
    def make(code: str = "0001", name: str = "テスト信用組合", **kwargs: object) -> bank_service.BankView:
        kwargs.setdefault("demo", True)
        return bank_service.add_bank(svc, code, name, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def bank(make_bank) -> bank_service.BankView:  # type: ignore[no-untyped-def]
    return make_bank()


@pytest.fixture
def make_customer(svc: Services) -> Callable[..., customer_service.CustomerView]:
    def make(bank_code: str = "0001", contract_id: str = "1000000001", password: str = PASSWORD,
             confirmation_password: str | None = CONFIRMATION, email: str | None = None):
        return customer_service.add_customer(svc, bank_code, contract_id, password, confirmation_password, email)

    return make


@pytest.fixture
def customer(bank, make_customer) -> customer_service.CustomerView:  # type: ignore[no-untyped-def]
    return make_customer()


@pytest.fixture
def mint(svc: Services) -> Callable[..., Token]:
    def make(bank_code: str = "0001") -> Token:
        return token_from_uri(credential_service.mint(svc, bank_code, 1)[0])

    return make


@pytest.fixture
def token(bank, mint) -> Token:  # type: ignore[no-untyped-def]
    return mint()


@pytest.fixture
def now() -> Iterator[dt.datetime]:
    """A fixed instant in the middle of a 30 s step, for tests that pass `now=` explicitly."""
    yield dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)


@pytest.fixture
def audit_rows(svc: Services) -> Callable[..., list[AuditEvent]]:
    def rows(event: str | None = None) -> list[AuditEvent]:
        with svc.db.transaction() as session:
            query = select(AuditEvent).order_by(AuditEvent.seq)
            if event:
                query = query.where(AuditEvent.event == event)
            return list(session.scalars(query))

    return rows
