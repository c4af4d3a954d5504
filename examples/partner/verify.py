"""A bank's check of an otp-gateway result (redirect `otp_result=…` or the embed message's `otp_result`).

The result is a compact JWT signed HS256 with the bank's result key (`otp-gateway bank result-key CODE`):
any JWT library does the signature, `exp`, `iss` and `aud` checks; what a library cannot do for you is
remember which results were already used — this module keeps the `jti`s it accepted until they expire,
so a second presentation of the same result is refused.

    store = UsedResults("used-results.db")
    verifier = ResultVerifier(bank="0001", keys={"rk_…": "ogwr_…"}, store=store)
    claims = verifier.verify(token, return_to="https://ib.example.jp/otp/return")   # or origin=…
    claims["sub"], claims["flow"], claims["result"]   # contract ID, register|stop, registered|stopped|cancelled

Needs only PyJWT (`pip install "PyJWT>=2.8,<3"`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping
from typing import Any

import jwt

ISSUER = "otp-gateway"
ALGORITHMS = ["HS256"]  # fixed: never take the algorithm from the token
LEEWAY_SECONDS = 10  # clock difference between the gateway and the bank


class ResultRefused(Exception):
    """The result must not be acted on; `reason` says why (for logs, not for customers)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UsedResults:
    """The `jti`s already accepted, kept until their result has expired anyway (SQLite; one file or memory).

    `claim()` is one INSERT on a primary key, so two requests racing with the same result cannot both win.
    """

    def __init__(self, path: str = ":memory:") -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS used_results (jti TEXT PRIMARY KEY, expires INTEGER NOT NULL)")

    def claim(self, jti: str, expires: int) -> bool:
        """True the first time `jti` is seen; False ever after (until it has expired)."""
        with self._lock:
            self._db.execute("DELETE FROM used_results WHERE expires < ?", (int(time.time()) - LEEWAY_SECONDS,))
            try:
                self._db.execute("INSERT INTO used_results (jti, expires) VALUES (?, ?)", (jti, expires))
            except sqlite3.IntegrityError:
                return False
            return True


class ResultVerifier:
    def __init__(self, bank: str, keys: Mapping[str, str] | str, store: UsedResults) -> None:
        """`keys`: the bank's result key, or {kid: key} while moving from an old key to a new one."""
        self.bank = bank
        self.keys = dict(keys) if isinstance(keys, Mapping) else {"": keys}
        self.store = store

    def _key_for(self, token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise ResultRefused("not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise ResultRefused("unexpected algorithm")
        if "" in self.keys and len(self.keys) == 1:
            return self.keys[""]
        key = self.keys.get(str(header.get("kid", "")))
        if key is None:
            raise ResultRefused("unknown key id")
        return key

    def verify(self, token: str, *, return_to: str | None = None, origin: str | None = None) -> dict[str, Any]:
        """The result's claims, once. Give `return_to` (redirect mode: the URL the customer came back to,
        without `otp_result`) or `origin` (embed mode: your page's origin) to check it was meant for you."""
        if not token or len(token) > 4096:
            raise ResultRefused("missing or oversized result")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._key_for(token), algorithms=ALGORITHMS, audience=self.bank, issuer=ISSUER,
                leeway=LEEWAY_SECONDS, options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise ResultRefused("expired") from None
        except jwt.InvalidSignatureError:
            raise ResultRefused("bad signature (tampered, or another key)") from None
        except jwt.InvalidTokenError as error:
            raise ResultRefused(f"invalid: {error}") from None
        if claims.get("flow") not in ("register", "stop") or \
                claims.get("result") not in ("registered", "stopped", "cancelled"):
            raise ResultRefused("unknown flow or result")
        if return_to is not None and (claims.get("mode") != "redirect" or claims.get("return_to") != return_to):
            raise ResultRefused("meant for another return URL")
        if origin is not None and (claims.get("mode") != "embed" or claims.get("origin") != origin):
            raise ResultRefused("meant for another origin")
        if not self.store.claim(str(claims["jti"]), int(claims["exp"])):
            raise ResultRefused("already used (replayed)")
        return claims
