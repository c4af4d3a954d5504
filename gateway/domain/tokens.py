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

_STRIP = str.maketrans("", "", " \t\u3000-\u2010\u2011\u2012\u2013\u2014\u2212\u30fc\uff70")


def normalise_token_id(raw: str | None) -> str:
    """NFKC (full-width → half-width), upper-case, spaces and hyphens removed; raises if malformed."""
    if raw is None:
        raise MalformedTokenId("missing")
    value = unicodedata.normalize("NFKC", str(raw)).translate(_STRIP).upper()
    if not value:
        raise MalformedTokenId("missing")
    if not TOKEN_ID.fullmatch(value):
        raise MalformedTokenId("format")
    return value


def normalise_otp(raw: str | None, digits: int | None = None) -> str:
    """NFKC-normalised digits (spaces allowed between groups); `digits` fixes the length when known."""
    if raw is None:
        raise MalformedOtp("missing")
    value = unicodedata.normalize("NFKC", str(raw)).translate(_STRIP)
    if not value:
        raise MalformedOtp("missing")
    if not value.isascii() or not value.isdigit():
        raise MalformedOtp("format")
    if digits is not None and len(value) != digits:
        raise MalformedOtp("length")
    if digits is None and len(value) not in (6, 8):
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
