"""Service-test helpers: credentials with a known secret, a customer with a registered token, audit rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from gateway.domain.errors import NotRegistered
from gateway.services import Client, Services, utcnow, verification
from gateway.services import credentials as cs
from gateway.storage.models import AuditEvent, Bank, Credential, MailMessage
from tests.conftest import Token

CLIENT = Client(actor="customer", ip="192.0.2.10", user_agent="pytest-browser/1.0")


def page_verify(svc: Services, bank_code: str, contract_id: str, otp: str, client: Client = CLIENT, *,
                now: dt.datetime | None = None, event: str = "otp.verify") -> verification.Accepted:
    """The one verify, asked by a bank's page, as a test reads it: the accepted step, or the refusal raised."""
    verified = verification.verify(svc, verification.Asker(bank_code=bank_code), contract_id, otp, client,
                                   event=event, now=now)
    if isinstance(verified.outcome, verification.Accepted):
        return verified.outcome
    raise verified.outcome or NotRegistered()


def pending_mails(svc: Services) -> int:
    """Mails still waiting to be handed to the mail server."""
    with svc.db.reading() as session:
        return len(session.scalars(select(MailMessage.id).where(MailMessage.status == "pending")).all())


def verify_with_key(svc: Services, key_hash: str, contract_id: str, otp: str, client: Client = CLIENT, *,
                    now: dt.datetime | None = None) -> verification.Verified:
    """The one verify, asked by a bank's API key (by its hash)."""
    return verification.verify(svc, verification.Asker(key_hash=key_hash), contract_id, otp, client, now=now)


@pytest.fixture
def add_credential(svc: Services) -> Callable[..., Token]:
    """Put a credential with a known secret in the registry (what a PSKC import does)."""

    def add(token_id: str, secret: bytes, bank_code: str = "0001", kind: str = "totp", algorithm: str = "SHA1",
            digits: int = 6, period: int = 30, counter: int = 0) -> Token:
        with svc.db.transaction() as session:
            bank = session.scalar(select(Bank).where(Bank.code == bank_code))
            key_id, sealed = svc.sealer.seal(secret, aad=token_id.encode())
            session.add(Credential(
                credential_id=token_id, bank_id=bank.id, kind=kind, algorithm=algorithm, digits=digits,
                period=period, counter=counter, sealed_secret=sealed, seal_key_id=key_id, state="available",
                drift=0, failure_count=0, source="test", created_at=utcnow(),
            ))
        return Token(token_id, secret, period=period, digits=digits, algorithm=algorithm)

    return add


@pytest.fixture
def registered(svc: Services, customer, token: Token, now: dt.datetime) -> Token:  # type: ignore[no-untyped-def]
    """The customer's token, bound three steps before `now` (so codes around `now` are fresh)."""
    before = now - 3 * dt.timedelta(seconds=token.period)
    cs.register(svc, "0001", customer.contract_id, token.credential_id, token.code(before), CLIENT, now=before)
    return token


def credential_row(svc: Services, token_id: str) -> Credential:
    with svc.db.transaction() as session:
        return session.scalar(select(Credential).where(Credential.credential_id == token_id))


def detail(row: AuditEvent) -> dict[str, object]:
    return json.loads(row.detail)
