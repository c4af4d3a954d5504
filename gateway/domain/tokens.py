"""Token ID (credential ID) rules: normalisation, format checks, minting, masking, otpauth URIs."""

from __future__ import annotations

import re
import secrets
import unicodedata
from urllib.parse import quote, urlencode

from .errors import MalformedOtp, MalformedTokenId

#: Minted soft tokens: the bank's 4-letter prefix and 8 digits (VIP style, e.g. SYMC12345678).
MINTED_ID = re.compile(r"^[A-Z]{4}[0-9]{8}$")
#: Imported tokens keep the device's serial number: 1–32 letters and digits.
TOKEN_ID = re.compile(r"^[A-Z0-9]{1,32}$")
PREFIX = re.compile(r"^[A-Z]{4}$")
#: RFC 4226 R6 asks for at least 128 bits; we mint 160 (the HMAC-SHA1 block it was made for).
MINTED_SECRET_BYTES = 20
MIN_SECRET_BYTES = 16

#: Spaces and the hyphens people type between groups (after NFKC, which folds the full-width ones).
_STRIP = str.maketrans("", "", " \t\u3000-\u2010\u2011\u2012\u2013\u2014\u2212\u30fc\uff70")
#: The longest input looked at: a 32-character token ID or an 8-digit code with room for separators.
MAX_INPUT = 64


def typed(raw: str) -> str:
    """What a person typed, as the registry spells it: NFKC (full-width → half-width), separators removed.

    The one normalisation of token IDs, codes and the set-up IDs, for the pages and the partner API alike.
    """
    return unicodedata.normalize("NFKC", raw).translate(_STRIP)


def normalise_token_id(raw: str | None) -> str:
    """NFKC (full-width → half-width), upper-case, spaces and hyphens removed; raises if malformed."""
    if raw is None or not raw.strip():
        raise MalformedTokenId("missing")
    if len(raw) > MAX_INPUT:
        raise MalformedTokenId("length")
    value = typed(raw).upper()
    if not TOKEN_ID.fullmatch(value):
        raise MalformedTokenId("format")
    return value


def normalise_otp(raw: str | None, digits: int | None = None) -> str:
    """NFKC-normalised digits (spaces and hyphens allowed between groups); `digits` fixes the length when known,
    else 6 or 8."""
    if raw is None or not raw.strip():
        raise MalformedOtp("missing")
    if len(raw) > MAX_INPUT:
        raise MalformedOtp("length")
    value = typed(raw)
    if not value.isascii() or not value.isdigit():
        raise MalformedOtp("format")
    if len(value) not in ((digits,) if digits is not None else (6, 8)):
        raise MalformedOtp("length")
    return value


def mint_token_id(prefix: str) -> str:
    """A new token ID: the bank's 4-letter prefix and 8 random digits (uniqueness is the registry's)."""
    if not PREFIX.fullmatch(prefix):
        raise ValueError("a token prefix is 4 upper-case letters")
    return f"{prefix}{secrets.randbelow(10**8):08d}"


def mint_secret() -> bytes:
    return secrets.token_bytes(MINTED_SECRET_BYTES)


def mask_token_id(token_id: str) -> str:
    """SYMC12345678 → SYMC****5678: enough for the customer to recognise, not to reuse."""
    if len(token_id) <= 4:
        return "*" * len(token_id)
    if len(token_id) <= 8:
        return token_id[:2] + "*" * (len(token_id) - 4) + token_id[-2:]
    return token_id[:4] + "*" * (len(token_id) - 8) + token_id[-4:]


def otpauth_uri(
    *,
    issuer: str,
    token_id: str,
    secret_b32: str,
    kind: str = "totp",
    algorithm: str = "SHA1",
    digits: int = 6,
    period: int = 30,
    counter: int = 0,
) -> str:
    """The Key URI format that authenticator apps read from a QR code."""
    label = quote(f"{issuer}:{token_id}", safe=":@")
    params: dict[str, str | int] = {"secret": secret_b32, "issuer": issuer}
    if algorithm != "SHA1":
        params["algorithm"] = algorithm
    params["digits"] = digits
    if kind == "totp":
        params["period"] = period
    else:
        params["counter"] = counter
    return f"otpauth://{kind}/{label}?{urlencode(params, quote_via=quote)}"
