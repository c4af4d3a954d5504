"""Use cases: each public function is one transaction and returns plain values or raises a domain error."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from ..mail import Mailer
from ..storage.db import Database
from ..storage.sealing import Sealer


@dataclass(frozen=True)
class Policy:
    """The deployment's settings the use cases follow: verification, lockouts, the banks' calendar, and the
    address customers reach the pages at (links in mails)."""

    otp_window: int = 1
    otp_max_failures: int = 10
    password_max_failures: int = 5
    timezone: str = "Asia/Tokyo"
    public_base_url: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Client:
    """Who is asking, for the audit trail: never a password, code or secret."""

    actor: str = "customer"
    ip: str | None = None
    user_agent: str | None = None


OPERATOR = Client(actor="operator")


@dataclass
class Services:
    """What every use case needs: the database, the sealer and the policy."""

    db: Database
    sealer: Sealer
    policy: Policy = field(default_factory=Policy)
    mailer: Mailer | None = None


def utcnow() -> dt.datetime:
    """The server's clock, the only one that counts (client-sent times are never used)."""
    return dt.datetime.now(dt.UTC)
