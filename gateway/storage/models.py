"""SQLAlchemy 2.0 typed mappings: banks, API keys, customers, credentials, the audit chain."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
#: SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stored as naive UTC in every database, handed out as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Bank(Base):
    """A tenant: its customers, branding, token settings and policies."""

    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    colour: Mapped[str] = mapped_column(String(7), default="#004e9a")
    logo_url: Mapped[str | None] = mapped_column(String(500))
    contact: Mapped[str | None] = mapped_column(String(200))
    token_prefix: Mapped[str] = mapped_column(String(4))
    token_period: Mapped[int] = mapped_column(Integer, default=30)
    token_digits: Mapped[int] = mapped_column(Integer, default=6)
    token_algorithm: Mapped[str] = mapped_column(String(8), default="SHA1")
    service_id: Mapped[str] = mapped_column(String(8), unique=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    #: How a token may be removed, on every path (stop pages, IB 利用解除, the API): "lost-phone" (the two
    #: passwords, no code: a customer who lost the phone can stop use) or "code" (the code on every path).
    removal_policy: Mapped[str] = mapped_column(String(16), default="lost-phone")
    #: Hours after a removal during which the API and signed results say OTP was removed recently.
    stop_cooloff_hours: Mapped[int] = mapped_column(Integer, default=0)
    reregister_delay_days: Mapped[int] = mapped_column(Integer, default=1)
    embed_origins_json: Mapped[str] = mapped_column(Text, default="[]")
    return_urls_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    @property
    def embed_origins(self) -> list[str]:
        return json.loads(self.embed_origins_json)

    @property
    def return_urls(self) -> list[str]:
        return json.loads(self.return_urls_json)


class ApiKey(Base):
    """A bank's bearer key, kept only as its SHA-256 (the key itself is long and random)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    bank: Mapped[Bank] = relationship(lazy="joined")


class Customer(Base):
    """An internet-banking customer of one bank, by contract ID."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("bank_id", "contract_id", name="uq_customers_bank_contract"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    contract_id: Mapped[str] = mapped_column(String(32))
    login_password_hash: Mapped[str] = mapped_column(String(255))
    confirmation_password_hash: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254))
    #: none → issued → active → released (NTT style); none → active → released (VIP style)
    otp_status: Mapped[str] = mapped_column(String(16), default="none")
    password_failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Wrong tries at token registration (any token ID typed, with its code), counted against the customer
    #: and never the token they name: the same growing wait as codes, a lock at OTP_MAX_FAILURES.
    registration_failures: Mapped[int] = mapped_column(Integer, default=0)
    registration_failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    registration_locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: the bank's calendar day on which OTP use last stopped; re-registration waits from it
    released_on: Mapped[dt.date | None] = mapped_column(Date)
    #: when the customer's token was last removed (any path), for the bank's cooling-off
    otp_removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    bank: Mapped[Bank] = relationship(lazy="joined")


#: Percent of a credentials page that inserts fill on PostgreSQL (see Credential's table arguments).
CREDENTIALS_FILLFACTOR = 80


class Credential(Base):
    """A token in the registry: token ID → sealed secret, state, drift and the last accepted step."""

    __tablename__ = "credentials"
    __table_args__ = (
        # At most one active credential per customer, held by the database itself.
        Index(
            "uq_credentials_active_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        # Token IDs are unique per bank (two banks may import the same vendor serial). The token ID leads,
        # so this one index also serves operators' look-ups by token ID alone (migration 0008).
        UniqueConstraint("credential_id", "bank_id", name="uq_credentials_credential_bank"),
        Index("ix_credentials_bank_state", "bank_id", "state"),
        # Lookups bind the state as a parameter, which a partial index cannot serve.
        Index("ix_credentials_customer_state", "customer_id", "state"),
        # PostgreSQL: room on every page, so that a verify's UPDATE (no indexed column changes) stays on its
        # page as a HOT update and writes no index entry (migration 0006).
        {"postgresql_with": {"fillfactor": CREDENTIALS_FILLFACTOR}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[str] = mapped_column(String(32))
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(4), default="totp")
    algorithm: Mapped[str] = mapped_column(String(8), default="SHA1")
    digits: Mapped[int] = mapped_column(Integer, default=6)
    period: Mapped[int] = mapped_column(Integer, default=30)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    seal_key_id: Mapped[str] = mapped_column(String(32))
    #: available → active → revoked; a lock is `locked_at`, kept apart so unlocking restores the state
    state: Mapped[str] = mapped_column(String(16), default="available")
    drift: Mapped[int] = mapped_column(Integer, default=0)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16), default="minted")
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    bound_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    bound_ip: Mapped[str | None] = mapped_column(String(64))
    bound_user_agent: Mapped[str | None] = mapped_column(String(500))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    bank: Mapped[Bank] = relationship(lazy="joined")

    @property
    def display_state(self) -> str:
        return "locked" if self.locked_at is not None else self.state


class AuditEvent(Base):
    """One append-only audit row; `hash` chains it to the row before (`seq` − 1)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_bank_id", "bank_code", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    bank_code: Mapped[str | None] = mapped_column(String(16))
    contract_id: Mapped[str | None] = mapped_column(String(32))
    credential_id: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(40))
    result: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head: one row, locked while an event is appended, so the chain never forks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    #: The hash before `hash` (the last row's prev_hash): an append moves the head with one UPDATE that returns both.
    prev_hash: Mapped[str] = mapped_column(String(64), server_default="0" * 64)


class Issuance(Base):
    """A token issuance (トークン発行, NTT style): service ID + user ID + activation password → a token.

    issued → provisioned (the app fetched its secret) → active (利用開始) → released (利用解除);
    `cancelled` when a newer issuance replaces one that never became active.
    """

    __tablename__ = "issuances"
    __table_args__ = (
        UniqueConstraint("bank_id", "user_id", name="uq_issuances_bank_user"),
        Index("ix_issuances_customer", "customer_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("credentials.id", ondelete="SET NULL"))
    service_id: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[str] = mapped_column(String(12))
    email: Mapped[str] = mapped_column(String(254))
    activation_password_hash: Mapped[str] = mapped_column(String(255))
    activation_failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="issued")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    provisioned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    bank: Mapped[Bank] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")


class MailMessage(Base):
    """A mail written in the same transaction as what it reports; delivered after commit, retried if down."""

    __tablename__ = "mail_messages"
    __table_args__ = (Index("ix_mail_messages_pending", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    #: pending → sent; a failed try leaves it pending with `attempts` and `last_error` for the retry
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A browser session kept on the server; the cookie holds a random ID, the table only its SHA-256."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_seen", "last_seen_at"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ResultKey(Base):
    """A bank's key for signing flow results (redirect and embed modes), sealed like token secrets.

    The newest key without `retired_at` signs; `kid` names it in each result so a bank can tell keys apart
    while it moves to a new one.
    """

    __tablename__ = "result_keys"
    __table_args__ = (Index("ix_result_keys_bank", "bank_id", "retired_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    kid: Mapped[str] = mapped_column(String(32), unique=True)
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    seal_key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
