"""Signed flow results for the banks: where a customer may be sent back to, and what the bank gets to check.

A result is a compact JWT (RFC 7519, HS256) signed with the bank's own result key, so a bank can verify it in
any language with a standard JWT library: issuer `otp-gateway`, audience the bank code, a `jti` the bank
accepts once, and a short `exp`. With the customer known (`sub`), `otp_removed_recently` says whether a token
was removed within the bank's cooling-off (`stop_cooloff_hours`), and `otp_removed_at` when (epoch seconds).
The key is a random string whose UTF-8 bytes are the HMAC key; it is sealed at rest like token secrets and
shown to the operator once (`otp-gateway bank result-key CODE`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from sqlalchemy import select

from ..domain.errors import GatewayError, UnknownCustomer
from ..storage import audit
from ..storage.models import ResultKey
from . import OPERATOR, Client, Services, utcnow
from .banks import load_bank
from .customers import show_customer

ISSUER = "otp-gateway"
ALGORITHM = "HS256"
#: Seconds a result stays valid: long enough for a redirect, short enough that a leaked one soon dies.
RESULT_TTL = 300
KEY_PREFIX = "ogwr_"

Flow = Literal["register", "stop"]
Outcome = Literal["registered", "stopped", "cancelled"]


class NoResultKey(GatewayError):
    """The bank has no result key yet: nothing can be signed for it."""

    code = "no_result_key"


@dataclass(frozen=True)
class NewResultKey:
    kid: str
    key: str


def _aad(kid: str) -> bytes:
    return f"result-key:{kid}".encode()


def create_result_key(svc: Services, code: str, client: Client = OPERATOR) -> NewResultKey:
    """A new signing key for bank `code`; earlier keys are retired. Only the sealed key is stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    kid = "rk_" + secrets.token_hex(8)
    now = utcnow()
    with svc.db.transaction() as session:
        bank = load_bank(session, code)
        for old in session.scalars(select(ResultKey).where(ResultKey.bank_id == bank.id,
                                                           ResultKey.retired_at.is_(None))):
            old.retired_at = now
        seal_key_id, sealed = svc.sealer.seal(key.encode(), _aad(kid))
        session.add(ResultKey(bank_id=bank.id, kid=kid, sealed_key=sealed, seal_key_id=seal_key_id,
                              created_at=now))
        audit.append(session, event="result_key.create", result="ok", now=now, actor=client.actor,
                     bank_code=code, ip=client.ip, user_agent=client.user_agent, detail={"kid": kid})
    return NewResultKey(kid, key)


def signing_key(svc: Services, code: str) -> tuple[str, bytes] | None:
    """The bank's current key (`kid`, key bytes), or None when it has none."""
    with svc.db.reading() as session:
        bank = load_bank(session, code)
        row = session.scalars(select(ResultKey).where(ResultKey.bank_id == bank.id, ResultKey.retired_at.is_(None))
                              .order_by(ResultKey.id.desc()).limit(1)).first()
        if row is None:
            return None
        return row.kid, svc.sealer.unseal(row.seal_key_id, row.sealed_key, _aad(row.kid))


def has_result_key(svc: Services, code: str) -> bool:
    return signing_key(svc, code) is not None


def reseal_keys(svc: Services) -> int:
    """Re-seal every result key under the sealer's first key (part of rotating `SEAL_KEYS`)."""
    count = 0
    with svc.db.transaction() as session:
        for row in session.scalars(select(ResultKey).where(ResultKey.seal_key_id != svc.sealer.primary_id)):
            key = svc.sealer.unseal(row.seal_key_id, row.sealed_key, _aad(row.kid))
            row.seal_key_id, row.sealed_key = svc.sealer.seal(key, _aad(row.kid))
            count += 1
    return count


def issue(svc: Services, bank_code: str, *, flow: Flow, result: Outcome, contract_id: str | None,
          token_id: str | None, mode: Literal["redirect", "embed"], target: str,
          now: dt.datetime | None = None) -> str:
    """A signed result for the bank; `target` is the return URL (redirect) or the parent's origin (embed)."""
    found = signing_key(svc, bank_code)
    if found is None:
        raise NoResultKey(bank_code)
    kid, key = found
    issued = int((now or utcnow()).timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": bank_code,
        "jti": secrets.token_urlsafe(16),
        "iat": issued,
        "exp": issued + RESULT_TTL,
        "flow": flow,
        "result": result,
        "mode": mode,
        "return_to" if mode == "redirect" else "origin": target,
    }
    if contract_id:
        claims["sub"] = contract_id
        # The bank's cooling-off: a token removed within `stop_cooloff_hours` (e.g. to hold large transfers).
        try:
            customer = show_customer(svc, bank_code, contract_id)
        except UnknownCustomer:  # a cancelled flow may name a contract ID that is not a customer
            customer = None
        claims["otp_removed_recently"] = bool(customer and customer.otp_removed_recently)
        if customer is not None and customer.otp_removed_at is not None:
            claims["otp_removed_at"] = int(customer.otp_removed_at.timestamp())
    if token_id:
        claims["token_id"] = token_id  # masked: the full token ID never leaves in a result
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


def current_kid(svc: Services, code: str) -> str | None:
    """The `kid` of the key that signs bank `code`'s results now (never the key itself)."""
    with svc.db.reading() as session:
        bank = load_bank(session, code)
        return session.scalars(select(ResultKey.kid).where(ResultKey.bank_id == bank.id,
                                                           ResultKey.retired_at.is_(None))
                               .order_by(ResultKey.id.desc()).limit(1)).first()
