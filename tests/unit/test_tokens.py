"""Token ID and code normalisation, minting, masking, otpauth URIs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from gateway.domain import tokens
from gateway.domain.errors import MalformedOtp, MalformedTokenId


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SYMC12345678", "SYMC12345678"),
        (" symc-1234 5678 ", "SYMC12345678"),
        ("ＳＹＭＣ１２３４５６７８", "SYMC12345678"),  # full width
        ("symc－1234－5678", "SYMC12345678"),  # full-width hyphen
        ("SYMC\u30001234\u30005678", "SYMC12345678"),  # ideographic space
        ("ab-12", "AB12"),
        ("A" * 32, "A" * 32),
    ],
)
def test_token_ids_are_normalised(raw: str, expected: str) -> None:
    assert tokens.normalise_token_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "missing"),
        ("   ", "missing"),
        (None, "missing"),
        ("SYMC1234567$", "format"),
        ("SYMC'; DROP TABLE", "format"),
        ("A" * 33, "format"),
        ("トークン", "format"),
        ("SYMC\x001234", "format"),
    ],
)
def test_malformed_token_ids_are_typed_errors(raw: str | None, reason: str) -> None:
    with pytest.raises(MalformedTokenId) as caught:
        tokens.normalise_token_id(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "digits", "expected"),
    [
        ("123456", 6, "123456"),
        ("１２３４５６", 6, "123456"),
        (" 123 456 ", 6, "123456"),
        ("12345678", 8, "12345678"),
        ("012345", None, "012345"),
    ],
)
def test_codes_are_normalised(raw: str, digits: int | None, expected: str) -> None:
    assert tokens.normalise_otp(raw, digits) == expected


@pytest.mark.parametrize(
    ("raw", "digits", "reason"),
    [
        ("", 6, "missing"),
        (None, 6, "missing"),
        ("12345", 6, "length"),
        ("1234567", 6, "length"),
        ("12345a", 6, "format"),
        ("١٢٣٤٥٦", 6, "format"),  # Arabic-Indic digits are digits, but not ours
        ("-12345", 6, "length"),
        ("1234567", None, "length"),
    ],
)
def test_malformed_codes_are_typed_errors(raw: str | None, digits: int | None, reason: str) -> None:
    with pytest.raises(MalformedOtp) as caught:
        tokens.normalise_otp(raw, digits)
    assert caught.value.reason == reason


def test_minted_ids_use_the_prefix_and_eight_digits() -> None:
    minted = {tokens.mint_token_id("SYMC") for _ in range(200)}
    assert all(tokens.MINTED_ID.fullmatch(m) and m.startswith("SYMC") for m in minted)
    assert len(minted) > 190
    with pytest.raises(ValueError):
        tokens.mint_token_id("SY1C")


def test_minted_secrets_are_160_bits() -> None:
    assert len(tokens.mint_secret()) * 8 == 160
    assert tokens.mint_secret() != tokens.mint_secret()


@pytest.mark.parametrize(
    ("token_id", "masked"),
    [("SYMC12345678", "SYMC****5678"), ("AB1234", "AB**34"), ("ABC", "***")],
)
def test_masking(token_id: str, masked: str) -> None:
    assert tokens.mask_token_id(token_id) == masked


def test_otpauth_uri_carries_what_authenticator_apps_read() -> None:
    uri = tokens.otpauth_uri(issuer="デモ信用組合", token_id="SYMC12345678", secret_b32="JBSWY3DPEHPK3PXP",
                             period=60, digits=6)
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parsed.path.endswith(":SYMC12345678")
    query = parse_qs(parsed.query)
    assert query["secret"] == ["JBSWY3DPEHPK3PXP"]
    assert query["period"] == ["60"] and query["digits"] == ["6"]
    assert query["issuer"] == ["デモ信用組合"]
