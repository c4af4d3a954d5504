"""The `otp-gateway` command as a whole: help, usage errors, init-db, serve and demo."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.domain.errors import AuthenticationFailed
from gateway.services import Client, Services
from gateway.services import banks as bank_service
from gateway.services import credentials as credential_service
from gateway.services import customers as customer_service
from gateway.storage import audit
from tests.cli.support import SCRIPT, Run, environment, invoke

COMMANDS = [
    [], ["init-db"], ["demo"], ["serve"],
    ["bank"], ["bank", "add"], ["bank", "list"], ["bank", "api-key"], ["bank", "revoke-key"],
    ["customer"], ["customer", "add"], ["customer", "import"], ["customer", "show"], ["customer", "unlock"],
    ["token"], ["token", "provision"], ["token", "list"], ["token", "code"], ["token", "unlock"], ["token", "import-pskc"],
    ["audit"], ["audit", "verify"], ["audit", "export"], ["keys"], ["keys", "rotate"], ["mail"], ["mail", "retry"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args) or "otp-gateway")
def test_every_command_has_help(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    # In-process through the console script's own entry point: --help must not need a database at all.
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "sqlite:////nonexistent/dir/x.db")
    assert main([*args, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: otp-gateway {' '.join(args)}".rstrip())


def test_the_console_script_helps_and_rejects_bad_command_lines(tmp_path: Path) -> None:
    env = environment(tmp_path, f"sqlite:///{tmp_path / 'never-created.db'}")
    listing = invoke(env, "--help").stdout
    for name in ("init-db", "demo", "serve", "bank", "customer", "token", "audit", "keys"):
        assert f"\n  {name} " in listing
    assert invoke(env, "bank", "add", "--name", "x", ok=False).error(code=2) == (
        "error: Missing argument 'CODE'. (see --help)")
    assert not (tmp_path / "never-created.db").exists()


def test_init_db_creates_the_schema_and_serve_refuses_until_then(tmp_path: Path) -> None:
    env = environment(tmp_path / "instance", f"sqlite:///{tmp_path / 'fresh.db'}")
    assert "run otp-gateway init-db" in invoke(env, "bank", "list", ok=False).error()
    refused = invoke(env, "serve", "--port", str(free_port()), ok=False)
    assert refused.error() == "error: database schema is not current; run otp-gateway init-db"
    first = invoke(env, "init-db").stdout
    assert first.startswith("database schema at revision ") and "(sqlite)" in first
    assert invoke(env, "init-db").stdout == first  # already current: nothing to do, same answer


@pytest.fixture
def in_process(app_config, monkeypatch) -> None:
    """GATEWAY_* for calling `main` in this process, on the database of the `svc` fixture.

    LOG_LEVEL is set so that the command leaves the test process's root logger as it found it.
    """
    for key in ("DATABASE_URL", "INSTANCE_PATH", "SEAL_KEYS"):
        monkeypatch.setenv(f"GATEWAY_{key}", str(app_config[key]))
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "INFO")


#: (command line, exit status, part of the one error line) for the inputs an operator gets wrong.
BAD_INPUT = [
    (["frobnicate"], 2, "No such command 'frobnicate'"),
    (["bank", "list", "--state", "x"], 2, "No such option '--state'"),
    (["bank", "add", "0002", "--name", "x", "--period", "45"], 2, "'45' is not one of '30', '60'"),
    (["bank", "add", "0001", "--name", "again"], 1, "a bank with that code exists: 0001"),
    (["bank", "add", "0002", "--name", "x", "--prefix", "S1"], 2, "invalid prefix: a token prefix is 4 letters"),
    (["bank", "add", "0002", "--name", "x", "--embed-origin", "ib.example.jp"], 2, "invalid embed origin: not an"),
    (["bank", "api-key", "0099"], 1, "unknown bank: 0099"),
    (["bank", "revoke-key", "0001", "ogw_"], 2, "give at least the key's first 8 characters"),
    (["bank", "revoke-key", "0001", "ogw_abcdefgh"], 1, "no live key of bank 0001 starts with ogw_abcdefgh"),
    (["bank", "revoke-key", "0001", "ogw_" + "x" * 43], 1, "that is not a live key of bank 0001"),
    (["customer", "add", "0099", "1", "--password", "secret-pass1"], 1, "unknown bank: 0099"),
    (["customer", "add", "0001", "12-34", "--password", "secret-pass1"], 2,
     "invalid contract id: 1–32 letters and digits"),
    (["customer", "add", "0001", "12345", "--password", "secret pass", "--confirmation-password", "kakunin1"], 2,
     "invalid password: 6–32 printable ASCII characters, no spaces"),
    (["customer", "show", "0001", "999"], 1, "unknown contract ID: 999"),
    (["customer", "unlock", "0001", "999"], 1, "unknown contract ID: 999"),
    (["customer", "import", "0001", "/nonexistent/customers.csv"], 2, "does not exist"),
    (["token", "provision", "0001", "--count", "0"], 2, "0 is not in the range 1<=x<=10000"),
    (["token", "list", "0001", "--state", "lost"], 2, "'lost' is not one of 'available'"),
    (["token", "list", "0099"], 1, "unknown bank: 0099"),
    (["token", "code", "SYMC00000000"], 1, "unknown token ID: SYMC00000000"),
    (["token", "unlock", "SYMC00000000"], 1, "unknown token ID: SYMC00000000"),
    (["token", "unlock", "#!"], 2, "invalid credential id: a token ID is 1–32 letters and digits"),
    (["audit", "export", "--since", "-1"], 2, "-1 is not in the range x>=0"),
    (["demo", "--base-url"], 2, "Option '--base-url' requires an argument"),
    (["serve", "--port", "70000"], 2, "70000 is not in the range 1<=x<=65535"),
    (["keys", "rotate", "now"], 2, "unexpected extra argument (now)"),
]


@pytest.mark.db
@pytest.mark.parametrize(("args", "status", "reason"), BAD_INPUT, ids=lambda value: str(value))
def test_bad_input_gets_one_line_and_a_non_zero_exit(args: list[str], status: int, reason: str, bank, in_process,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # In-process (the console script's entry point, minus the process start) so the sweep stays fast.
    assert main(args) == status
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], captured.err
    assert "Traceback" not in captured.err


@pytest.mark.db
def test_listings_without_json_are_aligned_tables(bank, svc: Services, in_process,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (minted,) = credential_service.mint(svc, "0001", 1)
    customer_service.add_customer(svc, "0001", "1000000001", "secret-pass1", "kakunin1", "taro@example.jp")
    assert main(["bank", "list"]) == 0 and main(["token", "list", "0001"]) == 0
    assert main(["customer", "show", "0001", "1000000001"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["code  name            prefix  period  service_id",
                         f"0001  テスト信用組合  SYMC    30s     {bank.service_id}    demo"]
    assert lines[2].split() == ["token_id", "state", "kind", "period", "contract_id", "failures"]
    assert lines[3].split() == [minted.credential_id, "available", "totp", "30s", "0"]
    assert "contract_id       1000000001" in lines and "otp_status        none" in lines


@pytest.mark.parametrize(("setting", "value", "reason"), [
    ("DATABASE_URL", "nosuch://x", "error: bad database URL: Can't load plugin: sqlalchemy.dialects:nosuch"),
    ("SEAL_KEYS", "k1:short", "error: a seal key is 32 bytes, base64url or hex"),
    ("OTP_WINDOW", "9", "error: OTP_WINDOW must be between 0 and 2"),
])
def test_bad_configuration_gets_one_line(setting: str, value: str, reason: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("GATEWAY_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "INFO")
    monkeypatch.setenv(f"GATEWAY_{setting}", value)
    assert main(["init-db"]) == 1
    assert capsys.readouterr().err.strip() == reason


@pytest.mark.db
def test_serve_answers_with_gunicorn_and_logs_access_to_stdout(cli_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "access.log"
    with log.open("w") as stdout:
        server = subprocess.Popen([str(SCRIPT), "serve", "--port", str(port), "--workers", "1"], env=cli_env,
                                  stdout=stdout, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        body = wait_for(f"http://127.0.0.1:{port}/healthz")
        assert json.loads(body)["status"] == "ok"
        # The port is now taken: a second server says so in one line instead of retrying.
        busy = invoke(cli_env, "serve", "--port", str(port), ok=False).error()
        assert busy.startswith(f"error: cannot listen on 127.0.0.1:{port}:")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _, errors = server.communicate(timeout=20)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(entry["method"] == "GET" and entry["path"] == "/healthz" and entry["status"] == 200
               for entry in lines)  # the request log: one JSON line per request on stdout
    assert "Starting gunicorn" in errors and "Traceback" not in errors


@pytest.mark.db
def test_demo_creates_once_prints_what_to_type_and_is_idempotent(run: Run, svc: Services) -> None:
    first = run("demo", "--if-empty").stdout  # on an empty database --if-empty creates everything
    for text in ("http://127.0.0.1:5000/", "http://127.0.0.1:5000/b/0001/", "http://127.0.0.1:5000/b/0002/",
                 "/b/0001/demo/token", "/b/0002/demo/token", "otp-gateway token code TOKEN_ID",
                 "契約者ID 1000000001", "契約者ID 1000000003", "契約者ID 2000000002",
                 "ログインパスワード demo1234", "確認用パスワード kakunin1"):
        assert text in first, text
    keys = [line.rsplit(" ", 1)[1] for line in first.splitlines() if "API key (shown only now" in line]
    assert [bank_service.bank_for_api_key(svc, key).code for key in keys] == ["0001", "0002"]

    banks = {bank.code: bank for bank in bank_service.list_banks(svc)}
    assert (banks["0001"].token_period, banks["0001"].token_prefix, banks["0001"].service_id) == (30, "SYMC", "10112231")
    assert (banks["0002"].token_period, banks["0002"].token_prefix, banks["0002"].service_id) == (60, "NTTD", "10112180")
    assert banks["0001"].contact == "0120-000-000" and (banks["0001"].removal_policy, banks["0002"].removal_policy) == ("lost-phone", "code")
    assert all(bank.is_demo for bank in banks.values())
    customer_service.authenticate(svc, "0002", "2000000001", "demo1234", Client())
    customer_service.confirm(svc, "0002", "2000000001", "kakunin1", Client())
    with pytest.raises(AuthenticationFailed):
        customer_service.authenticate(svc, "0001", "1000000002", "wrong-pass", Client())
    for code, prefix in (("0001", "SYMC"), ("0002", "NTTD")):
        available = credential_service.list_credentials(svc, code, "available")
        assert len(available) == 5 and all(view.credential_id.startswith(prefix) for view in available)
        assert " ".join(view.credential_id for view in available) in first
    events = head(svc)

    again = run("demo").stdout
    assert "ogw_" not in again and "契約者ID 1000000001" in again
    assert "`otp-gateway bank api-key 0001` makes a new one" in again
    quiet = run("demo", "--if-empty").stdout
    assert quiet == again
    assert head(svc) == events  # nothing written by either run: no bank, customer, token or key added
    assert len(credential_service.list_credentials(svc, "0001")) == 5


def head(svc: Services) -> int:
    with svc.db.reading() as session:
        return audit.head_seq(session)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize(("variables", "base", "listen"), [
    ([], "http://127.0.0.1:5000", "--host 127.0.0.1 --port 5000"),
    (["PORT=5055"], "http://127.0.0.1:5055", "--host 127.0.0.1 --port 5055"),
    (["HOST=0.0.0.0", "PORT=8080"], "http://127.0.0.1:8080", "--host 0.0.0.0 --port 8080"),
])
def test_make_run_prints_the_address_it_serves(variables: list[str], base: str, listen: str) -> None:
    """`make run PORT=5055`: the demo's links follow HOST and PORT (a dry run: nothing is installed or served)."""
    root = Path(__file__).resolve().parents[2]
    plan = subprocess.run(["make", "-n", "run", *variables], cwd=root, capture_output=True,
                          text=True, check=True, env={**os.environ, "MAKEFLAGS": ""}).stdout
    assert f"demo --if-empty --base-url '{base}'" in plan and f"serve {listen}" in plan


@pytest.mark.db
def test_demo_links_follow_the_base_url(run: Run) -> None:
    out = run("demo", "--if-empty", "--base-url", "http://127.0.0.1:5055/").stdout
    assert "http://127.0.0.1:5055/b/0001/" in out and "http://127.0.0.1:5055/b/0002/demo/token" in out
    assert ":5000" not in out
