"""PSKC (RFC 6030) import: every shared vector file with its per-key outcome, codes of the imported keys,
duplicates, MACs, hostile XML (billion laughs, XXE, oversized, truncated), the audit event, sealing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pyotp
import pytest
import time_machine
from pskc import PSKC
from pskc.device import Device
from pskc.parser import PSKCParser
from sqlalchemy import func, select

from gateway.domain.errors import InvalidInput, OutOfSync, ReplayedCode, TokenRevoked, UnknownBank
from gateway.services import credentials as cs
from gateway.services.imports import REASONS, DocumentRefused, ImportProgress, import_pskc
from gateway.services.imports import document as pskc_document
from gateway.services.imports.quick import read_plain_package
from gateway.storage.models import Credential
from tests.conftest import VECTORS
from tests.services.conftest import CLIENT, credential_row, detail, page_verify

pytestmark = pytest.mark.db

PSKC_FILES = VECTORS / "pskc"
#: The pre-shared key of RFC 6030 figure 6 (and of multiOTP's AES examples) and figure 7's password.
AES_KEY = "12345678901234567890123456789012"
PASSWORD = "qwerty"
RFC_SECRET = b"12345678901234567890"
NS = "urn:ietf:params:xml:ns:keyprov:pskc"

#: file → (what decrypts it, [(token ID, reason or None when imported), …] in document order)
EXPECTED: dict[str, tuple[dict[str, str], list[tuple[str, str | None]]]] = {
    "rfc6030-figure2.pskcxml": ({}, [("12345678", "too_short")]),  # a 4-byte secret, no serial: the key Id
    "rfc6030-figure3.pskcxml": ({}, [("987654321", None)]),
    "rfc6030-figure4.pskcxml": ({}, [("987654321", "no_secret")]),  # derived from a master key out of band
    # The HOTP key's PIN is checked on the device (PINUsageMode Local); the PIN itself is no OTP key.
    "rfc6030-figure5.pskcxml": ({}, [("987654321", None), ("987654321", "unsupported_algorithm")]),
    "rfc6030-figure6.pskcxml": ({"key": AES_KEY}, [("987654321", None)]),
    "rfc6030-figure7.pskcxml": ({"password": PASSWORD}, [("987654321", None)]),
    "rfc6030-figure8.pskcxml": ({}, [("987654321", "unsupported_encryption")]),  # RSA key transport
    "rfc6030-figure9.pskcxml": ({}, [("0755225266", None)]),  # signed; the signature is not checked
    "rfc6030-figure10.pskcxml": ({}, [("654321", "expired"), ("123456", "expired"), ("9999999", "expired"),
                                      ("9999999", "expired")]),
    "draft-hoyer-algorithm-profiles-01-totp.pskcxml": ({}, [("987654323", None)]),
    "multiotp-pskc-totp-aes.pskcxml": ({"key": AES_KEY}, [("ZZ1000000000", None), ("ZZ1100000000", None),
                                                          ("ZZ1000000001", None), ("ZZ1100000001", None)]),
    "multiotp-pskc-totp-pbe.pskcxml": ({"password": PASSWORD}, [("ZZ1000000002", None)]),
    "multiotp-tokens_totp_aes.pskcxml": ({"key": AES_KEY}, [("ZZ8000000001", None), ("ZZ8000000002", None)]),
}
ENCRYPTED = sorted(name for name, (secrets, _) in EXPECTED.items() if secrets)

#: token ID → (kind, algorithm, digits, period, drift, secret) of every key the vector files import.
IMPORTED = {
    "987654321": ("hotp", "SHA1", 8, 30, 0, RFC_SECRET),
    "0755225266": ("hotp", "SHA1", 6, 30, 0, RFC_SECRET),
    "987654323": ("totp", "SHA1", 6, 30, 4, RFC_SECRET),  # TimeDrift 4: the token runs four steps ahead
    "ZZ1000000000": ("totp", "SHA1", 6, 30, 0, b"12345678901234567890"),
    "ZZ1100000000": ("totp", "SHA1", 8, 30, 0, b"12345678901234567891"),
    "ZZ1000000001": ("totp", "SHA256", 6, 30, 0, b"12345678901234567890123456789012"),
    "ZZ1100000001": ("totp", "SHA256", 8, 30, 0, b"12345678901234567890123456789013"),
    "ZZ8000000001": ("totp", "SHA256", 8, 30, 0, bytes.fromhex(
        "38c2506a8e0708a5e929c2686b827e0ba7ae28c9de3c83e6d27308345981a3de")),
    "ZZ8000000002": ("totp", "SHA512", 8, 30, 0, bytes.fromhex(
        "e232f74b79922de8bd49564beb4b4ddfe3e5dd929663bdd81688e1fb67e372d5"
        "bc7dfd73e0f494aa5d13fcae23b8d3c0b921ba817b337609644466788a9b1443")),
    "ZZ1000000002": ("totp", "SHA1", 6, 30, 0, b"01234567890123456789"),
}


def outcomes(report) -> list[tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    return [(key.token_id, key.reason) for key in report.keys]


def credential_count(svc) -> int:  # type: ignore[no-untyped-def]
    with svc.db.reading() as session:
        return session.scalar(select(func.count()).select_from(Credential))


def package(serial: str, secret: bytes = RFC_SECRET, *, kind: str = "totp", digits: int = 6, period: int = 30,
            suite: str | None = None, key_id: str | None = None, data: str | None = None,
            key_extra: str = "", algorithm: str | None = None) -> str:
    """One key package in RFC 6030's shape."""
    suite_xml = f"<Suite>{suite}</Suite>" if suite else ""
    data = data if data is not None else (
        f"<Secret><PlainValue>{base64.b64encode(secret).decode()}</PlainValue></Secret>"
        + (f"<TimeInterval><PlainValue>{period}</PlainValue></TimeInterval>" if kind == "totp"
           else "<Counter><PlainValue>0</PlainValue></Counter>"))
    return (
        f"<KeyPackage><DeviceInfo><Manufacturer>Test</Manufacturer><SerialNo>{serial}</SerialNo></DeviceInfo>"
        f'<Key Id="{key_id or serial}" Algorithm="{algorithm or f"{NS}:{kind}"}">'
        f'<AlgorithmParameters>{suite_xml}<ResponseFormat Length="{digits}" Encoding="DECIMAL"/>'
        f"</AlgorithmParameters><Data>{data}</Data>{key_extra}</Key></KeyPackage>\n"
    )


def container(*packages: str, head: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{head}<KeyContainer Version="1.0" xmlns="{NS}">\n'
            + "".join(packages) + "</KeyContainer>\n").encode()


def plain_keys(count: int, prefix: str = "BULK") -> bytes:
    return container(*(package(f"{prefix}{i:08d}", hashlib.sha1(str(i).encode()).digest()) for i in range(count)))


# --- every shared vector file ------------------------------------------------------------------------
def test_every_vector_file_has_an_expected_outcome() -> None:
    assert sorted(path.name for path in PSKC_FILES.glob("*.pskcxml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vector_file_imports_with_its_expected_per_key_outcome(svc, bank, name, audit_rows) -> None:
    secrets, expected = EXPECTED[name]
    report = import_pskc(svc, "0001", PSKC_FILES / name, **secrets)
    assert outcomes(report) == expected
    assert all((key.status == "imported") == (key.reason is None) for key in report.keys)
    assert report.imported == sum(reason is None for _, reason in expected)
    assert report.rejected == len(expected) - report.imported
    assert report.as_dict() == {"imported": report.imported, "rejected": report.rejected, "keys": [
        {"token_id": token_id, "status": "rejected" if reason else "imported", "reason": reason}
        for token_id, reason in expected]}
    for token_id, reason in expected:
        if reason is None:
            row = credential_row(svc, token_id)
            kind, algorithm, digits, period, drift, secret = IMPORTED[token_id]
            assert (row.kind, row.algorithm, row.digits, row.period, row.drift) == (
                kind, algorithm, digits, period, drift)
            assert (row.state, row.source, row.customer_id, row.counter) == ("available", "pskc", None, 0)
            assert svc.sealer.unseal(row.seal_key_id, row.sealed_secret, aad=token_id.encode()) == secret
    (event,) = audit_rows("credential.import")
    assert event.result == "ok" and event.bank_code == "0001" and event.actor == "operator"
    assert detail(event)["imported"] == report.imported and detail(event)["rejected"] == report.rejected
    assert detail(event)["sha256"] == hashlib.sha256((PSKC_FILES / name).read_bytes()).hexdigest()
    assert detail(event)["signed"] is (name == "rfc6030-figure9.pskcxml")


@pytest.mark.parametrize("name", ENCRYPTED)
def test_encrypted_file_without_its_key_or_password_rejects_every_key(svc, bank, name) -> None:
    report = import_pskc(svc, "0001", PSKC_FILES / name)
    assert {key.reason for key in report.keys} == {"decryption_failed"} and report.imported == 0
    assert credential_count(svc) == 0


@pytest.mark.parametrize(("name", "secrets"), [
    ("rfc6030-figure6.pskcxml", {"key": "00" * 16}),
    ("rfc6030-figure6.pskcxml", {"password": PASSWORD}),
    ("rfc6030-figure7.pskcxml", {"password": "qwertz"}),
    ("rfc6030-figure7.pskcxml", {"key": AES_KEY}),
    ("multiotp-pskc-totp-aes.pskcxml", {"key": "11" * 16}),
])
def test_wrong_key_or_password_rejects_every_key(svc, bank, name, secrets) -> None:
    report = import_pskc(svc, "0001", PSKC_FILES / name, **secrets)
    assert report.imported == 0 and {key.reason for key in report.keys} <= {"decryption_failed", "mac_mismatch"}
    assert credential_count(svc) == 0


# --- the imported keys make codes the registry accepts -----------------------------------------------
FROZEN = dt.datetime(2009, 2, 13, 23, 31, 30, tzinfo=dt.UTC)  # t = 1234567890, as in RFC 6238 appendix B


def totp_code(token_id: str, at: dt.datetime, steps: int = 0) -> str:
    _, algorithm, digits, period, _, secret = IMPORTED[token_id]
    totp = pyotp.TOTP(base64.b32encode(secret).decode(), digits=digits, digest=algorithm.lower(), interval=period)
    return totp.at(int(at.timestamp()) + steps * period)


def test_rfc6238_vector_through_an_imported_key(svc, bank, make_customer) -> None:
    make_customer()
    import_pskc(svc, "0001", PSKC_FILES / "multiotp-pskc-totp-aes.pskcxml", key=AES_KEY)
    # RFC 6238 appendix B, SHA256 seed, t = 1234567890 → 91819424; this key makes 6 digits: 819424
    with time_machine.travel(FROZEN, tick=False):
        view = cs.register(svc, "0001", "1000000001", "ZZ1000000001", "819424", CLIENT)
    assert view.state == "active"


@pytest.mark.parametrize(("name", "secrets"), [(name, s) for name, (s, keys) in EXPECTED.items()
                                               if any(reason is None for _, reason in keys)])
def test_imported_keys_verify_codes_with_a_frozen_clock(svc, bank, make_customer, name, secrets) -> None:
    report = import_pskc(svc, "0001", PSKC_FILES / name, **secrets)
    imported = {f"20000000{n:02d}": key.token_id for n, key in enumerate(report.keys) if key.status == "imported"}
    assert imported
    with time_machine.travel(FROZEN, tick=False) as traveller:
        for contract_id, token_id in imported.items():
            make_customer(contract_id=contract_id)
            kind, _, digits, _, drift, secret = IMPORTED[token_id]
            if kind == "hotp":  # RFC 4226 appendix D: counter 0 binds, counter 1 verifies, 0 again is a replay
                codes = [pyotp.HOTP(base64.b32encode(secret).decode(), digits=digits).at(n) for n in range(2)]
                assert codes[0] == ("84755224" if digits == 8 else "755224")
                cs.register(svc, "0001", contract_id, token_id, codes[0], CLIENT)
                assert page_verify(svc, "0001", contract_id, codes[1], CLIENT).step == 1
                with pytest.raises(ReplayedCode):
                    page_verify(svc, "0001", contract_id, codes[0], CLIENT)
            else:
                cs.register(svc, "0001", contract_id, token_id, totp_code(token_id, FROZEN, drift), CLIENT)
        traveller.shift(dt.timedelta(seconds=30))
        later = FROZEN + dt.timedelta(seconds=30)
        for contract_id, token_id in imported.items():
            if IMPORTED[token_id][0] == "totp":
                code = totp_code(token_id, later, IMPORTED[token_id][4])
                assert page_verify(svc, "0001", contract_id, code, CLIENT).credential_id == token_id
                with pytest.raises(ReplayedCode):
                    page_verify(svc, "0001", contract_id, code, CLIENT)


def test_time_drift_from_the_file_centres_the_window(svc, bank, make_customer) -> None:
    make_customer()
    import_pskc(svc, "0001", PSKC_FILES / "draft-hoyer-algorithm-profiles-01-totp.pskcxml")
    with time_machine.travel(FROZEN, tick=False) as traveller:
        with pytest.raises(OutOfSync):  # the server's own step: four steps behind what the token shows
            cs.register(svc, "0001", "1000000001", "987654323", totp_code("987654323", FROZEN), CLIENT)
        traveller.shift(dt.timedelta(seconds=2))  # past the wait a wrong code earns, within the same step
        view = cs.register(svc, "0001", "1000000001", "987654323", totp_code("987654323", FROZEN, 4), CLIENT)
    assert view.state == "active"


def test_sixty_second_keys_and_sha512(svc, bank, make_customer) -> None:
    make_customer()
    secret = hashlib.sha512(b"sixty").digest()
    document = container(package("SIXTY0001", secret, digits=8, period=60, suite="HMAC-SHA512"))
    assert outcomes(import_pskc(svc, "0001", document)) == [("SIXTY0001", None)]
    row = credential_row(svc, "SIXTY0001")
    assert (row.period, row.digits, row.algorithm) == (60, 8, "SHA512")
    totp = pyotp.TOTP(base64.b32encode(secret).decode(), digits=8, digest="sha512", interval=60)
    with time_machine.travel(FROZEN, tick=False):
        cs.register(svc, "0001", "1000000001", "SIXTY0001", totp.at(FROZEN), CLIENT)
    later = FROZEN + dt.timedelta(seconds=60)
    with time_machine.travel(later, tick=False):
        assert page_verify(svc, "0001", "1000000001", totp.at(later), CLIENT).credential_id == "SIXTY0001"


def test_expired_key_imported_before_its_expiry_cannot_be_bound_after_it(svc, bank, make_customer) -> None:
    make_customer()
    policy = "<Policy><ExpiryDate>2030-01-01T00:00:00Z</ExpiryDate></Policy>"
    document = container(package("EXPIRES01", key_extra=policy))
    import_pskc(svc, "0001", document, now=dt.datetime(2029, 1, 1, tzinfo=dt.UTC))
    assert credential_row(svc, "EXPIRES01").expires_at == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    at = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    totp = pyotp.TOTP(base64.b32encode(RFC_SECRET).decode())
    with pytest.raises(TokenRevoked):
        cs.register(svc, "0001", "1000000001", "EXPIRES01", totp.at(at), CLIENT, now=at)


# --- duplicates --------------------------------------------------------------------------------------
def test_reimport_reports_duplicates_and_changes_nothing(svc, bank) -> None:
    first = import_pskc(svc, "0001", PSKC_FILES / "rfc6030-figure3.pskcxml")
    sealed = credential_row(svc, "987654321").sealed_secret
    again = import_pskc(svc, "0001", PSKC_FILES / "rfc6030-figure3.pskcxml")
    assert outcomes(first) == [("987654321", None)] and outcomes(again) == [("987654321", "duplicate")]
    assert credential_row(svc, "987654321").sealed_secret == sealed and credential_count(svc) == 1


def test_another_banks_token_id_imports_as_a_free_one(svc, bank, make_bank) -> None:
    """Token IDs are unique per bank: the answer never tells one bank what another holds."""
    make_bank("0002", "別の信用組合", prefix="OTHR")
    import_pskc(svc, "0002", PSKC_FILES / "rfc6030-figure3.pskcxml")
    assert outcomes(import_pskc(svc, "0001", PSKC_FILES / "rfc6030-figure3.pskcxml")) == [("987654321", None)]
    assert {cs.get_credential(svc, "987654321", bank_code=code).bank_code for code in ("0001", "0002")} == {
        "0001", "0002"}


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_duplicates_within_a_file_in_one_batch_or_across_batches(svc, bank, batch_size) -> None:
    document = container(package("DUP00001"), package("dup-00001"), package("DUP00002"), package("DUP00001"))
    report = import_pskc(svc, "0001", document, batch_size=batch_size)
    assert outcomes(report) == [("DUP00001", None), ("DUP00001", "duplicate"), ("DUP00002", None),
                                ("DUP00001", "duplicate")]
    assert credential_count(svc) == 2


# --- keys that cannot be imported are reported, never skipped ----------------------------------------
def test_unusable_keys_are_reported_with_their_reason(svc, bank) -> None:
    bad_base64 = "<Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA</PlainValue></Secret>"
    bad_counter = (f"<Secret><PlainValue>{base64.b64encode(RFC_SECRET).decode()}</PlainValue></Secret>"
                   "<Counter><PlainValue>x!</PlainValue></Counter>")
    pin = '<Policy><PINPolicy PINUsageMode="Prepend" MinLength="4"/></Policy>'
    document = container(
        package("GOOD0001"),
        package("BADB64X", data=bad_base64),
        package("BADCOUNTER", kind="hotp", data=bad_counter),
        package("SHORT001", b"0123456789abcde"),
        package("MD5KEY", suite="HMAC-MD5"),
        package("OCRA01", algorithm=f"{NS}:OCRA-1:HOTP-SHA1-6:QN08"),
        package("SEVEN01", digits=7),
        package("SLOW0001", period=180),
        package("PREPEND1", key_extra=pin),
        package("LATER001", key_extra="<Policy><StartDate>2999-01-01T00:00:00Z</StartDate></Policy>"),
        package("NOSECRET", data="<TimeInterval><PlainValue>30</PlainValue></TimeInterval>"),
        package("BAD\tSERIAL!", key_id="BADSERIAL"),
        "<KeyPackage><DeviceInfo><SerialNo>NOKEY001</SerialNo></DeviceInfo></KeyPackage>\n",
        package("GOOD0002"),
    )
    report = import_pskc(svc, "0001", document)
    assert outcomes(report) == [
        ("GOOD0001", None), ("BADB64X", "malformed"), ("BADCOUNTER", "malformed"),
        ("SHORT001", "too_short"), ("MD5KEY", "unsupported_algorithm"), ("OCRA01", "unsupported_algorithm"),
        ("SEVEN01", "unsupported_digits"), ("SLOW0001", "unsupported_period"), ("PREPEND1", "unsupported_policy"),
        ("LATER001", "not_yet_valid"), ("NOSECRET", "no_secret"), ("BAD?SERIAL!", "malformed_token_id"),
        ("NOKEY001", "malformed"), ("GOOD0002", None),
    ]
    assert set(REASONS) >= {key.reason for key in report.keys if key.reason}
    assert credential_count(svc) == 2


def test_cbc_value_without_a_mac_is_refused(svc, bank) -> None:
    text = (PSKC_FILES / "rfc6030-figure6.pskcxml").read_text()
    without = re.sub(r"<ValueMAC>.*?</ValueMAC>", "", text, flags=re.S)
    assert outcomes(import_pskc(svc, "0001", without, key=AES_KEY)) == [("987654321", "mac_mismatch")]


@pytest.mark.parametrize("part", ["ValueMAC", "CipherValue"])
def test_tampered_mac_or_secret_is_a_mac_mismatch(svc, bank, part, audit_rows) -> None:
    text = (PSKC_FILES / "rfc6030-figure6.pskcxml").read_text()
    if part == "ValueMAC":
        tampered = text.replace("Su+NvtQfmvfJzF6bmQiJqoLRExc=", "Su+NvtQfmvfJzF7bmQiJqoLRExc=")
    else:  # the secret's ciphertext (the last CipherValue), one block changed
        tampered = text.replace("AAECAwQFBgcICQoLDA0OD+cI", "AAECAwQFBgcICQoLDA0OD+cJ")
    assert tampered != text
    report = import_pskc(svc, "0001", tampered, key=AES_KEY)
    assert outcomes(report) == [("987654321", "mac_mismatch")] and credential_count(svc) == 0
    assert detail(audit_rows("credential.import")[-1])["reasons"] == {"mac_mismatch": 1}


# --- hostile and broken documents --------------------------------------------------------------------
def billion_laughs() -> bytes:
    entities = '<!ENTITY lol0 "lol">\n'
    for i in range(1, 10):
        entities += f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">\n'
    return container(package("LAUGH0001", key_id="&lol9;"), head=f"<!DOCTYPE KeyContainer [\n{entities}]>\n")


def test_billion_laughs_is_refused_before_anything_is_expanded(svc, bank, audit_rows) -> None:
    document = billion_laughs()
    assert b"&lol9;" in document
    with pytest.raises(DocumentRefused) as refused:
        import_pskc(svc, "0001", document)
    assert refused.value.reason == "forbidden_xml" and "lol" not in str(refused.value)
    assert credential_count(svc) == 0
    (event,) = audit_rows("credential.import")
    assert event.result == "refused" and detail(event) == {"format": "pskc", "reason": "forbidden_xml"}


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE KeyContainer [<!ENTITY xxe SYSTEM "file://{path}">]>\n',
    '<!DOCTYPE KeyContainer [<!ENTITY % xxe SYSTEM "file://{path}"> %xxe;]>\n',
    '<!DOCTYPE KeyContainer SYSTEM "file://{path}">\n',
])
def test_xxe_is_refused_and_the_file_never_read(svc, bank, tmp_path, audit_rows, database_url, doctype) -> None:
    canary = "XXE-CANARY-7f3c9a"
    target = tmp_path / "secret.txt"
    target.write_text(canary)
    document = container(package("&xxe;" if "ENTITY xxe" in doctype else "XXE00001", key_id="XXE00001"),
                         head=doctype.format(path=target))
    with pytest.raises(DocumentRefused) as refused:
        import_pskc(svc, "0001", document)
    assert refused.value.reason == "forbidden_xml" and canary not in str(refused.value)
    assert credential_count(svc) == 0
    rows = audit_rows()
    assert rows and all(canary not in json.dumps([r.detail, r.credential_id]) for r in rows)
    if database_url.startswith("sqlite:///"):
        svc.db.dispose()
        for path in Path(database_url.removeprefix("sqlite:///")).parent.glob("gateway.db*"):
            assert canary.encode() not in path.read_bytes()


def test_second_pass_refuses_a_doctype_on_its_own() -> None:
    """Should a file change between the passes, the reading pass stops at its DOCTYPE too."""
    with pytest.raises(DocumentRefused) as refused:
        list(pskc_document.children(billion_laughs(), 1 << 20))
    assert refused.value.reason == "forbidden_xml"


def test_oversized_document_is_refused_unread(svc, bank, tmp_path) -> None:
    document = plain_keys(20)
    path = tmp_path / "big.pskcxml"
    path.write_bytes(document)
    for source in (document, path):
        with pytest.raises(DocumentRefused) as refused:
            import_pskc(svc, "0001", source, max_bytes=len(document) - 1)
        assert refused.value.reason == "too_large"
    assert credential_count(svc) == 0
    assert import_pskc(svc, "0001", path, max_bytes=len(document)).imported == 20


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_document_imports_nothing(svc, bank, audit_rows, cut) -> None:
    document = plain_keys(50)
    with pytest.raises(DocumentRefused) as refused:
        import_pskc(svc, "0001", document[: int(len(document) * cut)], batch_size=5)
    assert refused.value.reason == "malformed_xml" and credential_count(svc) == 0
    assert [e.result for e in audit_rows("credential.import")] == ["refused"]


@pytest.mark.parametrize(("document", "reason"), [
    (b"", "malformed_xml"),
    (b"not xml at all", "malformed_xml"),
    (b'<?xml version="1.0" encoding="x-no-such-encoding"?><KeyContainer/>', "malformed_xml"),
    (b"<html><body>KeyPackage</body></html>", "not_pskc"),
    (f'<KeyContainer xmlns="{NS}" Version="2.0"/>'.encode(), "unsupported_version"),
    (container(package("LATE0001"), '<MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"/>'),
     "malformed"),
])
def test_documents_that_are_not_pskc_are_refused(svc, bank, document, reason) -> None:
    with pytest.raises(DocumentRefused) as refused:
        import_pskc(svc, "0001", document)
    assert refused.value.reason == reason and credential_count(svc) == 0


def test_pbkdf2_parameters_from_the_file_are_bounded(svc, bank) -> None:
    text = (PSKC_FILES / "rfc6030-figure7.pskcxml").read_text()
    for old, new in (("<IterationCount>1000<", "<IterationCount>999999999<"),
                     ("<KeyLength>16<", "<KeyLength>1000000000<")):
        with pytest.raises(DocumentRefused) as refused:
            import_pskc(svc, "0001", text.replace(old, new), password=PASSWORD)
        assert refused.value.reason == "unsupported_encryption"


def test_bad_arguments(svc, bank) -> None:
    document = PSKC_FILES / "rfc6030-figure6.pskcxml"
    for key in ("not hex", "0011", AES_KEY + "00"):
        with pytest.raises(InvalidInput):
            import_pskc(svc, "0001", document, key=key)
    with pytest.raises(InvalidInput):
        import_pskc(svc, "0001", document, key=AES_KEY, password=PASSWORD)
    with pytest.raises(UnknownBank):
        import_pskc(svc, "9999", document)
    assert credential_count(svc) == 0


# --- what the import leaves behind -------------------------------------------------------------------
def test_one_audit_event_per_import_with_counts_and_no_secret(svc, bank, audit_rows) -> None:
    before = len(audit_rows())
    import_pskc(svc, "0001", PSKC_FILES / "rfc6030-figure5.pskcxml")
    import_pskc(svc, "0001", PSKC_FILES / "rfc6030-figure6.pskcxml", key=AES_KEY)
    events = audit_rows("credential.import")
    assert len(events) == 2 and len(audit_rows()) == before + 2
    assert detail(events[0]) | {"sha256": ""} == {
        "format": "pskc", "encryption": "none", "imported": 1, "rejected": 1,
        "reasons": {"unsupported_algorithm": 1}, "sha256": "", "signed": False}
    assert detail(events[1])["encryption"] == "preshared"
    assert detail(events[1])["reasons"] == {"duplicate": 1}
    text = json.dumps([[e.detail, e.credential_id, e.contract_id] for e in audit_rows()])
    for secret in (RFC_SECRET, b"1234"):
        for form in (secret.decode(), base64.b64encode(secret).decode(), secret.hex()):
            assert form not in text
    assert AES_KEY not in text


def test_secrets_are_sealed_at_rest(svc, bank, database_url) -> None:
    import_pskc(svc, "0001", PSKC_FILES / "multiotp-pskc-totp-aes.pskcxml", key=AES_KEY)
    with svc.db.reading() as session:
        rows = list(session.scalars(select(Credential)))
    assert len(rows) == 4
    for row in rows:
        secret = IMPORTED[row.credential_id][5]
        assert secret not in row.sealed_secret and base64.b64encode(secret) not in row.sealed_secret
        assert svc.sealer.unseal(row.seal_key_id, row.sealed_secret, aad=row.credential_id.encode()) == secret
    if database_url.startswith("sqlite:///"):
        svc.db.dispose()
        stored = b"".join(path.read_bytes()
                          for path in Path(database_url.removeprefix("sqlite:///")).parent.glob("gateway.db*"))
        for row in rows:
            secret = IMPORTED[row.credential_id][5]
            assert secret not in stored and base64.b64encode(secret) not in stored
            assert secret.hex().encode() not in stored


def test_progress_is_told_per_batch_and_at_the_end(svc, bank) -> None:
    seen: list[ImportProgress] = []
    document = container(*(package(f"PROG{i:04d}") for i in range(7)), package("SHORT", b"x"),
                         *(package(f"PROG{i:04d}") for i in range(7, 12)))
    report = import_pskc(svc, "0001", document, progress=seen.append, batch_size=5)
    assert [p.processed for p in seen] == [0, 5, 10, 13] and {p.total for p in seen} == {13}
    assert (seen[-1].imported, seen[-1].rejected) == (report.imported, report.rejected) == (12, 1)


def test_rejected_keys_alone_still_tell_progress(svc, bank) -> None:
    seen: list[ImportProgress] = []
    import_pskc(svc, "0001", container(*(package(f"TINY{i:04d}", b"x") for i in range(6))),
                progress=seen.append, batch_size=2)
    assert [p.processed for p in seen] == [0, 2, 4, 6, 6]


def test_text_bytes_and_path_sources_read_alike(svc, bank, make_bank, tmp_path) -> None:
    make_bank("0002", "二番", prefix="NIBN")
    make_bank("0003", "三番", prefix="SANB")
    path = tmp_path / "keys.pskcxml"
    path.write_bytes(plain_keys(3, "SRC"))
    reports = [import_pskc(svc, code, source) for code, source in
               (("0001", path), ("0002", path.read_bytes()), ("0003", path.read_text()))]
    assert [r.imported for r in reports] == [3, 3, 3]  # token IDs are unique per bank
    assert outcomes(reports[0]) == outcomes(reports[1]) == outcomes(reports[2])
    again = [import_pskc(svc, "0001", source) for source in (path.read_bytes(), path.read_text())]
    assert {k.reason for r in again for k in r.keys} == {"duplicate"}


# --- the quick reader agrees with python-pskc's parser -----------------------------------------------
def _packages(document: bytes) -> list:  # type: ignore[type-arg]
    return [e for e in pskc_document.children(document, 1 << 24) if e.tag in ("KeyPackage", "Device")]


def _state(device: Device) -> list[dict[str, object]]:
    skip = {"device", "policy"}
    return [{**{k: v for k, v in vars(device).items() if k not in ("pskc", "keys")},
             **{k: v for k, v in vars(key).items() if k not in skip}} for key in device.keys]


QUICK_SAMPLES = [
    plain_keys(3),
    container(package("HOTP0001", kind="hotp", suite="HMAC-SHA256", digits=8),
              package("  SPACED  ", b"  ", data="<Secret><PlainValue>  </PlainValue></Secret>"),
              package("ZERO", data="<Secret><PlainValue></PlainValue></Secret><Counter><PlainValue>MTI=</PlainValue>"
                                   "</Counter><Time><PlainValue>0</PlainValue></Time>"),
              package("NOLEN", digits=0), package("CM", key_extra="<Issuer> Bank </Issuer><UserId>u</UserId>")),
]


@pytest.mark.parametrize("document", [*QUICK_SAMPLES, *(p.read_bytes() for p in sorted(PSKC_FILES.glob("*")))])
def test_quick_reader_builds_what_python_pskc_builds(document: bytes) -> None:
    used = 0
    for element in _packages(document):
        quick = read_plain_package(PSKC(), element)
        if quick is None:
            continue
        used += 1
        reference = Device(PSKC())
        PSKCParser.parse_key_package(reference, element)
        assert _state(quick) == _state(reference)
        assert vars(quick.keys[0].policy).keys() == vars(reference.keys[0].policy).keys()
    if document in QUICK_SAMPLES:
        assert used == len(_packages(document))


def test_quick_reader_leaves_unusual_packages_to_python_pskc() -> None:
    unusual = container(
        package("POLICY01", key_extra="<Policy><KeyUsage>OTP</KeyUsage></Policy>"),
        package("ENC00001", data="<Secret><EncryptedValue/></Secret>"),
        package("TWODATA1", key_extra="<Data/>"),
        package("UNKNOWN1", key_extra="<Extension>x</Extension>"),
    )
    assert [read_plain_package(PSKC(), e) for e in _packages(unusual)] == [None] * 4


def test_hex_key_may_carry_spaces(svc, bank) -> None:
    spaced = " ".join(AES_KEY[i:i + 8] for i in range(0, 32, 8))
    assert outcomes(import_pskc(svc, "0001", PSKC_FILES / "rfc6030-figure6.pskcxml", key=spaced)) == [
        ("987654321", None)]
