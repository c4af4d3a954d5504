"""PSKC (RFC 6030) import: hardware and third-party token seeds into a bank's registry.

The XML never reaches python-pskc's own parser (which would use lxml when it is installed). The document
is read twice by defusedxml with DTDs, entities and external references forbidden and a byte limit: a
first pass checks it and counts the keys, so a bomb, an XXE attempt or a truncated file is refused before
anything is written; the second pass streams it key package by key package into python-pskc's element
parser and inserts the accepted keys in batches. Every key ends up imported or rejected with a reason.
"""

from __future__ import annotations

import binascii
import datetime as dt
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, iterparse
from pskc import PSKC
from pskc.device import Device
from pskc.exceptions import PSKCError
from pskc.key import EncryptedValue, Key
from pskc.parser import PSKCParser
from pskc.xml import remove_namespaces
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ..domain import otp as otp_rules
from ..domain.errors import GatewayError, InvalidInput
from ..domain.tokens import MIN_SECRET_BYTES, normalise_token_id
from ..storage import audit
from ..storage.models import Credential
from . import OPERATOR, Client, Services, utcnow
from .banks import load_bank

#: Larger files are refused before parsing (the CLI may pass a larger `max_bytes`).
MAX_DOCUMENT_BYTES = 128 * 1024 * 1024
BATCH = 1000
MAX_SECRET_BYTES = 128
#: PBKDF2 iteration counts come from the file: bound them so a file cannot make us spin.
MAX_PBKDF2_ITERATIONS = 10_000_000
#: Symmetric transport encryption python-pskc can undo; anything else (RSA key transport) is refused.
SYMMETRIC = re.compile(r"#(aes(128|192|256)-cbc|kw-aes(128|192|256))$")
KIND = re.compile(r"^(?:urn:ietf:params:xml:ns:keyprov:pskc|http://www\.ietf\.org/keyprov/pskc)[:#](hotp|totp)$",
                  re.IGNORECASE)
PACKAGES = {"KeyPackage", "Device"}
#: Why a key was not imported (stable: the API and the CLI report these).
REASONS = {
    "malformed": "the key's data could not be read",
    "malformed_token_id": "the serial number (or key Id) is not 1–32 letters and digits",
    "unsupported_algorithm": "not HOTP/TOTP with HMAC-SHA1/256/512 and decimal codes",
    "unsupported_digits": "codes are not 6 or 8 digits",
    "unsupported_period": "the time step is not between 1 and 120 seconds",
    "unsupported_drift": "the recorded clock drift is beyond ±10 steps",
    "unsupported_policy": "the key's policy asks for something the gateway cannot enforce",
    "unsupported_encryption": "the secret is encrypted with something other than a pre-shared AES key or PBKDF2",
    "no_secret": "the file carries no secret for the key (e.g. derived out of band)",
    "too_short": f"the secret is shorter than {MIN_SECRET_BYTES} bytes",
    "decryption_failed": "the secret could not be decrypted (no, or the wrong, key or password)",
    "mac_mismatch": "the secret's MAC does not match (tampered, or the wrong key or password)",
    "expired": "the key's policy says it has expired",
    "not_yet_valid": "the key's policy says it is not valid yet",
    "duplicate": "the token ID is already in the registry, or earlier in this file",
}


class DocumentRefused(GatewayError):
    """The whole document is refused before any key is imported (reason: too_large, forbidden_xml, …)."""

    code = "pskc_refused"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass(frozen=True, slots=True)
class KeyResult:
    token_id: str | None
    status: str  # imported | rejected
    reason: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"token_id": self.token_id, "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class ImportProgress:
    processed: int
    total: int
    imported: int
    rejected: int


@dataclass
class ImportReport:
    bank_code: str
    encryption: str = "none"
    imported: int = 0
    rejected: int = 0
    #: One result per key, in document order.
    keys: list[KeyResult] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)

    def record(self, result: KeyResult, index: int | None = None) -> None:
        if index is None:
            self.keys.append(result)
        else:
            self.keys[index] = result
        if result.status == "imported":
            self.imported += 1
        elif result.status == "rejected":
            self.rejected += 1
            self.reasons[result.reason or "malformed"] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "rejected": self.rejected, "keys": [k.as_dict() for k in self.keys]}


Source = bytes | str | os.PathLike[str]


def import_pskc(
    svc: Services,
    bank_code: str,
    source: Source,
    password: str | None = None,
    key: str | bytes | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    client: Client = OPERATOR,
    *,
    now: dt.datetime | None = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    batch_size: int = BATCH,
) -> ImportReport:
    """Import every key of a PSKC document (bytes, or a path) as an available credential of the bank.

    `password` (PBKDF2) or `key` (pre-shared, hex or raw bytes) decrypts encrypted secrets. Raises
    DocumentRefused when the document itself is unacceptable (nothing is imported then), InvalidInput
    for a malformed `key`; a key that cannot be imported is reported in the result with its reason.
    """
    now = now or utcnow()
    preshared = _preshared(key)
    if password is not None and preshared is not None:
        raise InvalidInput("password", "give a password or a key, not both")
    with svc.db.reading() as session:
        bank_id = load_bank(session, bank_code).id
    report = ImportReport(bank_code, encryption="pbkdf2" if password else "preshared" if preshared else "none")
    total = 0
    try:
        total = _check_document(source, max_bytes)
        writer = _Writer(svc, bank_id, now)
        for result, row in _read_keys(source, max_bytes, password, preshared, now):
            if row is None:
                report.record(result)
                continue
            writer.add(len(report.keys), result.token_id, row)  # type: ignore[arg-type]
            report.keys.append(result)
            if writer.pending >= batch_size:
                _settle(report, writer)
                _tell(progress, report, total)
        _settle(report, writer)
    except DocumentRefused as refused:
        _audit(svc, client, bank_code, now, "refused", {"reason": refused.reason})
        raise
    _tell(progress, report, total)
    _audit(svc, client, bank_code, now, "ok", {
        "format": "pskc", "encryption": report.encryption, "imported": report.imported,
        "rejected": report.rejected, "reasons": dict(sorted(report.reasons.items())),
    })
    return report


def _settle(report: ImportReport, writer: _Writer) -> None:
    for index, result in writer.flush():
        report.record(result, index)


def _tell(progress: Callable[[ImportProgress], None] | None, report: ImportReport, total: int) -> None:
    if progress is not None:
        done = report.imported + report.rejected
        progress(ImportProgress(done, max(total, done), report.imported, report.rejected))


def _audit(svc: Services, client: Client, bank_code: str, now: dt.datetime, result: str,
           detail: dict[str, Any]) -> None:
    with svc.db.transaction() as session:
        audit.append(session, event="credential.import", result=result, now=now, actor=client.actor,
                     bank_code=bank_code, ip=client.ip, user_agent=client.user_agent, detail=detail)


def _preshared(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        raw = key
    else:
        try:
            raw = binascii.unhexlify(re.sub(r"\s+", "", key))
        except (binascii.Error, ValueError):
            raise InvalidInput("key", "hex") from None
    if raw is not None and len(raw) not in (16, 24, 32):
        raise InvalidInput("key", "an AES key is 16, 24 or 32 bytes")
    return raw


# --- reading the document safely ----------------------------------------------------------------------
class _Limited(io.RawIOBase):
    """A byte stream that refuses to deliver more than `limit` bytes."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self.raw, self.limit, self.seen = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.seen += len(data)
        if self.seen > self.limit:
            raise DocumentRefused("too_large", f"the document is larger than {self.limit} bytes")
        buffer[: len(data)] = data
        return len(data)


def _open(source: Source, limit: int) -> IO[bytes]:
    if isinstance(source, bytes):
        size, raw = len(source), io.BytesIO(source)
    else:
        path = Path(source)
        size, raw = path.stat().st_size, path.open("rb")
    if size > limit:
        raw.close()
        raise DocumentRefused("too_large", f"the document is larger than {limit} bytes")
    return io.BufferedReader(_Limited(raw, limit), 65536)  # type: ignore[arg-type]


def _refusal(error: Exception) -> DocumentRefused:
    if isinstance(error, DocumentRefused):
        return error
    if isinstance(error, DefusedXmlException):
        return DocumentRefused("forbidden_xml", "DTDs, entities and external references are not accepted")
    return DocumentRefused("malformed_xml", "the document is not well-formed XML")


class _Shape:
    """First pass: the tree's shape only (no elements are built): root element and key package count."""

    def __init__(self) -> None:
        self.depth, self.root, self.version, self.packages = 0, None, None, 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        local = tag.rpartition("}")[2]
        if self.depth == 1:
            self.root, self.version = local, attrs.get("Version") or attrs.get("version")
        elif self.depth == 2 and local in PACKAGES:
            self.packages += 1

    def end(self, tag: str) -> None:
        self.depth -= 1

    def close(self) -> None:
        return None


def _check_document(source: Source, limit: int) -> int:
    """Well-formed, no DTD, a PSKC 1.0 KeyContainer: returns how many key packages it holds."""
    shape = _Shape()
    parser = DefusedXMLParser(target=shape, forbid_dtd=True)
    try:
        with _open(source, limit) as stream:
            while chunk := stream.read(1 << 20):
                parser.feed(chunk)
            parser.close()
    except (DocumentRefused, DefusedXmlException, SyntaxError) as error:  # ParseError is a SyntaxError
        raise _refusal(error) from None
    if shape.root not in ("KeyContainer", "SecretContainer"):
        raise DocumentRefused("not_pskc", "the document is not a PSKC KeyContainer")
    if shape.version not in (None, "1", "1.0"):
        raise DocumentRefused("unsupported_version", f"PSKC version {shape.version!r}")
    return shape.packages


def _elements(source: Source, limit: int) -> Iterator[Any]:
    """Second pass: each child of the container, namespaces removed, dropped from the tree once read."""
    root = None
    depth = 0
    try:
        with _open(source, limit) as stream:
            for event, element in iterparse(stream, events=("start", "end"), forbid_dtd=True):
                if event == "start":
                    depth += 1
                    root = root if root is not None else element
                    continue
                depth -= 1
                if depth == 1:
                    remove_namespaces(element)
                    yield element
                    assert root is not None
                    root.remove(element)
    except (DocumentRefused, DefusedXmlException, SyntaxError) as error:
        raise _refusal(error) from None


# --- turning key packages into credentials ----------------------------------------------------------------
Row = dict[str, Any]


def _read_keys(source: Source, limit: int, password: str | None, preshared: bytes | None,
               now: dt.datetime) -> Iterator[tuple[KeyResult, Row | None]]:
    """Each key of the document: a rejection, or a pending result with the credential's values."""
    container = PSKC()
    crypto: _Crypto | None = None
    for element in _elements(source, limit):
        tag = element.tag
        try:
            if tag in ("EncryptionKey", "EncryptionMethod"):
                PSKCParser.parse_encryption(container.encryption, element)
            elif tag in ("MACMethod", "DigestMethod"):
                PSKCParser.parse_mac_method(container.mac, element)
            elif tag == "MACAlgorithm" and element.text:
                container.mac.algorithm = element.text.strip()
        except (PSKCError, ValueError, TypeError, binascii.Error):
            raise DocumentRefused("malformed", f"the document's {tag} cannot be read") from None
        if tag not in PACKAGES:
            continue
        if crypto is None:
            crypto = _Crypto(container, password, preshared)
        device = Device(container)
        try:
            PSKCParser.parse_key_package(device, element)
        except Exception:  # python-pskc decodes values while parsing: any garbage surfaces here
            rejected = KeyResult(_raw_serial(element), "rejected", "malformed")
            for _ in range(max(1, len(element.findall("Key")))):
                yield rejected, None
            continue
        for pskc_key in device.keys:
            yield _one(pskc_key, crypto, now)


def _raw_serial(element: Any) -> str | None:
    key = element.find("Key")
    serial = element.findtext("DeviceInfo/SerialNo") or (key.get("Id") if key is not None else None)
    return serial.strip()[:64] if serial else None


class _Crypto:
    """The document's transport encryption, set up once: derived or given key, the MAC key decrypted."""

    def __init__(self, container: PSKC, password: str | None, preshared: bytes | None) -> None:
        self.container = container
        self.failure: str | None = None
        encryption = container.encryption
        derivation = encryption.derivation
        try:
            if password is not None and derivation.algorithm:
                if (derivation.pbkdf2_iterations or 0) > MAX_PBKDF2_ITERATIONS:
                    raise DocumentRefused("unsupported_encryption", "too many PBKDF2 iterations")
                encryption.derive_key(password)
            elif preshared is not None:
                encryption.key = preshared
            if encryption.key is not None and container.mac.algorithm:
                container.mac.key = container.mac.key  # decrypt the MAC key once, not for every value
        except PSKCError:
            self.failure = "decryption_failed"
            encryption.key = None

    def value(self, pskc_key: Key, name: str) -> Any:
        """A plain or decrypted field of the key; raises _Rejected with the reason it cannot be had."""
        stored = getattr(pskc_key, "_" + name, None)
        if not isinstance(stored, EncryptedValue):
            return stored
        algorithm = stored.algorithm or self.container.encryption.algorithm
        if not algorithm or not SYMMETRIC.search(algorithm):
            raise _Rejected("unsupported_encryption")
        if self.failure or self.container.encryption.key is None:
            raise _Rejected("decryption_failed")
        if algorithm.endswith("-cbc") and not stored.mac_value:
            raise _Rejected("mac_mismatch")  # CBC has no integrity of its own: RFC 6030 §6.1.1 wants a MAC
        try:
            return getattr(pskc_key, name)
        except PSKCError as error:
            raise _Rejected("mac_mismatch" if "MAC" in str(error) else "decryption_failed") from None


def _one(pskc_key: Key, crypto: _Crypto, now: dt.datetime) -> tuple[KeyResult, Row | None]:
    raw_id = pskc_key.serial or pskc_key.id
    try:
        token_id = normalise_token_id(raw_id)
    except InvalidInput:
        return KeyResult(raw_id.strip()[:64] if raw_id else None, "rejected", "malformed_token_id"), None
    try:
        return KeyResult(token_id, "pending"), _credential(pskc_key, crypto, now)
    except _Rejected as rejected:
        return KeyResult(token_id, "rejected", rejected.reason), None
    except Exception:  # one unreadable key never stops the others: it is reported, not skipped
        return KeyResult(token_id, "rejected", "malformed"), None


def _credential(pskc_key: Key, crypto: _Crypto, now: dt.datetime) -> Row:
    """The credential's values, checked in a fixed order (the first reason that applies is reported)."""
    found = KIND.match((pskc_key.algorithm or "").strip())
    algorithm = _hash(pskc_key.algorithm_suite)
    if not found or algorithm is None or (pskc_key.response_encoding or "DECIMAL").upper() != "DECIMAL" \
            or pskc_key.response_check:
        raise _Rejected("unsupported_algorithm")
    kind = found.group(1).lower()
    digits = pskc_key.response_length or 6
    if digits not in otp_rules.DIGITS:
        raise _Rejected("unsupported_digits")
    _check_policy(pskc_key, now)
    if getattr(pskc_key, "_secret", None) is None:  # python-pskc keeps the value, maybe encrypted, there
        raise _Rejected("no_secret")
    secret = crypto.value(pskc_key, "secret")
    if not isinstance(secret, bytes) or len(secret) > MAX_SECRET_BYTES:
        raise _Rejected("malformed")
    if len(secret) < MIN_SECRET_BYTES:
        raise _Rejected("too_short")
    period, drift, counter = 30, 0, 0
    if kind == "totp":
        period = crypto.value(pskc_key, "time_interval") or 30
        if not 1 <= period <= 120:
            raise _Rejected("unsupported_period")
        drift = crypto.value(pskc_key, "time_drift") or 0
        if abs(drift) > otp_rules.OUT_OF_SYNC_STEPS:
            raise _Rejected("unsupported_drift")
    else:
        counter = crypto.value(pskc_key, "counter") or 0
        if not 0 <= counter < 2**62:
            raise _Rejected("malformed")
    return {
        "kind": kind, "algorithm": algorithm, "digits": digits, "period": period, "counter": counter,
        "drift": drift, "expires_at": _aware(pskc_key.policy.expiry_date or pskc_key.expiry_date), "secret": secret,
    }


def _hash(suite: str | None) -> str | None:
    if not suite:
        return "SHA1"
    name = re.sub(r"^HMAC-?|-", "", suite.strip().upper())
    return name if name in otp_rules.ALGORITHMS else None


def _check_policy(pskc_key: Key, now: dt.datetime) -> None:
    """RFC 6030 §4.3.4: a key with policy elements we cannot honour must not be used."""
    policy = pskc_key.policy
    if policy.unknown_policy_elements or (policy.key_usage and "OTP" not in policy.key_usage) \
            or policy.number_of_transactions is not None \
            or (policy.pin_usage or "Local") != "Local":
        raise _Rejected("unsupported_policy")
    expiry = _aware(policy.expiry_date or pskc_key.expiry_date)
    start = _aware(policy.start_date or pskc_key.start_date)
    if expiry is not None and expiry <= now:
        raise _Rejected("expired")
    if start is not None and start > now:
        raise _Rejected("not_yet_valid")


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class _Writer:
    """Accepted keys, sealed and inserted a batch at a time, each batch its own transaction."""

    def __init__(self, svc: Services, bank_id: int, now: dt.datetime) -> None:
        self.svc, self.bank_id, self.now = svc, bank_id, now
        self.rows: dict[str, tuple[int, Row]] = {}
        self.twice: list[tuple[int, str]] = []  # a token ID seen again within this batch

    @property
    def pending(self) -> int:
        return len(self.rows) + len(self.twice)

    def add(self, index: int, token_id: str, values: Row) -> None:
        if token_id in self.rows:
            self.twice.append((index, token_id))
            return
        secret = values.pop("secret")
        key_id, sealed = self.svc.sealer.seal(secret, aad=token_id.encode())
        self.rows[token_id] = (index, {
            **values, "credential_id": token_id, "bank_id": self.bank_id, "sealed_secret": sealed,
            "seal_key_id": key_id, "state": "available", "failure_count": 0, "source": "pskc",
            "created_at": self.now,
        })

    def flush(self) -> list[tuple[int, KeyResult]]:
        """Insert the batch; a token ID already taken (before, or by a concurrent import) is a duplicate."""
        results = [(index, KeyResult(token_id, "rejected", "duplicate")) for index, token_id in self.twice]
        rows, self.rows, self.twice = self.rows, {}, []
        table = Credential.__table__
        for attempt in range(3):
            with self.svc.db.transaction() as session:
                taken = set(session.scalars(select(table.c.credential_id).where(table.c.credential_id.in_(rows))))
                fresh = [row for token_id, (_, row) in rows.items() if token_id not in taken]
                try:
                    with session.begin_nested():
                        if fresh:
                            session.execute(insert(table), fresh)
                except IntegrityError:  # a concurrent import took one of them after the look-up
                    if attempt == 2:
                        raise
                    continue
            break
        for token_id, (index, _) in rows.items():
            reason = "duplicate" if token_id in taken else None
            results.append((index, KeyResult(token_id, "rejected" if reason else "imported", reason)))
        return results
