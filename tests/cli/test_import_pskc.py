"""`otp-gateway token import-pskc`: the per-key report, --json, keys and passwords, refused documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.services import Services
from gateway.services import credentials as credential_service
from gateway.storage.models import AuditEvent, Credential
from tests.cli.support import Run
from tests.conftest import VECTORS

pytestmark = pytest.mark.db
PSKC = VECTORS / "pskc"
AES_KEY = "12345678901234567890123456789012"


def count(svc: Services) -> int:
    with svc.db.reading() as session:
        return session.scalar(select(func.count()).select_from(Credential))


def test_report_one_line_per_key_then_a_summary(run: Run, svc: Services, make_bank) -> None:
    make_bank("0042", prefix="SKRA", demo=False)
    done = run("token", "import-pskc", "0042", str(PSKC / "rfc6030-figure5.pskcxml"))
    assert done.lines == ["987654321\timported", "987654321\trejected\tunsupported_algorithm"]
    assert done.stderr.strip().splitlines()[-1] == "imported 1, rejected 1 (unsupported_algorithm 1)"
    assert "importing keys" in done.stderr  # the progress bar (only its label when stderr is no terminal)
    (view,) = credential_service.list_credentials(svc, "0042")
    assert (view.credential_id, view.state, view.kind) == ("987654321", "available", "hotp")

    again = run("token", "import-pskc", "0042", str(PSKC / "rfc6030-figure5.pskcxml"))
    assert again.lines == ["987654321\trejected\tduplicate", "987654321\trejected\tunsupported_algorithm"]


def test_json_report(run: Run, make_bank) -> None:
    make_bank("0042")
    done = run("token", "import-pskc", "0042", str(PSKC / "rfc6030-figure10.pskcxml"), "--json")
    report = json.loads(done.stdout)
    assert report["imported"] == 0 and report["rejected"] == 4
    assert [(k["token_id"], k["status"], k["reason"]) for k in report["keys"]] == [
        ("654321", "rejected", "expired"), ("123456", "rejected", "expired"),
        ("9999999", "rejected", "expired"), ("9999999", "rejected", "expired")]


@pytest.mark.parametrize(("name", "args", "stdin"), [
    ("rfc6030-figure6.pskcxml", ["--key", AES_KEY], None),
    ("rfc6030-figure6.pskcxml", ["--key-stdin"], AES_KEY + "\n"),
    ("rfc6030-figure7.pskcxml", ["--password", "qwerty"], None),
    ("rfc6030-figure7.pskcxml", ["--password-stdin"], "qwerty\n"),
])
def test_encrypted_documents_with_a_key_or_a_password(run: Run, svc: Services, make_bank, name, args,
                                                      stdin) -> None:
    make_bank("0042")
    done = run("token", "import-pskc", "0042", str(PSKC / name), *args, input=stdin)
    assert done.lines == ["987654321\timported"]
    assert AES_KEY not in done.stdout + done.stderr and "qwerty" not in done.stdout + done.stderr
    assert count(svc) == 1


def test_without_the_password_every_key_is_rejected_but_the_run_succeeds(run: Run, svc: Services,
                                                                         make_bank) -> None:
    make_bank("0042")
    done = run("token", "import-pskc", "0042", str(PSKC / "multiotp-pskc-totp-aes.pskcxml"))
    assert [line.split("\t")[2] for line in done.lines] == ["decryption_failed"] * 4
    assert count(svc) == 0


def test_refused_documents_exit_1_with_one_line_and_import_nothing(run: Run, svc: Services, make_bank,
                                                                   tmp_path: Path) -> None:
    make_bank("0042")
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-CONTENT-91ab")
    xxe = tmp_path / "xxe.pskcxml"
    xxe.write_text(f'<?xml version="1.0"?><!DOCTYPE KeyContainer [<!ENTITY x SYSTEM "file://{canary}">]>'
                   '<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"><KeyPackage>'
                   "<DeviceInfo><SerialNo>&x;</SerialNo></DeviceInfo></KeyPackage></KeyContainer>")
    done = run("token", "import-pskc", "0042", str(xxe), ok=False)
    assert done.error() == ("error: document refused (forbidden_xml): "
                            "DTDs, entities and external references are not accepted")
    assert "CANARY" not in done.stdout + done.stderr

    truncated = tmp_path / "truncated.pskcxml"
    truncated.write_bytes((PSKC / "multiotp-pskc-totp-aes.pskcxml").read_bytes()[:3000])
    assert run("token", "import-pskc", "0042", str(truncated), "--key", AES_KEY, ok=False).error() == (
        "error: document refused (malformed_xml): the document is not well-formed XML")

    big = tmp_path / "big.pskcxml"
    big.write_bytes(b" " * (1024 * 1024 + 1))
    assert run("token", "import-pskc", "0042", str(big), "--max-mb", "1", ok=False).error().startswith(
        "error: document refused (too_large)")
    assert count(svc) == 0
    with svc.db.reading() as session:
        results = list(session.scalars(select(AuditEvent.result).where(AuditEvent.event == "credential.import")))
    assert results == ["refused"] * 3


@pytest.mark.parametrize(("args", "code", "message"), [
    (["0042", "{file}", "--key", "not-hex"], 2, "error: invalid key: hex"),
    (["0042", "{file}", "--key", "0011"], 2, "error: invalid key: an AES key is 16, 24 or 32 bytes"),
    (["0042", "{file}", "--key", AES_KEY, "--password", "x"], 2,
     "error: give one of --password, --password-stdin, --key, --key-stdin (see --help)"),
    (["9999", "{file}"], 1, "error: unknown bank: 9999"),
    (["0042", "/nonexistent/file.pskcxml"], 2, None),
])
def test_bad_input_exits_with_one_line(run: Run, svc: Services, make_bank, args, code, message) -> None:
    make_bank("0042")
    file = str(PSKC / "rfc6030-figure6.pskcxml")
    error = run("token", "import-pskc", *(arg.format(file=file) for arg in args), ok=False).error(code)
    if message:
        assert error == message
    assert count(svc) == 0


def test_empty_stdin_is_a_usage_error(run: Run, make_bank) -> None:
    make_bank("0042")
    done = run("token", "import-pskc", "0042", str(PSKC / "rfc6030-figure7.pskcxml"), "--password-stdin",
               input="", ok=False)
    assert done.error(2) == "error: nothing on stdin (see --help)"


def test_help(run: Run) -> None:
    out = run("token", "import-pskc", "--help").stdout
    assert out.startswith("Usage: otp-gateway token import-pskc [OPTIONS] CODE FILE")
    for option in ("--password", "--password-stdin", "--key", "--key-stdin", "--json", "--max-mb"):
        assert option in out
