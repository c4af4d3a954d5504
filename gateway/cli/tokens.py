"""Operators' commands for tokens, the audit trail, seal keys and mail."""

from __future__ import annotations

import json

import click

from ..domain.errors import UnknownToken
from ..services import OPERATOR
from ..services import credentials as credential_service
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


@token.command("code")
@click.argument("token_id")
def token_code(token_id: str) -> None:
    """Print the current code of TOKEN_ID; only demo banks' tokens, a real bank's codes never show."""
    services = svc()
    try:
        (code,) = credential_service.demo_codes(services, token_id=token_id)
    except UnknownToken:
        # Say why when the token exists but belongs to a real bank (get_credential raises when it does not).
        found = credential_service.get_credential(services, token_id)
        raise click.ClickException(f"not a demo token: {found.credential_id} belongs to bank {found.bank_code}, "
                                   "whose codes are never shown") from None
    click.echo(f"{code.code}  ({code.seconds_left} s left)")


@token.command("unlock")
@click.argument("token_id")
def token_unlock(token_id: str) -> None:
    """Clear a token's OTP lockout (wrong codes)."""
    view = credential_service.unlock_credential(svc(), token_id, client=OPERATOR)
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
    """Re-seal every token secret under the first of SEAL_KEYS (keep the old keys listed until it is done)."""
    services = svc()
    count = credential_service.rotate_keys(services, client=OPERATOR)
    click.echo(f"re-sealed {count} secret(s) under key {services.sealer.primary_id}")


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
