"""Operators' commands for tokens, the audit trail, seal keys and mail."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..domain.errors import AmbiguousToken, UnknownToken
from ..domain.tokens import normalise_token_id
from ..services import OPERATOR
from ..services import credentials as credential_service
from ..services import results as result_service
from ..services.imports import DocumentRefused, ImportProgress, ImportReport, import_pskc
from ..storage import audit as audit_trail
from .common import emit_json, svc, table

STATES = ("available", "active", "revoked", "locked")


# --- tokens ----------------------------------------------------------------------------------------
@click.group()
def token() -> None:
    """Tokens: provision soft tokens, list, demo codes, unlock."""


@token.command("provision")
@click.argument("code")
@click.option("--count", type=click.IntRange(1, 10_000), default=1, show_default=True)
def token_provision(code: str, count: int) -> None:
    """Mint available soft tokens for bank CODE: one line each, TOKEN_ID<TAB>otpauth://…

    The otpauth URI carries the token's secret: hand it only to the token app it is meant for.
    """
    for minted in credential_service.mint(svc(), code, count, client=OPERATOR):
        click.echo(f"{minted.credential_id}\t{minted.otpauth_uri}")


@token.command("list")
@click.argument("code")
@click.option("--state", type=click.Choice(STATES), help="Only tokens in this state.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def token_list(code: str, state: str | None, as_json: bool) -> None:
    """List bank CODE's tokens."""
    views = credential_service.list_credentials(svc(), code, state)
    if as_json:
        emit_json([view.as_dict() for view in views])
        return
    table([[v.credential_id, v.state, v.kind, f"{v.period}s", v.contract_id or "", str(v.failure_count)]
           for v in views], ["token_id", "state", "kind", "period", "contract_id", "failures"])


BANK_OPTION = click.option("--bank", "bank_code", metavar="CODE",
                           help="The bank whose token it is (needed when several banks hold the ID).")


def _one_bank(token_id: str, bank_code: str | None) -> str:
    """The bank of TOKEN_ID: `bank_code`, or the one bank that holds it; a one-line reason otherwise."""
    try:
        return credential_service.get_credential(svc(), token_id, bank_code).bank_code
    except AmbiguousToken as ambiguous:
        banks = " and ".join([", ".join(ambiguous.banks[:-1]), ambiguous.banks[-1]])
        raise click.ClickException(f"token ID {ambiguous.token_id} is held by banks {banks}: "
                                   "choose one with --bank CODE") from None


@token.command("code")
@click.argument("token_id")
@BANK_OPTION
def token_code(token_id: str, bank_code: str | None) -> None:
    """Print the current code of TOKEN_ID; only demo banks' tokens, a real bank's codes never show."""
    services = svc()
    bank_code = _one_bank(token_id, bank_code)
    try:
        (code,) = credential_service.demo_codes(services, bank_code, token_id=token_id)
    except UnknownToken:
        # The token exists (_one_bank found it): say why its code is not shown.
        raise click.ClickException(f"not a demo token: {normalise_token_id(token_id)} belongs to bank {bank_code}, "
                                   "whose codes are never shown") from None
    click.echo(f"{code.code}  ({code.seconds_left} s left)")


@token.command("import-pskc")
@click.argument("code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--password", help="PBKDF2 password of an encrypted document.")
@click.option("--password-stdin", is_flag=True, help="Read the PBKDF2 password from the first line of stdin.")
@click.option("--key", "key_hex", help="Pre-shared AES key of an encrypted document, hex (128, 192 or 256 bits).")
@click.option("--key-stdin", is_flag=True, help="Read the pre-shared key (hex) from the first line of stdin.")
@click.option("--max-mb", type=click.IntRange(1, 65536), default=1024, show_default=True,
              help="Refuse larger documents.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def token_import_pskc(code: str, file: Path, password: str | None, password_stdin: bool, key_hex: str | None,
                      key_stdin: bool, max_mb: int, as_json: bool) -> None:
    """Import the keys of a PSKC (RFC 6030) FILE as available tokens of bank CODE.

    Plaintext, pre-shared-key (--key) and password-based (--password) documents; HOTP and TOTP. A progress
    bar goes to stderr, then one line per key to stdout, in document order: TOKEN_ID<TAB>imported, or
    TOKEN_ID<TAB>rejected<TAB>REASON; the summary goes to stderr. Exit 0 when the document was read (even if
    keys were rejected), 1 when the document itself is refused (nothing is imported then).
    """
    if sum((password is not None, password_stdin, key_hex is not None, key_stdin)) > 1:
        raise click.UsageError("give one of --password, --password-stdin, --key, --key-stdin")
    if password_stdin or key_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.UsageError("nothing on stdin")
        password, key_hex = (line, None) if password_stdin else (None, line)
    bar = _ProgressBar()
    try:
        report = import_pskc(svc(), code, file, password=password, key=key_hex, progress=bar, client=OPERATOR,
                             max_bytes=max_mb * 1024 * 1024)
    except DocumentRefused as refused:
        raise click.ClickException(f"document refused ({refused.reason}): {refused.detail}") from None
    finally:
        bar.close()
    if as_json:
        emit_json(report.as_dict())
    else:
        for key in report.keys:
            line = f"{key.token_id or '-'}\t{key.status}"
            click.echo(f"{line}\t{key.reason}" if key.reason else line)
    click.echo(_summary(report), err=True)


def _summary(report: ImportReport) -> str:
    because = ", ".join(f"{reason} {count}" for reason, count in sorted(report.reasons.items()))
    return f"imported {report.imported}, rejected {report.rejected}" + (f" ({because})" if because else "")


class _ProgressBar:
    """click's progress bar on stderr, opened at the first report (when the number of keys is known)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.shown = 0

    def __call__(self, progress: ImportProgress) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=progress.total, label="importing keys", show_pos=True,
                                         file=click.get_text_stream("stderr"))
            self.bar.__enter__()
        self.bar.length = progress.total  # a package may hold more than one key
        self.bar.update(progress.processed - self.shown)
        self.shown = progress.processed

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@token.command("unlock")
@click.argument("token_id")
@BANK_OPTION
def token_unlock(token_id: str, bank_code: str | None) -> None:
    """Clear a token's OTP lockout (wrong codes)."""
    view = credential_service.unlock_credential(svc(), token_id, client=OPERATOR,
                                                bank_code=_one_bank(token_id, bank_code))
    click.echo(f"token {view.credential_id} unlocked ({view.state})")


# --- audit -----------------------------------------------------------------------------------------
@click.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the chain; exit 1 naming the first changed or missing row."""
    with svc().db.reading() as session:
        problem = audit_trail.verify_chain(session)
        if problem is not None:
            raise click.ClickException(str(problem))
        count = audit_trail.head_seq(session)
    click.echo(f"audit chain intact: {count} events")


@audit.command("export")
@click.option("--since", type=click.IntRange(min=0), default=0, show_default=True, help="Only events after this id.")
def audit_export(since: int) -> None:
    """Print the events as JSON lines, oldest first."""
    with svc().db.reading() as session:
        for event in audit_trail.export(session, since):
            click.echo(json.dumps(event, ensure_ascii=False))


# --- keys and mail ---------------------------------------------------------------------------------
@click.group()
def keys() -> None:
    """Seal keys (GATEWAY_SEAL_KEYS)."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-seal every token secret and result-signing key under the first of SEAL_KEYS (keep the old keys
    listed until it is done)."""
    services = svc()
    count = credential_service.rotate_keys(services, client=OPERATOR)
    results = result_service.reseal_keys(services)
    click.echo(f"re-sealed {count} secret(s) and {results} result key(s) under key {services.sealer.primary_id}")


@click.group()
def mail() -> None:
    """Customer mail."""


@mail.command("retry")
def mail_retry() -> None:
    """Try again to deliver every pending mail (run it from cron when SMTP was down)."""
    services = svc()
    if services.mailer is None:
        raise click.ClickException("no mailer configured")
    outcome = services.mailer.deliver_pending()
    sent = sum(1 for state in outcome.values() if state == "sent")
    click.echo(f"sent {sent}, still pending {len(outcome) - sent}")
    if sent < len(outcome):
        raise click.ClickException("some mail is still pending")
