"""From python-pskc's view of a key package to a credential's values, or the reason it cannot be one.

Checks run in a fixed order and the first that fails is reported: token ID, algorithm, digits, policy
(expiry included), secret (present, decryptable, MAC, length), period and drift (TOTP) or counter (HOTP).
"""

from __future__ import annotations

import binascii
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from pskc import PSKC
from pskc.device import Device
from pskc.exceptions import PSKCError
from pskc.key import EncryptedValue, Key
from pskc.parser import PSKCParser

from ...domain import otp as otp_rules
from ...domain.errors import InvalidInput
from ...domain.tokens import MIN_SECRET_BYTES, normalise_token_id
from .document import DocumentRefused
from .quick import read_plain_package

MAX_SECRET_BYTES = 128
#: PBKDF2 iteration counts come from the file: bound them so a file cannot make us spin.
MAX_PBKDF2_ITERATIONS = 10_000_000
#: Transport encryption we undo: a pre-shared (or PBKDF2-derived) AES key. RSA key transport is refused.
SYMMETRIC = re.compile(r"#(aes(128|192|256)-cbc|kw-aes(128|192|256))$")
#: RFC 6030 `…:pskc:hotp|totp` and the older `…pskc#hotp|#totp` of the drafts.
KIND = re.compile(r"^(?:urn:ietf:params:xml:ns:keyprov:pskc|http://www\.ietf\.org/keyprov/pskc)[:#](hotp|totp)$",
                  re.IGNORECASE)
#: The shape of a minted token ID: the bank's 4-letter prefix and 8 digits (`domain.tokens.mint_token_id`).
MINTED_SHAPE = re.compile(r"[A-Z]{4}[0-9]{8}")
#: Why a key was not imported (stable: the API and the CLI report these).
REASONS = {
    "malformed": "the key's data could not be read",
    "malformed_token_id": "the serial number (or key Id) is not 1–32 letters and digits",
    "foreign_prefix": "the token ID has the minted shape (4 letters, 8 digits) with another bank's prefix",
    "unsupported_algorithm": "not HOTP/TOTP with HMAC-SHA1/256/512 and plain decimal codes",
    "unsupported_digits": "codes are not 6 or 8 digits",
    "unsupported_policy": "the key's policy asks for something the gateway cannot enforce (PIN, usage count)",
    "expired": "the key's policy says it has expired",
    "not_yet_valid": "the key's policy says it is not valid yet",
    "no_secret": "the file carries no secret for the key (e.g. derived out of band)",
    "unsupported_encryption": "the secret is encrypted other than with a pre-shared AES key or PBKDF2",
    "decryption_failed": "the secret could not be decrypted (no, or the wrong, key or password)",
    "mac_mismatch": "the secret's MAC does not match (tampered, or the wrong key or password) or is missing",
    "too_short": f"the secret is shorter than {MIN_SECRET_BYTES} bytes",
    "unsupported_period": "the time step is not between 1 and 120 seconds",
    "unsupported_drift": "the recorded clock drift is beyond ±10 steps",
    "duplicate": "the token ID is already in this bank's registry, or earlier in this file",
}
Row = dict[str, Any]


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Container:
    """The document's container-level data (encryption, MAC) as the key packages stream past it."""

    def __init__(self, password: str | None, preshared: bytes | None) -> None:
        self.pskc = PSKC()
        self.password, self.preshared = password, preshared
        self.ready = False
        self.failure: str | None = None

    def read(self, element: Any) -> None:
        """A child of the container that is not a key package."""
        tag = element.tag
        try:
            if tag in ("EncryptionKey", "EncryptionMethod"):
                PSKCParser.parse_encryption(self.pskc.encryption, element)
            elif tag in ("MACMethod", "DigestMethod"):
                PSKCParser.parse_mac_method(self.pskc.mac, element)
            elif tag == "MACAlgorithm" and element.text:
                self.pskc.mac.algorithm = element.text.strip()
        except (PSKCError, ValueError, TypeError, binascii.Error):
            raise DocumentRefused("malformed", f"the document's {tag} cannot be read") from None

    def keys(self, element: Any) -> Iterator[Key | None]:
        """The keys of one key package; None for each key of a package that cannot be read (and for a
        package without a key, so that it too is reported)."""
        if not self.ready:
            self._prepare()
        device = read_plain_package(self.pskc, element)
        if device is None:
            device = Device(self.pskc)
            try:
                PSKCParser.parse_key_package(device, element)
            except Exception:  # python-pskc decodes values while parsing: garbage in a package surfaces here
                for _ in range(max(1, len(element.findall("Key")))):
                    yield None
                return
        if not device.keys:
            yield None
            return
        yield from device.keys

    def _prepare(self) -> None:
        """Once, before the first key: derive or set the key, and decrypt the MAC key (not once per value)."""
        self.ready = True
        encryption = self.pskc.encryption
        derivation = encryption.derivation
        if self.password is not None and derivation.algorithm:
            # The parameters come from the file: bound them so that a file cannot make us spin or allocate.
            if not 1 <= (derivation.pbkdf2_iterations or 0) <= MAX_PBKDF2_ITERATIONS \
                    or (derivation.pbkdf2_key_length or 16) not in (16, 24, 32):
                raise DocumentRefused("unsupported_encryption", "PBKDF2 parameters out of range")
        try:
            if self.password is not None and derivation.algorithm:
                encryption.derive_key(self.password)
            elif self.preshared is not None:
                encryption.key = self.preshared
            if encryption.key is not None and self.pskc.mac.algorithm:
                self.pskc.mac.key = self.pskc.mac.key  # the getter decrypts; keep the plaintext
        except (PSKCError, ValueError, TypeError, OverflowError):
            self.failure = "decryption_failed"
            encryption.key = None

    def value(self, key: Key, name: str) -> Any:
        """A plain or decrypted field of the key; raises Rejected with the reason it cannot be had."""
        stored = getattr(key, "_" + name, None)
        if not isinstance(stored, EncryptedValue):
            return stored
        algorithm = stored.algorithm or self.pskc.encryption.algorithm
        if not algorithm or not SYMMETRIC.search(algorithm):
            raise Rejected("unsupported_encryption")
        if self.failure or self.pskc.encryption.key is None:
            raise Rejected("decryption_failed")
        if algorithm.endswith("-cbc") and not stored.mac_value:
            raise Rejected("mac_mismatch")  # CBC has no integrity of its own; RFC 6030 §6.1.1 asks for a MAC
        try:
            return getattr(key, name)
        except PSKCError as error:
            raise Rejected("mac_mismatch" if "MAC" in str(error) else "decryption_failed") from None


def token_id_of(key: Key) -> str:
    """DeviceInfo/SerialNo, else the key's Id, normalised; raises Rejected("malformed_token_id")."""
    try:
        return normalise_token_id(key.serial or key.id)
    except InvalidInput:
        raise Rejected("malformed_token_id") from None


def check_prefix(token_id: str, foreign_prefixes: frozenset[str]) -> None:
    """Raises Rejected("foreign_prefix") for an ID in the minted shape with another bank's prefix: it
    would pass for a token that bank minted."""
    if token_id[:4] in foreign_prefixes and MINTED_SHAPE.fullmatch(token_id):
        raise Rejected("foreign_prefix")


def raw_id(key: Key | None, element: Any) -> str | None:
    """What to call a key we could not read: its serial or Id as written, printable and shortened."""
    if key is not None:
        value = key.serial or key.id
    else:
        first = element.find("Key")
        value = element.findtext("DeviceInfo/SerialNo") or (first.get("Id") if first is not None else None)
    if not value or not value.strip():
        return None
    return "".join(char if char.isprintable() else "?" for char in value.strip()[:64])


def credential_values(key: Key, container: Container, now: dt.datetime) -> Row:
    """The credential's kind, algorithm, digits, period, counter, drift, expiry and secret."""
    found = KIND.match((key.algorithm or "").strip())
    algorithm = _hash(key.algorithm_suite)
    if not found or algorithm is None or key.response_check \
            or (key.response_encoding or "DECIMAL").upper() != "DECIMAL":
        raise Rejected("unsupported_algorithm")
    kind = found.group(1).lower()
    digits = key.response_length or 6
    if digits not in otp_rules.DIGITS:
        raise Rejected("unsupported_digits")
    expiry = _check_policy(key, now)
    if getattr(key, "_secret", None) is None:  # python-pskc keeps the value, maybe encrypted, there
        raise Rejected("no_secret")
    secret = container.value(key, "secret")
    if not isinstance(secret, bytes) or len(secret) > MAX_SECRET_BYTES:
        raise Rejected("malformed")
    if len(secret) < MIN_SECRET_BYTES:
        raise Rejected("too_short")
    period, drift, counter = 30, 0, 0
    if kind == "totp":
        period = container.value(key, "time_interval") or 30
        if not 1 <= period <= 120:
            raise Rejected("unsupported_period")
        # TimeDrift: the steps a previous validation server saw this token's clock off by (RFC 6030 §4.3.4).
        drift = container.value(key, "time_drift") or 0
        if abs(drift) > otp_rules.OUT_OF_SYNC_STEPS:
            raise Rejected("unsupported_drift")
    else:
        counter = container.value(key, "counter") or 0
        if not 0 <= counter < 2**62:
            raise Rejected("malformed")
    return {"kind": kind, "algorithm": algorithm, "digits": digits, "period": period, "counter": counter,
            "drift": drift, "expires_at": expiry, "secret": secret}


def _hash(suite: str | None) -> str | None:
    """`HMAC-SHA256`, `HMAC-SHA-256`, `SHA256` → SHA256; no suite is RFC 4226's SHA1; others None."""
    if not suite:
        return "SHA1"
    name = re.sub(r"^HMAC-?|-", "", suite.strip().upper())
    return name if name in otp_rules.ALGORITHMS else None


def _check_policy(key: Key, now: dt.datetime) -> dt.datetime | None:
    """RFC 6030 §4.3.4: a key whose policy we cannot honour must not be used. Returns the expiry."""
    policy = key.policy
    if policy.unknown_policy_elements or (policy.key_usage and "OTP" not in policy.key_usage) \
            or policy.number_of_transactions is not None or (policy.pin_usage or "Local") != "Local":
        raise Rejected("unsupported_policy")
    expiry = _aware(policy.expiry_date or key.expiry_date)
    start = _aware(policy.start_date or key.start_date)
    if expiry is not None and expiry <= now:
        raise Rejected("expired")
    if start is not None and start > now:
        raise Rejected("not_yet_valid")
    return expiry


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
