"""`otp-gateway token …`, `audit …` and `keys rotate`: codes checked against pyotp, the chain against tampering."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select, text, update

from gateway.services import Services, results
from gateway.services import credentials as credential_service
from gateway.storage.db import Database
from gateway.storage.models import AuditEvent, Credential, ResultKey
from gateway.storage.sealing import Sealer
from tests.cli.support import Run
from tests.conftest import SEAL_KEY, Token, token_from_uri

pytestmark = pytest.mark.db
NEW_KEY = "next:" + base64.urlsafe_b64encode(b"\x03" * 32).decode()


def near(token: Token) -> set[str]:
    """The codes of the step before, now and after (a run may straddle a step boundary)."""
    return {token.code(steps=steps) for steps in (-1, 0, 1)}


def test_provision_code_list_and_unlock(run: Run, svc: Services, make_bank) -> None:
    make_bank("0042", prefix="SKRA", period=60, demo=True)
    lines = run("token", "provision", "0042", "--count", "2").lines
    assert len(lines) == 2
    token_id, uri = lines[0].split("\t")
    assert token_id.startswith("SKRA") and len(token_id) == 12 and uri.startswith("otpauth://totp/")
    token = token_from_uri(credential_service.Minted(token_id, uri))
    assert token.period == 60

    shown = run("token", "code", f" {token_id[:4].lower()}-{token_id[4:]} ").stdout  # typed loosely
    assert shown.split()[0] in near(token) and len(shown.split()[0]) == 6

    with svc.db.transaction() as session:  # as if ten wrong codes had locked it
        session.execute(update(Credential).where(Credential.credential_id == token_id)
                        .values(failure_count=10, locked_at=Credential.created_at))
    locked = json.loads(run("token", "list", "0042", "--state", "locked", "--json").stdout)
    assert [(view["credential_id"], view["state"]) for view in locked] == [(token_id, "locked")]
    assert run("token", "unlock", token_id).stdout.strip() == f"token {token_id} unlocked (available)"
    available = credential_service.list_credentials(svc, "0042", "available")
    assert {view.credential_id for view in available} == {token_id, lines[1].split("\t")[0]}
    assert all(view.failure_count == 0 for view in available)


def test_code_never_shows_for_a_real_bank(run: Run, svc: Services, make_bank) -> None:
    make_bank("0050", prefix="REAL", demo=False)
    (minted,) = credential_service.mint(svc, "0050", 1)
    assert run("token", "code", minted.credential_id, ok=False).error() == (
        f"error: not a demo token: {minted.credential_id} belongs to bank 0050, whose codes are never shown")


def test_audit_verify_and_export_then_a_changed_and_a_deleted_row(run: Run, svc: Services, make_bank,
                                                                   make_customer, writable_audit: Database) -> None:
    make_bank("0042")
    make_customer("0042", "1000000001")
    credential_service.mint(svc, "0042", 2)
    assert run("audit", "verify").stdout.strip() == "audit chain intact: 3 events"
    with svc.db.reading() as session:
        first_id = session.scalar(select(AuditEvent.id).where(AuditEvent.seq == 1))
    events = [json.loads(line) for line in run("audit", "export", "--since", str(first_id)).lines]
    assert [(e["seq"], e["event"], e["bank"]) for e in events] == [(2, "customer.add", "0042"),
                                                                   (3, "credential.mint", "0042")]
    assert events[0]["contract_id"] == "1000000001" and events[0]["actor"] == "operator"
    assert events[1]["detail"] == {"count": 2} and len(events[1]["hash"]) == 64

    with writable_audit.transaction() as session:
        session.execute(text("UPDATE audit_events SET contract_id = '1000000002' WHERE seq = 2"))
    assert run("audit", "verify", ok=False).error() == "error: audit row 2: changed after it was written"
    with writable_audit.transaction() as session:
        session.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    assert run("audit", "verify", ok=False).error() == "error: audit row 2: missing (next row found is 3)"


def test_keys_rotate_reseals_and_codes_still_match(run: Run, svc: Services, make_bank) -> None:
    make_bank("0042", demo=True)
    token = token_from_uri(credential_service.mint(svc, "0042", 1)[0])
    result_key = results.create_result_key(svc, "0042")
    rotated = run("keys", "rotate", env={"GATEWAY_SEAL_KEYS": f"{NEW_KEY},{SEAL_KEY}"}).stdout
    assert rotated.strip() == "re-sealed 1 secret(s) and 1 result key(s) under key next"
    with svc.db.reading() as session:
        row = session.scalar(select(ResultKey).where(ResultKey.kid == result_key.kid))
    assert row is not None and row.seal_key_id == "next"
    assert Sealer.from_config(NEW_KEY).unseal("next", row.sealed_key, f"result-key:{row.kid}".encode()) == (
        result_key.key.encode())  # the bank's signing key is unchanged, now sealed under the new key
    after = run("token", "code", token.credential_id, env={"GATEWAY_SEAL_KEYS": NEW_KEY}).stdout
    assert after.split()[0] in near(token)  # the same secret, now opened with the new key alone
    assert run("token", "code", token.credential_id, env={"GATEWAY_SEAL_KEYS": SEAL_KEY}, ok=False).error() == (
        "error: seal key next is not configured")
