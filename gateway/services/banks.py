"""Tenants and their API keys."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain import otp as otp_rules
from ..domain.customers import BANK_CODE
from ..domain.errors import GatewayError, InvalidInput, UnknownBank
from ..domain.tokens import PREFIX
from ..storage import audit
from ..storage.models import ApiKey, Bank
from . import OPERATOR, Client, Services, utcnow

API_KEY_PREFIX = "ogw_"
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
SERVICE_ID = re.compile(r"^[0-9]{8}$")
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class BankExists(GatewayError):
    code = "bank_exists"


@dataclass(frozen=True)
class BankView:
    code: str
    name: str
    colour: str
    logo_url: str | None
    contact: str | None
    token_prefix: str
    token_period: int
    token_digits: int
    token_algorithm: str
    service_id: str
    is_demo: bool
    stop_requires_otp: bool
    release_requires_otp: bool
    reregister_delay_days: int
    embed_origins: tuple[str, ...]
    return_urls: tuple[str, ...]

    @classmethod
    def of(cls, bank: Bank) -> BankView:
        return cls(
            code=bank.code,
            name=bank.name,
            colour=bank.colour,
            logo_url=bank.logo_url,
            contact=bank.contact,
            token_prefix=bank.token_prefix,
            token_period=bank.token_period,
            token_digits=bank.token_digits,
            token_algorithm=bank.token_algorithm,
            service_id=bank.service_id,
            is_demo=bank.is_demo,
            stop_requires_otp=bank.stop_requires_otp,
            release_requires_otp=bank.release_requires_otp,
            reregister_delay_days=bank.reregister_delay_days,
            embed_origins=tuple(bank.embed_origins),
            return_urls=tuple(bank.return_urls),
        )


def add_bank(
    svc: Services,
    code: str,
    name: str,
    *,
    prefix: str = "SYMC",
    period: int = 30,
    digits: int = 6,
    algorithm: str = "SHA1",
    colour: str = "#004e9a",
    logo_url: str | None = None,
    contact: str | None = None,
    service_id: str | None = None,
    demo: bool = False,
    stop_requires_otp: bool = False,
    release_requires_otp: bool = True,
    reregister_delay_days: int = 1,
    embed_origins: list[str] | tuple[str, ...] = (),
    return_urls: list[str] | tuple[str, ...] = (),
    client: Client = OPERATOR,
) -> BankView:
    """A new tenant; every value is checked before anything is written."""
    if not BANK_CODE.fullmatch(code or ""):
        raise InvalidInput("code", "a bank code is 1–16 letters and digits")
    if not (name or "").strip():
        raise InvalidInput("name", "missing")
    prefix = (prefix or "").upper()
    if not PREFIX.fullmatch(prefix):
        raise InvalidInput("prefix", "a token prefix is 4 letters")
    if period not in otp_rules.PERIODS:
        raise InvalidInput("period", "30 or 60 seconds")
    if digits not in otp_rules.DIGITS:
        raise InvalidInput("digits", "6 or 8")
    if algorithm not in otp_rules.ALGORITHMS:
        raise InvalidInput("algorithm", "SHA1, SHA256 or SHA512")
    if not COLOUR.fullmatch(colour):
        raise InvalidInput("colour", "#rrggbb")
    if service_id is not None and not SERVICE_ID.fullmatch(service_id):
        raise InvalidInput("service_id", "8 digits")
    if not 0 <= reregister_delay_days <= 30:
        raise InvalidInput("reregister_delay_days", "0–30")
    for origin in embed_origins:
        if not ORIGIN.fullmatch(origin):
            raise InvalidInput("embed_origin", f"not an origin: {origin}")
    for url in return_urls:
        if not re.match(r"^https?://[^\s]+$", url):
            raise InvalidInput("return_url", f"not a URL: {url}")
    now = utcnow()
    try:
        with svc.db.transaction() as session:
            if session.scalar(select(Bank.id).where(Bank.code == code)) is not None:
                raise BankExists(code)
            bank = Bank(
                code=code,
                name=name.strip(),
                colour=colour,
                logo_url=logo_url,
                contact=contact,
                token_prefix=prefix,
                token_period=period,
                token_digits=digits,
                token_algorithm=algorithm,
                service_id=service_id or _free_service_id(session),
                is_demo=demo,
                stop_requires_otp=stop_requires_otp,
                release_requires_otp=release_requires_otp,
                reregister_delay_days=reregister_delay_days,
                embed_origins_json=json.dumps(list(embed_origins)),
                return_urls_json=json.dumps(list(return_urls)),
                created_at=now,
            )
            session.add(bank)
            session.flush()
            audit.append(
                session, event="bank.add", result="ok", now=now, actor=client.actor, bank_code=code,
                ip=client.ip, user_agent=client.user_agent,
                detail={"prefix": prefix, "period": period, "demo": demo},
            )
            return BankView.of(bank)
    except IntegrityError:
        raise BankExists(code) from None


def _free_service_id(session: Session) -> str:
    while True:
        candidate = f"1{secrets.randbelow(10**7):07d}"
        if session.scalar(select(Bank.id).where(Bank.service_id == candidate)) is None:
            return candidate


def list_banks(svc: Services) -> list[BankView]:
    with svc.db.reading() as session:
        return [BankView.of(b) for b in session.scalars(select(Bank).order_by(Bank.code))]


def get_bank(svc: Services, code: str) -> BankView:
    with svc.db.reading() as session:
        return BankView.of(load_bank(session, code))


def load_bank(session: Session, code: str) -> Bank:
    bank = session.scalar(select(Bank).where(Bank.code == code))
    if bank is None:
        raise UnknownBank(code)
    return bank


def create_api_key(svc: Services, code: str, label: str | None = None, client: Client = OPERATOR) -> str:
    """A new bearer key for the bank; only its SHA-256 is kept, so this is the one time it is seen."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    with svc.db.transaction() as session:
        bank = load_bank(session, code)
        row = ApiKey(bank_id=bank.id, key_hash=hash_api_key(key), prefix=key[:12], label=label, created_at=now)
        session.add(row)
        audit.append(
            session, event="api_key.create", result="ok", now=now, actor=client.actor, bank_code=code,
            ip=client.ip, user_agent=client.user_agent, detail={"prefix": row.prefix},
        )
    return key


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def bank_for_api_key(svc: Services, key: str) -> BankView | None:
    """The bank a live key belongs to; one indexed lookup, no password hash on this path."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 200:
        return None
    with svc.db.reading() as session:
        row = session.scalar(
            select(ApiKey).where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))
        )
        return BankView.of(row.bank) if row is not None else None


def revoke_api_key(svc: Services, code: str, prefix: str, client: Client = OPERATOR) -> int:
    """Revoke the bank's live keys that start with `prefix`; returns how many."""
    now = utcnow()
    with svc.db.transaction() as session:
        bank = load_bank(session, code)
        rows = session.scalars(
            select(ApiKey).where(
                # Only the first 12 characters are stored; `_` in keys must not act as a LIKE wildcard.
                ApiKey.bank_id == bank.id, ApiKey.prefix.startswith(prefix[:12], autoescape=True),
                ApiKey.revoked_at.is_(None),
            )
        ).all()
        for row in rows:
            row.revoked_at = now
            audit.append(
                session, event="api_key.revoke", result="ok", now=now, actor=client.actor, bank_code=code,
                ip=client.ip, user_agent=client.user_agent, detail={"prefix": row.prefix},
            )
        return len(rows)
