"""Password hashing with argon2id at OWASP's recommended cost (m = 19 MiB, t = 2, p = 1)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from passlib.context import CryptContext

MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1

_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=MEMORY_KIB,
    argon2__rounds=TIME_COST,
    argon2__parallelism=PARALLELISM,
)


@functools.cache
def _dummy() -> str:
    """Verified when the contract ID is unknown, so that "no such customer" costs as long as a wrong password.

    Made on first use, not at import: every command and worker would otherwise pay for it at start.
    """
    return _context.hash("not-a-password-anyone-has")


@dataclass(frozen=True)
class Checked:
    ok: bool
    new_hash: str | None = None  # set when the stored hash used older parameters


def hash_password(password: str) -> str:
    return _context.hash(password)


def check_password(password: str, stored: str | None) -> Checked:
    """Verify, and re-hash when the stored hash's parameters are not today's."""
    if stored is None:
        _context.verify(password, _dummy())
        return Checked(ok=False)
    ok, new_hash = _context.verify_and_update(password, stored)
    return Checked(ok=bool(ok), new_hash=new_hash)


def burn_time(password: str) -> None:
    """Spend one verification's time on nothing (unknown contract IDs)."""
    _context.verify(password, _dummy())
