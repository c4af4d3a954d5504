"""The audit trail: every event chained; tampering and deletion named; nothing secret in it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway.domain.errors import AuthenticationFailed, InvalidCode
from gateway.domain.otp import b32
from gateway.services import credentials as cs
from gateway.services import customers as cu
from gateway.services import removal
from gateway.storage import audit
from gateway.storage.models import AuditEvent
from tests.conftest import CONFIRMATION, PASSWORD
from tests.services.conftest import CLIENT, page_verify

pytestmark = pytest.mark.db


@pytest.fixture
def trail(svc, customer, token, now):  # type: ignore[no-untyped-def]
    """A little of everything: login, failed login, registration, a wrong code, a good code, stop use."""
    cu.authenticate(svc, "0001", "1000000001", PASSWORD, CLIENT)
    with pytest.raises(AuthenticationFailed):
        cu.authenticate(svc, "0001", "1000000001", "not-" + PASSWORD, CLIENT)
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(now), CLIENT, now=now)
    later = now + dt.timedelta(seconds=30)
    wrong = "000000" if token.code(later) != "000000" else "111111"
    with pytest.raises(InvalidCode):
        page_verify(svc, "0001", "1000000001", wrong, CLIENT, now=later)
    page_verify(svc, "0001", "1000000001", token.code(later + dt.timedelta(seconds=30)), CLIENT,
              now=later + dt.timedelta(seconds=30))
    removal.stop_use(svc, "0001", "1000000001", CLIENT, via=removal.API, now=later + dt.timedelta(seconds=60))
    return token


def unprotect(session) -> None:  # type: ignore[no-untyped-def]
    """What an attacker with database access would do first: drop the append-only guard."""
    if session.bind.dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    else:
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("DROP TRIGGER audit_events_no_delete"))


def test_every_event_is_recorded_with_who_and_where(svc, trail, audit_rows) -> None:
    rows = audit_rows()
    events = [(r.event, r.result) for r in rows]
    assert ("login.password", "ok") in events and ("login.password", "failed") in events
    assert ("credential.register", "ok") in events and ("credential.stop", "ok") in events
    assert ("otp.verify", "invalid_code") in events and ("otp.verify", "ok") in events
    verify_row = next(r for r in rows if r.event == "otp.verify")
    assert (verify_row.bank_code, verify_row.contract_id, verify_row.credential_id) == (
        "0001", "1000000001", trail.credential_id)
    assert (verify_row.ip, verify_row.user_agent) == ("192.0.2.10", "pytest-browser/1.0")
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    with svc.db.transaction() as session:
        assert audit.verify_chain(session) is None


def test_no_password_code_or_secret_in_any_row(svc, trail, now) -> None:
    with svc.db.transaction() as session:
        dump = json.dumps(list(audit.export(session)), ensure_ascii=False)
    codes = {trail.code(now, s) for s in range(-1, 4)}
    for needle in [PASSWORD, CONFIRMATION, b32(trail.secret), trail.secret.hex(), *codes]:
        assert needle not in dump


def test_detail_refuses_sensitive_keys() -> None:
    for key in ("otp", "password", "secret", "Code"):
        with pytest.raises(ValueError):
            audit.canonical_detail({key: "x"})


def test_the_trail_is_append_only(svc, trail) -> None:
    with pytest.raises(DBAPIError), svc.db.transaction() as session:
        session.execute(text("UPDATE audit_events SET result = 'ok' WHERE seq = 2"))
    with pytest.raises(DBAPIError), svc.db.transaction() as session:
        session.execute(text("DELETE FROM audit_events WHERE seq = 2"))


def test_a_changed_row_is_named(svc, trail) -> None:
    with svc.db.transaction() as session:
        unprotect(session)
        session.execute(text("UPDATE audit_events SET ip = '203.0.113.9' WHERE seq = 3"))
    with svc.db.transaction() as session:
        problem = audit.verify_chain(session)
    assert problem is not None and problem.seq == 3 and "changed" in str(problem)


def test_a_deleted_row_is_named(svc, trail) -> None:
    with svc.db.transaction() as session:
        unprotect(session)
        session.execute(text("DELETE FROM audit_events WHERE seq = 4"))
    with svc.db.transaction() as session:
        problem = audit.verify_chain(session)
    assert problem is not None and problem.seq == 4 and "missing" in str(problem)


def test_a_deleted_last_row_is_named(svc, trail) -> None:
    with svc.db.transaction() as session:
        last = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
        unprotect(session)
        session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": last})
    with svc.db.transaction() as session:
        problem = audit.verify_chain(session)
    assert problem is not None and problem.seq == last


def test_a_rewritten_chain_is_caught_by_the_head(svc, trail) -> None:
    """Recomputing every hash after an edit still disagrees with the chain's head row."""
    with svc.db.transaction() as session:
        unprotect(session)
        session.execute(text("UPDATE audit_events SET ip = '203.0.113.9' WHERE seq = 3"))
        prev = audit.GENESIS
        for row in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
            values = {name: getattr(row, name) for name in audit.FIELDS}
            digest = audit.row_hash(prev, values)
            session.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :i"),
                            {"p": prev, "h": digest, "i": row.id})
            prev = digest
    with svc.db.transaction() as session:
        problem = audit.verify_chain(session)
    assert problem is not None and "head" in str(problem)


def test_the_chain_holds_for_appends_that_race_and_for_every_kind_of_field(svc, trail, now) -> None:
    """On PostgreSQL the server hashes the row (one statement); its text must be the one `row_hash` takes."""
    import threading

    start = threading.Barrier(6)

    def appender(worker: int) -> None:
        start.wait()
        for i in range(15):
            with svc.db.transaction() as session:
                audit.append(session, event="otp.verify", result="invalid_code", now=now + dt.timedelta(microseconds=i),
                             actor=f"api:000{worker}", bank_code="0001", contract_id=None, ip="2001:db8::1",
                             user_agent="Mozilla/5.0 (iPhone; 日本語)\u3000テスト", detail={"reason": "無効", "n": i})

    threads = [threading.Thread(target=appender, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with svc.db.transaction() as session:
        assert audit.verify_chain(session) is None
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        head = session.execute(text("SELECT seq, hash, prev_hash FROM audit_head")).one()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1)) and len(rows) >= 90
    assert tuple(head) == (rows[-1].seq, rows[-1].hash, rows[-1].prev_hash)


def test_the_head_learns_its_previous_hash_when_migrated(tmp_path) -> None:
    """Migration 0005 fills the head's prev_hash from the chain's last row."""
    from gateway.storage import migrate
    from gateway.storage.db import Database

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(db, "0004")
        prev = audit.GENESIS
        with db.engine.begin() as connection:
            for seq in (1, 2):
                values = {name: None for name in audit.FIELDS} | {
                    "seq": seq, "created_at": dt.datetime(2026, 12, 1, tzinfo=dt.UTC), "actor": "system",
                    "event": "test", "result": "ok", "detail": "{}"}
                digest = audit.row_hash(prev, values)
                connection.execute(text(
                    "INSERT INTO audit_events (seq, created_at, actor, event, result, detail, prev_hash, hash) "
                    "VALUES (:seq, '2026-12-01 00:00:00.000000', 'system', 'test', 'ok', '{}', :prev, :hash)"),
                    {"seq": seq, "prev": prev, "hash": digest})
                connection.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash"), {"seq": seq, "hash": digest})
                prev, last_prev = digest, prev
        migrate.upgrade(db)
        with db.transaction() as session:
            assert session.execute(text("SELECT prev_hash FROM audit_head")).scalar() == last_prev
            assert audit.verify_chain(session) is None
    finally:
        db.dispose()
