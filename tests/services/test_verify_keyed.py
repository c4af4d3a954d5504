"""The one verify checks a code on the row as read, then records it in a short transaction.

Whatever another request did in between (counted a failure, used the code, stopped the token), the
outcome is the one the two requests would have had one after the other. And the kept driver connection
reads and writes values exactly as the engine does.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, literal, select, text, update

from gateway.domain.errors import (
    CredentialLocked,
    GatewayError,
    InvalidCode,
    NotRegistered,
    ReplayedCode,
    Throttled,
)
from gateway.services import banks, codes, removal, verification
from gateway.services.verification import Accepted
from gateway.storage import audit, driver
from gateway.storage.models import AuditEvent, Credential
from tests.services.conftest import CLIENT, credential_row, page_verify, verify_with_key

pytestmark = pytest.mark.db


@pytest.fixture
def key_hash(svc) -> str:  # type: ignore[no-untyped-def]
    return banks.hash_api_key(banks.create_api_key(svc, "0001"))


def meanwhile(monkeypatch: pytest.MonkeyPatch, action) -> None:  # type: ignore[no-untyped-def]
    """Run `action` after the code was checked and before its outcome is recorded (once)."""
    check, done = codes.check, []

    def checked_then_action(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = check(*args, **kwargs)
        if not done:
            done.append(True)
            action()
        return result

    monkeypatch.setattr(codes, "check", checked_then_action)


def page_try(svc, code: str, now: dt.datetime) -> object:  # type: ignore[no-untyped-def]
    """Another request, through a bank's page: what it was answered (accepted, or the refusal)."""
    try:
        return page_verify(svc, "0001", "1000000001", code, CLIENT, now=now)
    except GatewayError as refused:
        return refused


def test_a_failure_counted_meanwhile_throttles_the_right_code(svc, registered, now, key_hash, monkeypatch,
                                                              audit_rows) -> None:
    meanwhile(monkeypatch, lambda: page_try(svc, "000000", now))
    found = verify_with_key(svc, key_hash, "1000000001", registered.code(now), CLIENT, now=now)
    assert isinstance(found.outcome, Throttled)  # as if it came after the wrong code
    row = credential_row(svc, registered.credential_id)
    assert row.failure_count == 1 and row.last_step < int(now.timestamp()) // 30  # not accepted, not reset
    assert [r.result for r in audit_rows("otp.verify")] == ["invalid_code", "throttled"]


def test_the_same_code_used_meanwhile_is_a_replay(svc, registered, now, key_hash, monkeypatch) -> None:
    code = registered.code(now)
    meanwhile(monkeypatch, lambda: page_try(svc, code, now))
    found = verify_with_key(svc, key_hash, "1000000001", code, CLIENT, now=now)
    assert isinstance(found.outcome, ReplayedCode)
    assert credential_row(svc, registered.credential_id).failure_count == 1


def test_a_token_stopped_meanwhile_is_not_registered(svc, registered, now, key_hash, monkeypatch,
                                                     audit_rows) -> None:
    meanwhile(monkeypatch, lambda: removal.stop_use(svc, "0001", "1000000001", CLIENT, via=removal.API, now=now))
    found = verify_with_key(svc, key_hash, "1000000001", registered.code(now), CLIENT, now=now)
    assert isinstance(found.outcome, NotRegistered)
    assert credential_row(svc, registered.credential_id).state == "revoked"
    assert audit_rows("otp.verify")[-1].result == "not_registered"


def test_nothing_meanwhile_accepts_once_with_the_checked_step(svc, registered, now, key_hash) -> None:
    found = verify_with_key(svc, key_hash, "1000000001", registered.code(now, 1), CLIENT, now=now)
    assert isinstance(found.outcome, Accepted) and found.outcome.drift == 1
    row = credential_row(svc, registered.credential_id)
    assert (row.last_step, row.drift, row.failure_count) == (int(now.timestamp()) // 30 + 1, 1, 0)
    again = verify_with_key(svc, key_hash, "1000000001", registered.code(now, 1), CLIENT, now=now)
    assert isinstance(again.outcome, ReplayedCode)


def test_a_wrong_code_is_counted_even_if_the_row_moved_on(svc, registered, now, key_hash, monkeypatch) -> None:
    meanwhile(monkeypatch, lambda: page_try(svc, registered.code(now), now))
    found = verify_with_key(svc, key_hash, "1000000001", "000000", CLIENT, now=now + dt.timedelta(seconds=1))
    assert isinstance(found.outcome, InvalidCode)
    assert credential_row(svc, registered.credential_id).failure_count == 1


def test_a_wrong_code_after_a_failure_counted_meanwhile_is_checked_again(svc, registered, now, key_hash, monkeypatch,
                                                                       audit_rows) -> None:
    meanwhile(monkeypatch, lambda: page_try(svc, "000000", now))
    found = verify_with_key(svc, key_hash, "1000000001", "000000", CLIENT, now=now)
    assert isinstance(found.outcome, Throttled)  # wrong on the row as read; counted on the row as it is
    assert credential_row(svc, registered.credential_id).failure_count == 1
    assert [r.result for r in audit_rows("otp.verify")] == ["invalid_code", "throttled"]


def test_the_wrong_code_that_locks_is_counted_once_and_audited(svc, registered, now, key_hash, audit_rows) -> None:
    limit = svc.policy.otp_max_failures
    with svc.db.engine.begin() as connection:
        connection.execute(update(Credential).where(Credential.credential_id == registered.credential_id).values(
            failure_count=limit - 1, last_failure_at=now - dt.timedelta(days=1)))
    found = verify_with_key(svc, key_hash, "1000000001", "000000", CLIENT, now=now)
    assert isinstance(found.outcome, CredentialLocked)
    row = credential_row(svc, registered.credential_id)
    assert (row.failure_count, row.locked_at) == (limit, now)
    again = verify_with_key(svc, key_hash, "1000000001", registered.code(now), CLIENT, now=now)
    assert isinstance(again.outcome, CredentialLocked)  # locked: the right code is not even tried
    assert credential_row(svc, registered.credential_id).failure_count == limit
    assert [r.result for r in audit_rows("otp.verify")] == ["credential_locked", "credential_locked"]


# --- the kept driver connection ---------------------------------------------------------------------------
def test_driver_reads_rows_as_the_engine_does(svc, registered, now, key_hash) -> None:
    """Dates (naive UTC in the database, aware in Python), blobs and integers, both ways."""
    failed_at = now - dt.timedelta(seconds=7)
    codes_row = select(*verification._CREDENTIAL_COLUMNS).where(Credential.credential_id == registered.credential_id)
    row_id = credential_row(svc, registered.credential_id).id
    with svc.db.driver.transaction() as transaction:
        transaction.execute(codes.RECORD_FAILURE, {"credential_row": row_id, "now": failed_at, "limit": 10})
    with svc.db.engine.connect() as connection:
        by_engine = connection.execute(codes_row).one()
    by_driver = svc.db.driver.read(codes_row, {})
    assert tuple(by_driver) == tuple(by_engine)
    assert by_driver.last_failure_at == failed_at and by_driver.last_failure_at.tzinfo is not None
    assert by_driver._fields == tuple(by_engine._fields)


def test_driver_rolls_back_what_raises(svc, registered) -> None:
    row_id = credential_row(svc, registered.credential_id).id
    now = dt.datetime.now(dt.UTC)

    with pytest.raises(RuntimeError), svc.db.driver.transaction() as transaction:
        transaction.execute(codes.RECORD_FAILURE, {"credential_row": row_id, "now": now, "limit": 10})
        raise RuntimeError("after the write")
    assert credential_row(svc, registered.credential_id).failure_count == 0
    assert svc.db.driver.read(select(literal(1)), {}) is not None  # still usable


def test_driver_replaces_a_connection_the_server_dropped(svc, registered, now, key_hash) -> None:
    if svc.db.dialect != "postgresql":
        pytest.skip("a server that drops connections is PostgreSQL's case")
    pid = svc.db.driver.read(select(func.pg_backend_pid()), {})[0]
    with svc.db.engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.commit()
    found = verify_with_key(svc, key_hash, "1000000001", registered.code(now), CLIENT, now=now)
    assert isinstance(found.outcome, Accepted)
    assert svc.db.driver.read(select(func.pg_backend_pid()), {})[0] != pid


def test_threads_racing_on_one_code_accept_it_once(svc, registered, key_hash) -> None:
    """Each thread keeps its own driver connection (gthread workers); the database decides the race."""
    import threading

    now = dt.datetime.now(dt.UTC)
    code, start = registered.code(now), threading.Barrier(8)
    outcomes: list[object] = []

    def racer() -> None:
        start.wait()
        outcomes.append(verify_with_key(svc, key_hash, "1000000001", code, CLIENT, now=now).outcome)

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(o, Accepted) for o in outcomes) == 1
    assert all(isinstance(o, Accepted | ReplayedCode | Throttled) for o in outcomes), outcomes
    assert len(svc.db.driver._kept) == 8  # one connection per thread


def test_api_and_page_verifies_racing_on_one_credential_audit_every_failure_counted(svc, registered, key_hash) -> None:
    """Both paths take the credential's lock before the audit head's: no deadlock, and every wrong code
    counted has its audit row; of the wrong codes tried at one instant one is counted, the rest throttled,
    as if they had come one after the other."""
    import threading

    now = dt.datetime.now(dt.UTC)
    start, problems = threading.Barrier(8), []

    def api() -> None:
        start.wait()
        for _ in range(5):
            outcome = verify_with_key(svc, key_hash, "1000000001", "000000", CLIENT, now=now).outcome
            if not isinstance(outcome, InvalidCode | Throttled):
                problems.append(outcome)

    def page() -> None:
        start.wait()
        for _ in range(5):
            try:
                page_verify(svc, "0001", "1000000001", "000000", CLIENT, now=now)
            except (InvalidCode, Throttled):
                pass
            except Exception as error:  # a deadlock or anything else unexpected
                problems.append(error)

    threads = [threading.Thread(target=api if n % 2 else page) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    counted = credential_row(svc, registered.credential_id).failure_count
    with svc.db.transaction() as session:
        results = session.scalars(select(AuditEvent.result).where(AuditEvent.event.in_(("otp.verify", "login.otp")))
                                  .where(AuditEvent.created_at == now)).all()
        assert audit.verify_chain(session) is None
    assert sorted(set(results)) == ["invalid_code", "throttled"] and results.count("invalid_code") == counted
    assert counted == 1
    assert len(results) == 40


def test_a_page_verify_waits_for_a_failure_being_counted_and_is_throttled_by_it(svc, registered, now) -> None:
    """A page's verify checks the code on the credential as it is once another request's write has committed: a
    wrong code tried while another is being counted is throttled by it, not counted as well."""
    import threading

    outcome: list[object] = []
    row_id = credential_row(svc, registered.credential_id).id
    with svc.db.engine.begin() as connection:  # another wrong code, being counted: the row is locked
        connection.execute(codes.RECORD_FAILURE, {"credential_row": row_id, "now": now,
                                                  "limit": svc.policy.otp_max_failures})
        trying = threading.Thread(target=lambda: outcome.append(page_try(svc, "000000", now)))
        trying.start()
        trying.join(0.5)
        assert trying.is_alive()  # it waits for that write
    trying.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], Throttled)
    assert credential_row(svc, registered.credential_id).failure_count == 1


def test_a_verify_on_postgresql_is_two_statements_and_leaves_no_transaction_open(svc, registered, now, key_hash,
                                                                                 monkeypatch) -> None:
    """The look-up, then the credential's write and the audit row in one statement, committed with it."""
    if svc.db.dialect != "postgresql":
        pytest.skip("autocommit and one-statement writes are PostgreSQL's case")
    import psycopg

    executed: list[object] = []
    execute = driver.Transaction.execute

    def counted(self, statement, params=None):  # type: ignore[no-untyped-def]
        executed.append(statement)
        return execute(self, statement, params)

    monkeypatch.setattr(driver.Transaction, "execute", counted)
    for code in (registered.code(now), "000000"):
        executed.clear()
        verify_with_key(svc, key_hash, "1000000001", code, CLIENT, now=now + dt.timedelta(seconds=1))
        assert len(executed) == 2
        connection = svc.db.driver._local.connection
        assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_one_statement_write_is_held_to_one_statement_on_postgresql(svc) -> None:
    if svc.db.dialect != "postgresql":
        pytest.skip("SQLite writes in a transaction of their own")
    with pytest.raises(RuntimeError, match="one statement"), svc.db.driver.transaction(one_statement=True) as tx:
        tx.execute(select(literal(1)))
        tx.execute(select(literal(2)))
