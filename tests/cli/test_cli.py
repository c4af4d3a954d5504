"""The `otp-gateway` command, run as an operator would: the installed console script in a subprocess."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.cli import main
from gateway.services import banks as bank_service
from gateway.storage.db import Database
from tests.conftest import SEAL_KEY, Token

SCRIPT = Path(sys.executable).parent / "otp-gateway"
NEW_KEY = "next:" + base64.urlsafe_b64encode(b"\x03" * 32).decode()


@pytest.fixture
def run(database_url, tmp_path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path / "instance"),
           "GATEWAY_DATABASE_URL": database_url, "GATEWAY_SEAL_KEYS": SEAL_KEY, "GATEWAY_LOG_LEVEL": "WARNING"}

    def run(*args: str, ok: bool = True, input: str | None = None, **extra_env: str):  # type: ignore[no-untyped-def]
        result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, input=input,
                                env={**env, **extra_env}, timeout=60)
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    return run


def assert_one_line_error(result, code: int = 1) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


HELP = [
    [], ["init-db"], ["demo"], ["serve"], ["bank"], ["bank", "add"], ["bank", "list"], ["bank", "api-key"],
    ["bank", "revoke-key"], ["customer", "add"], ["customer", "import"], ["customer", "show"],
    ["customer", "unlock"], ["token", "provision"], ["token", "list"], ["token", "code"], ["token", "unlock"],
    ["audit", "verify"], ["audit", "export"], ["keys", "rotate"], ["mail", "retry"],
]


@pytest.mark.parametrize("args", HELP, ids=lambda args: " ".join(args) or "otp-gateway")
def test_every_command_has_help(args, capsys, monkeypatch) -> None:
    # In-process (the console script's own entry point); --help needs no database.
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "sqlite:////nonexistent/dir/x.db")
    assert main([*args, "--help"]) == 0
    assert "Usage: otp-gateway" in capsys.readouterr().out


def test_the_console_script_answers(tmp_path) -> None:
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode == 0 and "init-db" in result.stdout


@pytest.mark.db
def test_demo_is_idempotent_and_prints_what_to_type(run) -> None:
    run("init-db")
    first = run("demo").stdout
    assert "http://127.0.0.1:5000/b/0001/" in first and "/b/0002/demo/token" in first
    assert "契約者ID 1000000001" in first and "ログインパスワード demo1234" in first
    assert first.count("API key (shown only now): ogw_") == 2
    second = run("demo", "--if-empty").stdout
    assert "契約者ID 1000000001" in second and "ogw_" not in second
    banks = json.loads(run("bank", "list", "--json").stdout)
    assert [(b["code"], b["token_period"], b["is_demo"]) for b in banks] == [("0001", 30, True), ("0002", 60, True)]
    tokens = json.loads(run("token", "list", "0001", "--state", "available", "--json").stdout)
    assert len(tokens) == 5
    run("demo")  # again without --if-empty: nothing duplicated
    assert len(json.loads(run("token", "list", "0001", "--json").stdout)) == 5


@pytest.mark.db
def test_bank_key_customer_and_token_commands(run, database_url, svc) -> None:
    run("bank", "add", "0042", "--name", "さくら信用組合", "--prefix", "SKRA", "--period", "60", "--demo",
        "--embed-origin", "https://ib.example.jp")
    assert_one_line_error(run("bank", "add", "0042", "--name", "again", ok=False))
    assert_one_line_error(run("bank", "add", "0043", "--name", "x", "--prefix", "S1", ok=False), code=2)

    key = run("bank", "api-key", "0042").stdout.strip().splitlines()[-1]
    assert bank_service.bank_for_api_key(svc, key).code == "0042"

    run("customer", "add", "0042", "1234567890", "--password", "secret-pass1", "--confirmation-password",
        "kakunin99", "--email", "taro@example.jp")
    shown = json.loads(run("customer", "show", "0042", "1234567890", "--json").stdout)
    assert shown["otp_status"] == "none" and shown["email"] == "taro@example.jp"
    assert_one_line_error(run("customer", "add", "0042", "12-34", "--password", "secret-pass1",
                              "--confirmation-password", "kakunin99", ok=False), code=2)
    assert_one_line_error(run("customer", "show", "0042", "999", ok=False))

    lines = run("token", "provision", "0042", "--count", "2").stdout.strip().splitlines()
    assert len(lines) == 2
    token_id, uri = lines[0].split("\t")
    assert token_id.startswith("SKRA") and uri.startswith("otpauth://totp/") and "period=60" in uri
    secret_b32 = uri.split("secret=")[1].split("&")[0]
    token = Token(token_id, base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8)), period=60)
    shown_code = run("token", "code", token_id.lower()).stdout.split()[0]
    assert shown_code in {token.code(steps=s) for s in (-1, 0, 1)}
    assert_one_line_error(run("token", "code", "SKRA00000000", ok=False))
    run("token", "unlock", token_id)


@pytest.mark.db
def test_token_code_refuses_real_banks(run) -> None:
    run("bank", "add", "0050", "--name", "本番信用組合", "--prefix", "REAL")
    token_id = run("token", "provision", "0050").stdout.split("\t")[0]
    assert "unknown token" in assert_one_line_error(run("token", "code", token_id, ok=False))


@pytest.mark.db
def test_customer_import_reports_each_row(run, tmp_path) -> None:
    run("bank", "add", "0042", "--name", "さくら信用組合", "--prefix", "SKRA")
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text("contract_id,password,confirmation_password,email\n"
                        "1000000001,secret-pass1,kakunin99,a@example.jp\n"
                        "bad id,secret-pass1,kakunin99,\n"
                        "1000000001,secret-pass1,kakunin99,\n", encoding="utf-8")
    result = run("customer", "import", "0042", str(csv_file), ok=False)
    assert "line 2: 1000000001: added" in result.stdout
    assert "line 3: bad id: invalid contract_id" in result.stdout
    assert "line 4: 1000000001: that contract ID exists" in result.stdout
    assert_one_line_error(result)


@pytest.mark.db
def test_audit_verify_names_a_changed_row_and_export_is_json_lines(run, database_url) -> None:
    run("init-db")
    run("demo")
    assert "audit chain intact" in run("audit", "verify").stdout
    events = [json.loads(line) for line in run("audit", "export").stdout.splitlines()]
    assert events and {"bank.add", "customer.add", "credential.mint", "api_key.create"} <= {e["event"] for e in events}
    assert all("password" not in json.dumps(e) for e in events)
    assert len(run("audit", "export", "--since", str(events[-2]["id"])).stdout.splitlines()) == 1
    db = Database(database_url)
    with db.transaction() as session:
        if db.dialect == "postgresql":
            session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3"))
    db.dispose()
    line = assert_one_line_error(run("audit", "verify", ok=False))
    assert line == "error: audit row 3: changed after it was written"


@pytest.mark.db
def test_keys_rotate_keeps_codes_working(run) -> None:
    run("bank", "add", "0042", "--name", "さくら信用組合", "--prefix", "SKRA", "--demo")
    token_id, uri = run("token", "provision", "0042").stdout.strip().split("\t")
    secret_b32 = uri.split("secret=")[1].split("&")[0]
    token = Token(token_id, base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8)))
    rotated = run("keys", "rotate", GATEWAY_SEAL_KEYS=f"{NEW_KEY},{SEAL_KEY}").stdout
    assert "re-sealed 1 secret(s) under key next" in rotated
    after = run("token", "code", token_id, GATEWAY_SEAL_KEYS=NEW_KEY).stdout.split()[0]
    assert after in {token.code(steps=s) for s in (-1, 0, 1)}  # the same secret, opened with the new key
    assert "not configured" in assert_one_line_error(
        run("token", "code", token_id, GATEWAY_SEAL_KEYS=SEAL_KEY, ok=False))


def test_serve_refuses_an_old_schema(tmp_path) -> None:
    env = {**os.environ, "GATEWAY_INSTANCE_PATH": str(tmp_path), "GATEWAY_SEAL_KEYS": SEAL_KEY,
           "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = subprocess.run([str(SCRIPT), "serve", "--port", "5999"], capture_output=True, text=True, env=env,
                            timeout=30)
    assert "database schema is not current" in assert_one_line_error(result)
