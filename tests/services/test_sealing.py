"""Secrets sealed at rest: the database file reveals none, and keys rotate without losing a token."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway import create_app
from gateway.domain.otp import b32
from gateway.services import credentials as cs
from gateway.storage.models import Credential
from gateway.storage.sealing import Sealer, SealError
from gateway.web.context import app_services
from tests.conftest import SEAL_KEY, token_from_uri
from tests.services.conftest import CLIENT, page_verify

NEW_KEY = "next:" + base64.urlsafe_b64encode(b"\x02" * 32).decode()


def test_sealed_secret_opens_only_with_its_key_and_row() -> None:
    sealer = Sealer.from_config(SEAL_KEY)
    key_id, blob = sealer.seal(b"secret-bytes-0123456", aad=b"SYMC00000001")
    assert key_id == "test" and b"secret-bytes" not in blob
    assert sealer.unseal(key_id, blob, aad=b"SYMC00000001") == b"secret-bytes-0123456"
    with pytest.raises(SealError):  # moved to another row
        sealer.unseal(key_id, blob, aad=b"SYMC00000002")
    with pytest.raises(SealError):  # tampered
        sealer.unseal(key_id, blob[:-1] + bytes([blob[-1] ^ 1]), aad=b"SYMC00000001")
    with pytest.raises(SealError):
        Sealer.from_config(NEW_KEY).unseal(key_id, blob, aad=b"SYMC00000001")


RAW = SEAL_KEY.split(":")[1]


@pytest.mark.parametrize("bad", ["", "short", "k:" + "00" * 16, f"a:{RAW},a:{RAW}"])
def test_bad_seal_keys_are_refused(bad: str) -> None:
    with pytest.raises(SealError):
        Sealer.from_config(bad)


def test_bare_keys_get_a_derived_id() -> None:
    sealer = Sealer.from_config(SEAL_KEY.split(":")[1])
    assert sealer.primary_id.startswith("k") and len(sealer.primary_id) == 13


def test_database_file_holds_no_secret(app_config, bank, mint) -> None:
    if not str(app_config["DATABASE_URL"]).startswith("sqlite"):
        pytest.skip("reads the SQLite file itself; PostgreSQL keeps the same sealed bytes")
    tokens = [mint() for _ in range(5)]
    raw = Path(str(app_config["DATABASE_URL"]).removeprefix("sqlite:///")).read_bytes()
    wal = Path(str(app_config["DATABASE_URL"]).removeprefix("sqlite:///") + "-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    for token in tokens:
        assert token.credential_id.encode() in raw  # the file is the right one…
        assert token.secret not in raw  # …and no secret is in it, raw or base32
        assert b32(token.secret).encode() not in raw


@pytest.mark.db
def test_rotate_keys_reseals_everything_and_codes_still_verify(app_config, svc, customer, now) -> None:
    old = [token_from_uri(m) for m in cs.mint(svc, "0001", 3)]
    cs.register(svc, "0001", "1000000001", old[0].credential_id, old[0].code(now), CLIENT, now=now)
    rotated_app = create_app({**app_config, "SEAL_KEYS": f"{NEW_KEY},{SEAL_KEY}"})
    rotated = app_services(rotated_app)
    assert cs.rotate_keys(rotated, batch=2) == 3
    with rotated.db.transaction() as session:
        assert set(session.scalars(select(Credential.seal_key_id))) == {"next"}
    assert cs.rotate_keys(rotated) == 0
    # Once everything is resealed the old key can go.
    new_only = app_services(create_app({**app_config, "SEAL_KEYS": NEW_KEY}))
    later = now + dt.timedelta(seconds=30)
    assert page_verify(new_only, "0001", "1000000001", old[0].code(later), CLIENT, now=later)
    for db in (rotated.db, new_only.db):
        db.dispose()
