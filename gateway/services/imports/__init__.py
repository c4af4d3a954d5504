"""PSKC (RFC 6030) import: hardware and third-party token seeds into a bank's registry.

`import_pskc` reads the document safely (see `document`), turns each key into a credential or a reason
(see `keys`, and `quick` for the common plain package), seals the secrets and inserts the keys a batch at a
time, each batch its own transaction, so memory stays bounded whatever the file's size (beyond the per-key
report, a few dozen bytes a key). Every key is reported: imported, or rejected with a reason from
`REASONS` — never skipped in silence. One audit event per import carries the counts.
"""

from __future__ import annotations

import binascii
import contextlib
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ...domain.errors import InvalidInput
from ...storage import audit
from ...storage.models import Bank, Credential
from .. import OPERATOR, Client, Services, utcnow
from ..banks import load_bank
from .document import PACKAGES, DocumentRefused, Shape, Source, check_document, children
from .keys import REASONS, Container, Rejected, Row, check_prefix, credential_values, raw_id, token_id_of

__all__ = ["REASONS", "DocumentRefused", "ImportProgress", "ImportReport", "KeyResult", "Source", "import_pskc"]

#: Larger documents are refused before parsing (the command line may pass a larger `max_bytes`).
MAX_DOCUMENT_BYTES = 128 * 1024 * 1024
BATCH = 1000


@dataclass(frozen=True, slots=True)
class KeyResult:
    """One key of the document: its token ID (as written, when it is not a valid one) and what became of it."""

    token_id: str | None
    status: str  # imported | rejected
    reason: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"token_id": self.token_id, "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class ImportProgress:
    """How far an import has come: keys reported so far, of about `total` (the document's key packages)."""

    processed: int
    total: int
    imported: int
    rejected: int


@dataclass
class ImportReport:
    """The outcome of one import: counts, and one result per key in document order."""

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
        else:
            self.rejected += 1
            self.reasons[result.reason or "malformed"] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "rejected": self.rejected, "keys": [k.as_dict() for k in self.keys]}


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
    """Import every key of a PSKC document as an available credential of the bank.

    `source` is the document's bytes, its text, or a path (`os.PathLike`) of a file. `password` (PBKDF2)
    or `key` (pre-shared AES key, hex or raw bytes) decrypts encrypted secrets. Raises DocumentRefused
    when the document itself is unacceptable (then nothing is imported), InvalidInput for a malformed
    `key`, UnknownBank. `progress` is called once the document is checked, after every batch, and at the end.
    """
    now = now or utcnow()
    preshared = _preshared(key)
    if password is not None and preshared is not None:
        raise InvalidInput("password", "give a password or a key, not both")
    if password == "":
        raise InvalidInput("password", "empty")
    with svc.db.reading() as session:
        bank = load_bank(session, bank_code)
        bank_id = bank.id
        # Other banks' prefixes, minus this bank's own (two banks may share one).
        foreign = frozenset(session.scalars(select(Bank.token_prefix).where(Bank.id != bank.id))) - {bank.token_prefix}
    report = ImportReport(bank_code, encryption="pbkdf2" if password else "preshared" if preshared else "none")
    shape: Shape | None = None
    try:
        shape = check_document(source, max_bytes)
        if progress is not None:  # the document is sound and its size known: the reading starts
            progress(ImportProgress(0, shape.packages, 0, 0))
        writer = _Writer(svc, bank_id, now)
        told = 0
        for result, row in _results(source, max_bytes, Container(password, preshared), now, foreign):
            if row is None:
                report.record(result)
            else:
                writer.add(len(report.keys), result.token_id or "", row)
                report.keys.append(result)
            if writer.pending >= batch_size or len(report.keys) - told >= batch_size:
                _flush(report, writer, progress, shape.packages)
                told = len(report.keys)
        _flush(report, writer, progress, shape.packages)
    except DocumentRefused as refused:
        _audit(svc, client, bank_code, now, "refused", {"format": "pskc", "reason": refused.reason})
        raise
    except Exception:
        # Whatever stopped the import (the database, say), the keys written so far are on record.
        with contextlib.suppress(Exception):
            _audit(svc, client, bank_code, now, "failed", _summary(report, shape))
        raise
    _audit(svc, client, bank_code, now, "ok", _summary(report, shape))
    return report


def _summary(report: ImportReport, shape: Shape | None) -> dict[str, Any]:
    """The audit detail: counts and reasons, the document's SHA-256; never a secret."""
    detail: dict[str, Any] = {
        "format": "pskc", "encryption": report.encryption, "imported": report.imported,
        "rejected": report.rejected, "reasons": dict(sorted(report.reasons.items())),
    }
    if shape is not None:
        # A signature is not checked (the gateway holds no vendors' certificates): say it was there.
        detail.update(sha256=shape.sha256, signed=shape.signed)
    return detail


def _results(source: Source, limit: int, container: Container, now: dt.datetime,
             foreign_prefixes: frozenset[str] = frozenset()) -> Iterator[tuple[KeyResult, Row | None]]:
    """Each key in document order: a rejection, or a pending result with the credential's values."""
    for element in children(source, limit):
        if element.tag not in PACKAGES:
            container.read(element)
            continue
        for key in container.keys(element):
            if key is None:
                yield KeyResult(raw_id(None, element), "rejected", "malformed"), None
                continue
            token_id = None
            try:
                token_id = token_id_of(key)
                check_prefix(token_id, foreign_prefixes)
                values = credential_values(key, container, now)
            except Rejected as rejected:
                yield KeyResult(token_id or raw_id(key, element), "rejected", rejected.reason), None
                continue
            except Exception:  # one unreadable key never stops the others: it is reported, not skipped
                yield KeyResult(token_id or raw_id(key, element), "rejected", "malformed"), None
                continue
            yield KeyResult(token_id, "pending"), values


def _flush(report: ImportReport, writer: _Writer, progress: Callable[[ImportProgress], None] | None,
            total: int) -> None:
    for index, result in writer.flush():
        report.record(result, index)
    if progress is not None:
        done = len(report.keys)
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
        """Insert the batch. A token ID this bank already has (earlier, or by a concurrent import) is a
        duplicate; an earlier batch of this file counts as earlier. Another bank's token IDs are not looked
        at: an ID it holds imports as a free one, so the answer says nothing about other banks."""
        results = [(index, KeyResult(token_id, "rejected", "duplicate")) for index, token_id in self.twice]
        rows, self.rows, self.twice = self.rows, {}, []
        if not rows:
            return results
        table = Credential.__table__
        taken: set[str] = set()
        for attempt in range(3):
            with self.svc.db.transaction() as session:
                # By token ID alone, the unique index's leading column, and this bank's kept here: with the
                # bank in the WHERE, PostgreSQL's planner (its statistics still those of a small table) may walk
                # the bank's whole index for every batch instead.
                taken = {token_id for token_id, bank_id in session.execute(
                    select(table.c.credential_id, table.c.bank_id).where(table.c.credential_id.in_(rows)))
                         if bank_id == self.bank_id}
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
            results.append((index, KeyResult(token_id, "rejected", "duplicate") if token_id in taken
                            else KeyResult(token_id, "imported")))
        return results
