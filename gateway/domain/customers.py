"""Customer input rules: contract IDs and the three kinds of password (syntax only)."""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidInput

CONTRACT_ID = re.compile(r"^[0-9A-Za-z]{1,32}$")
LOGIN_PASSWORD = re.compile(r"^[\x21-\x7e]{6,32}$")
#: 確認用パスワード: half-width letters and digits, 6–12.
CONFIRMATION_PASSWORD = re.compile(r"^[0-9A-Za-z]{6,12}$")
#: 利用開始パスワード: 4–8 digits.
ACTIVATION_PASSWORD = re.compile(r"^[0-9]{4,8}$")
BANK_CODE = re.compile(r"^[0-9A-Za-z]{1,16}$")


def normalise_contract_id(raw: str | None) -> str:
    """NFKC (full-width digits typed on a phone become ASCII), surrounding spaces dropped."""
    value = unicodedata.normalize("NFKC", raw or "").strip()
    if not value:
        raise InvalidInput("contract_id", "missing")
    if not CONTRACT_ID.fullmatch(value):
        raise InvalidInput("contract_id", "format")
    return value


def check_login_password(value: str) -> str:
    if not LOGIN_PASSWORD.fullmatch(value or ""):
        raise InvalidInput("password", "format")
    return value


def check_confirmation_password(value: str) -> str:
    if not CONFIRMATION_PASSWORD.fullmatch(value or ""):
        raise InvalidInput("confirmation_password", "format")
    return value


def check_activation_password(value: str) -> str:
    value = unicodedata.normalize("NFKC", value or "")
    if not ACTIVATION_PASSWORD.fullmatch(value):
        raise InvalidInput("activation_password", "format")
    return value
