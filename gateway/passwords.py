"""Password hashing with argon2id at OWASP's recommended cost (m = 19 MiB, t = 2, p = 1)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from passlib.context import CryptContext

from .domain.errors import InvalidInput

MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1
#: The longest password looked at, in UTF-8 bytes: far beyond any real one. passlib refuses more than 4,096
#: characters with an error of its own; counting bytes keeps every such password on this side of it.
MAX_PASSWORD_BYTES = 4096
#: Verified in place of a password that cannot be anyone's, so that it costs what a wrong one costs.
_STAND_IN = "not-a-password-anyone-has"

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


def _unusable(password: str) -> str | None:
    """Why `password` cannot be anyone's (an InvalidInput reason), or None when it can."""
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, as JSON's "\ud800" gives: no keyboard types one
        return "format"
    return "length" if size > MAX_PASSWORD_BYTES else None


def hash_password(password: str, field: str = "password") -> str:
    """The argon2id hash of `password`; raises InvalidInput naming `field` when it cannot be a password."""
    reason = _unusable(password)
    if reason is not None:
        raise InvalidInput(field, reason)
    return _context.hash(password)


def check_password(password: str, stored: str | None) -> Checked:
    """Verify, and re-hash when the stored hash's parameters are not today's.

    A password that cannot be anyone's (too long, not encodable) is a wrong one, at a verification's cost.
    """
    if _unusable(password) is not None:
        _context.verify(_STAND_IN, stored or _dummy())  # for the time only: the answer is no
        return Checked(ok=False)
    if stored is None:
        _context.verify(password, _dummy())
        return Checked(ok=False)
    ok, new_hash = _context.verify_and_update(password, stored)
    return Checked(ok=bool(ok), new_hash=new_hash)


def burn_time(password: str) -> None:
    """Spend one verification's time on nothing (unknown contract IDs)."""
    _context.verify(password if _unusable(password) is None else _STAND_IN, _dummy())
