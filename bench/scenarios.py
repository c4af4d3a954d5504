"""Request files for wrk: each line `METHOD<TAB>PATH<TAB>BODY`, every code used once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

from gateway.domain import otp as otp_rules

from .load import contract_for, secret_for, token_for

VERIFY = "/api/v1/otp/verify"
PARAMS = otp_rules.OtpParams()


def code(index: int, at: float | None = None) -> str:
    return otp_rules.code_at(secret_for(index), otp_rules.current_step(at or time.time(), 30), PARAMS)


def wrong_code(index: int, at: float | None = None) -> str:
    """A code that is not this step's (and, but for a one-in-50,000 chance, no nearby step's)."""
    return f"{(int(code(index, at)) + 500_000) % 1_000_000:06d}"


def write(path: Path, lines: Iterable[tuple[str, str, dict[str, object]]]) -> int:
    count = 0
    with path.open("w") as handle:
        for method, target, body in lines:
            handle.write(f"{method}\t{target}\t{json.dumps(body, separators=(',', ':'))}\n")
            count += 1
    return count


def verify_rejects(path: Path, indexes: Iterable[int]) -> int:
    """Wrong codes spread over many customers, so that no credential locks."""
    now = time.time()
    return write(path, (("POST", VERIFY, {"contract_id": contract_for(i), "otp": wrong_code(i, now)})
                        for i in indexes))


def verify_accepts(path: Path, indexes: Iterable[int]) -> int:
    """This step's code for each customer, each used once."""
    now = time.time()
    return write(path, (("POST", VERIFY, {"contract_id": contract_for(i), "otp": code(i, now)}) for i in indexes))


def registrations(path: Path, customer_indexes: Iterable[int], token_indexes: Iterable[int], prefix: str) -> int:
    """Bind an available token to a customer without one, with the token's current code."""
    now = time.time()
    return write(path, (
        ("POST", f"/api/v1/customers/{contract_for(c)}/credential",
         {"credential_id": token_for(prefix, t), "otp": code(t, now)})
        for c, t in zip(customer_indexes, token_indexes, strict=True)
    ))
