"""Tenants and their API keys."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain import embedding
from ..domain import otp as otp_rules
from ..domain.customers import BANK_CODE
from ..domain.errors import GatewayError, InvalidInput, UnknownBank
from ..domain.tokens import PREFIX
from ..storage import audit
from ..storage.db import READONLY
from ..storage.models import ApiKey, Bank
from . import OPERATOR, Client, Services, utcnow

API_KEY_PREFIX = "ogw_"
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
SERVICE_ID = re.compile(r"^[0-9]{8}$")
LOGO_URL = re.compile(r"^(https://[^\s\\\"'<>]+|/[^/\s\\\"'<>][^\s\\\"'<>]*)$")


#: The columns a BankView is made of.
BANK_FIELDS = (
    "code", "name", "colour", "logo_url", "contact", "token_prefix", "token_period", "token_digits",
    "token_algorithm", "service_id", "is_demo", "removal_policy", "stop_cooloff_hours",
    "reregister_delay_days", "embed_origins_json", "return_urls_json",
)
#: How a token may be removed (every path obeys it): the two passwords, or the code as well.
LOST_PHONE, CODE = "lost-phone", "code"
REMOVAL_POLICIES = (LOST_PHONE, CODE)
#: The longest cooling-off a bank may set: a week.
MAX_COOLOFF_HOURS = 168


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
    removal_policy: str
    stop_cooloff_hours: int
    reregister_delay_days: int
    embed_origins: tuple[str, ...]
    return_urls: tuple[str, ...]

    @classmethod
    def of(cls, bank: Bank | Row[Any]) -> BankView:
        """From a Bank or a row with the columns of `BANK_FIELDS`."""
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
            removal_policy=bank.removal_policy,
            stop_cooloff_hours=bank.stop_cooloff_hours,
            reregister_delay_days=bank.reregister_delay_days,
            embed_origins=tuple(json.loads(bank.embed_origins_json)),
            return_urls=tuple(json.loads(bank.return_urls_json)),
        )

    @property
    def removal_needs_code(self) -> bool:
        """Whether removing a token (stop pages, IB 利用解除, the API) needs the token's code."""
        return self.removal_policy == CODE


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
    removal_policy: str = LOST_PHONE,
    stop_cooloff_hours: int = 0,
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
    _check_removal(removal_policy, stop_cooloff_hours)
    _check_logo(logo_url)
    embed_origins = _origins(embed_origins)
    return_urls = _return_urls(return_urls)
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
                removal_policy=removal_policy,
                stop_cooloff_hours=stop_cooloff_hours,
                reregister_delay_days=reregister_delay_days,
                embed_origins_json=json.dumps(embed_origins),
                return_urls_json=json.dumps(return_urls),
                created_at=now,
            )
            session.add(bank)
            session.flush()
            audit.append(
                session, event="bank.add", result="ok", now=now, actor=client.actor, bank_code=code,
                ip=client.ip, user_agent=client.user_agent,
                detail={"prefix": prefix, "period": period, "demo": demo, "removal_policy": removal_policy},
            )
            return BankView.of(bank)
    except IntegrityError:
        raise BankExists(code) from None


def _check_removal(policy: str | None, cooloff_hours: int | None) -> None:
    if policy is not None and policy not in REMOVAL_POLICIES:
        raise InvalidInput("removal_policy", "lost-phone or code")
    if cooloff_hours is not None and not 0 <= cooloff_hours <= MAX_COOLOFF_HOURS:
        raise InvalidInput("stop_cooloff_hours", f"0–{MAX_COOLOFF_HOURS}")


def _check_logo(logo_url: str | None) -> None:
    if logo_url is not None and not LOGO_URL.fullmatch(logo_url):
        raise InvalidInput("logo_url", "an https:// URL or a path on this server")


def _origins(values: list[str] | tuple[str, ...]) -> list[str]:
    """Exact origins (`https://bank.example[:port]`), normalised, each once."""
    origins: list[str] = []
    for value in values:
        origin = embedding.normalise_origin(value)
        if origin is None:
            raise InvalidInput("embed_origin", f"not an origin (scheme://host[:port]): {value}")
        if origin not in origins:
            origins.append(origin)
    return origins


def _return_urls(values: list[str] | tuple[str, ...]) -> list[str]:
    urls: list[str] = []
    for value in values:
        if not embedding.valid_return_url(value):
            raise InvalidInput("return_url", f"not an absolute http(s) URL without query or fragment: {value}")
        if value not in urls:
            urls.append(value)
    return urls


def update_bank(
    svc: Services,
    code: str,
    *,
    name: str | None = None,
    colour: str | None = None,
    logo_url: str | None = None,
    contact: str | None = None,
    removal_policy: str | None = None,
    stop_cooloff_hours: int | None = None,
    reregister_delay_days: int | None = None,
    embed_origins: list[str] | tuple[str, ...] | None = None,
    return_urls: list[str] | tuple[str, ...] | None = None,
    client: Client = OPERATOR,
) -> BankView:
    """Change a tenant's branding, policies, embed origins or return URLs; None leaves a value as it is.

    `logo_url=""` removes the logo; lists given replace the old ones (an empty list clears them).
    """
    if name is not None and not name.strip():
        raise InvalidInput("name", "missing")
    if colour is not None and not COLOUR.fullmatch(colour):
        raise InvalidInput("colour", "#rrggbb")
    if reregister_delay_days is not None and not 0 <= reregister_delay_days <= 30:
        raise InvalidInput("reregister_delay_days", "0–30")
    _check_removal(removal_policy, stop_cooloff_hours)
    _check_logo(logo_url or None)
    origins = None if embed_origins is None else _origins(embed_origins)
    urls = None if return_urls is None else _return_urls(return_urls)
    changes = {
        "name": name.strip() if name is not None else None, "colour": colour, "contact": contact,
        "removal_policy": removal_policy, "stop_cooloff_hours": stop_cooloff_hours,
        "reregister_delay_days": reregister_delay_days,
        "embed_origins_json": None if origins is None else json.dumps(origins),
        "return_urls_json": None if urls is None else json.dumps(urls),
    }
    now = utcnow()
    with svc.db.transaction() as session:
        bank = load_bank(session, code)
        for column, value in changes.items():
            if value is not None:
                setattr(bank, column, value)
        if logo_url is not None:
            bank.logo_url = logo_url or None
        changed = sorted(k.removesuffix("_json") for k, v in changes.items() if v is not None)
        if logo_url is not None:
            changed.append("logo_url")
        audit.append(
            session, event="bank.update", result="ok", now=now, actor=client.actor, bank_code=code,
            ip=client.ip, user_agent=client.user_agent,
            detail={"changed": changed, "embed_origins": origins, "return_urls": urls},
        )
        session.flush()
        return BankView.of(bank)


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


_BANKS = Bank.__table__
_KEYS = ApiKey.__table__
#: Built once: the bank of a live key, in one statement (the API's per-request look-up).
_BANK_FOR_KEY = (
    select(*(_BANKS.c[name] for name in BANK_FIELDS))
    .select_from(_KEYS.join(_BANKS, _BANKS.c.id == _KEYS.c.bank_id))
    .where(_KEYS.c.key_hash == bindparam("key_hash"), _KEYS.c.revoked_at.is_(None))
)


def bank_for_api_key(svc: Services, key: str) -> BankView | None:
    """The bank a live key belongs to; one indexed lookup, no password hash on this path."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 200:
        return None
    return bank_for_key_hash(svc, hash_api_key(key))


def bank_for_key_hash(svc: Services, key_hash: str) -> BankView | None:
    with svc.db.engine.connect() as connection:
        connection.execution_options(**{READONLY: True})
        row = connection.execute(_BANK_FOR_KEY, {"key_hash": key_hash}).first()
    return BankView.of(row) if row is not None else None


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
