"""Operators' commands: schema, banks, customers, tokens, audit, seal keys, mail."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from ..domain.errors import GatewayError, InvalidInput
from ..services import OPERATOR
from ..services import banks as bank_service
from ..services import credentials as credential_service
from ..services import customers as customer_service
from ..storage import audit as audit_trail
from ..storage import migrate
from .common import describe, emit_json, svc, table


@click.command("init-db")
def init_db() -> None:
    """Create or migrate the database schema (Alembic)."""
    db = svc().db
    migrate.upgrade(db)
    click.echo(f"database schema at revision {migrate.current_revision(db)} ({db.dialect})")


# --- banks -----------------------------------------------------------------------------------------
@click.group()
def bank() -> None:
    """Banks (tenants): add, list, API keys."""


@bank.command("add")
@click.argument("code")
@click.option("--name", required=True, help="The bank's name as customers see it.")
@click.option("--prefix", default="SYMC", show_default=True, help="4 letters that start its token IDs.")
@click.option("--period", type=click.Choice(["30", "60"]), default="30", show_default=True,
              help="Seconds between codes of the tokens it issues.")
@click.option("--digits", type=click.Choice(["6", "8"]), default="6", show_default=True)
@click.option("--algorithm", type=click.Choice(["SHA1", "SHA256", "SHA512"]), default="SHA1", show_default=True)
@click.option("--colour", default="#004e9a", show_default=True, help="Brand colour, #rrggbb.")
@click.option("--logo-url", help="Logo shown on its pages.")
@click.option("--contact", help="Contact line for customer mails (e.g. a phone number).")
@click.option("--service-id", help="8-digit OTP service ID (generated when omitted).")
@click.option("--demo", is_flag=True, help="A demo bank: its tokens' codes can be shown.")
@click.option("--stop-requires-otp/--no-stop-requires-otp", default=False, show_default=True)
@click.option("--release-requires-otp/--no-release-requires-otp", default=True, show_default=True)
@click.option("--reregister-delay-days", type=click.IntRange(0, 30), default=1, show_default=True)
@click.option("--embed-origin", "embed_origins", multiple=True, help="Origin allowed to frame its pages.")
@click.option("--return-url", "return_urls", multiple=True, help="URL a redirect flow may return to.")
def bank_add(code: str, name: str, prefix: str, period: str, digits: str, algorithm: str, colour: str,
             logo_url: str | None, contact: str | None, service_id: str | None, demo: bool,
             stop_requires_otp: bool, release_requires_otp: bool, reregister_delay_days: int,
             embed_origins: tuple[str, ...], return_urls: tuple[str, ...]) -> None:
    """Add a bank with CODE."""
    view = bank_service.add_bank(
        svc(), code, name, prefix=prefix, period=int(period), digits=int(digits), algorithm=algorithm,
        colour=colour, logo_url=logo_url, contact=contact, service_id=service_id, demo=demo,
        stop_requires_otp=stop_requires_otp, release_requires_otp=release_requires_otp,
        reregister_delay_days=reregister_delay_days, embed_origins=embed_origins, return_urls=return_urls,
    )
    click.echo(f"bank {view.code} {view.name}: prefix {view.token_prefix}, {view.token_period} s tokens, "
               f"service ID {view.service_id}")


@bank.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bank_list(as_json: bool) -> None:
    """List the banks."""
    banks = bank_service.list_banks(svc())
    if as_json:
        emit_json([{**b.__dict__, "embed_origins": list(b.embed_origins), "return_urls": list(b.return_urls)}
                   for b in banks])
        return
    table([[b.code, b.name, b.token_prefix, f"{b.token_period}s", b.service_id, "demo" if b.is_demo else ""]
           for b in banks], ["code", "name", "prefix", "period", "service_id", ""])


@bank.command("api-key")
@click.argument("code")
@click.option("--label", help="What the key is for.")
def bank_api_key(code: str, label: str | None) -> None:
    """Make a new API key for bank CODE; it is shown once, alone on the last line."""
    key = bank_service.create_api_key(svc(), code, label)
    click.echo(f"new API key for bank {code} (shown only now; keep it secret):")
    click.echo(key)


@bank.command("revoke-key")
@click.argument("code")
@click.argument("prefix")
def bank_revoke_key(code: str, prefix: str) -> None:
    """Revoke bank CODE's live keys that start with PREFIX (at least 8 characters)."""
    if len(prefix) < 8:
        raise click.BadParameter("give at least 8 characters of the key", param_hint="PREFIX")
    count = bank_service.revoke_api_key(svc(), code, prefix)
    if not count:
        raise click.ClickException(f"no live key of bank {code} starts with {prefix}")
    click.echo(f"revoked {count} key(s)")


# --- customers -------------------------------------------------------------------------------------
@click.group()
def customer() -> None:
    """Customers: add, import, show, unlock."""


@customer.command("add")
@click.argument("code")
@click.argument("contract_id")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Login password.")
@click.option("--confirmation-password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="確認用パスワード: 6–12 letters and digits.")
@click.option("--email", help="Where notices go.")
def customer_add(code: str, contract_id: str, password: str, confirmation_password: str, email: str | None) -> None:
    """Add customer CONTRACT_ID to bank CODE."""
    view = customer_service.add_customer(svc(), code, contract_id, password, confirmation_password, email)
    click.echo(f"customer {view.contract_id} added to bank {view.bank_code}")


@customer.command("import")
@click.argument("code")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def customer_import(code: str, csv_file: Path) -> None:
    """Add customers from a CSV with the header contract_id,password,confirmation_password,email."""
    failed = 0
    with csv_file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"contract_id", "password"} - set(reader.fieldnames or [])
        if missing:
            raise click.ClickException(f"{csv_file.name}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                customer_service.add_customer(svc(), code, row["contract_id"], row["password"],
                                              row.get("confirmation_password") or None, row.get("email") or None)
            except InvalidInput as error:
                failed += 1
                click.echo(f"line {line}: {row.get('contract_id')}: invalid {error.field}")
            except GatewayError as error:
                failed += 1
                click.echo(f"line {line}: {row.get('contract_id')}: {describe(error)}")
            else:
                click.echo(f"line {line}: {row['contract_id']}: added")
    if failed:
        raise click.ClickException(f"{failed} row(s) not imported")


@customer.command("show")
@click.argument("code")
@click.argument("contract_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def customer_show(code: str, contract_id: str, as_json: bool) -> None:
    """Show a customer's OTP status and lockouts."""
    view = customer_service.show_customer(svc(), code, contract_id)
    if as_json:
        emit_json(view.as_dict())
        return
    for key, value in view.as_dict().items():
        click.echo(f"{key:<18}{'' if value is None else value}")


@customer.command("unlock")
@click.argument("code")
@click.argument("contract_id")
def customer_unlock(code: str, contract_id: str) -> None:
    """Clear a customer's password lockout and their token's OTP lockout."""
    view = customer_service.unlock_customer(svc(), code, contract_id)
    click.echo(f"customer {view.contract_id} unlocked")


# --- tokens ----------------------------------------------------------------------------------------
@click.group()
def token() -> None:
    """Tokens: provision soft tokens, list, demo codes, unlock."""


@token.command("provision")
@click.argument("code")
@click.option("--count", type=click.IntRange(1, 10_000), default=1, show_default=True)
def token_provision(code: str, count: int) -> None:
    """Mint available soft tokens: one line each, TOKEN_ID<TAB>otpauth://…"""
    for minted in credential_service.mint(svc(), code, count):
        click.echo(f"{minted.credential_id}\t{minted.otpauth_uri}")


@token.command("list")
@click.argument("code")
@click.option("--state", type=click.Choice(["available", "active", "revoked", "locked"]))
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
    """Print the current code of a demo bank's token (real banks' tokens never show)."""
    (code,) = credential_service.demo_codes(svc(), token_id=token_id)
    click.echo(f"{code.code}  ({code.seconds_left} s left)")


@token.command("unlock")
@click.argument("token_id")
def token_unlock(token_id: str) -> None:
    """Clear a token's OTP lockout."""
    view = credential_service.unlock_credential(svc(), token_id)
    click.echo(f"token {view.credential_id} unlocked ({view.state})")


# --- audit, keys, mail -----------------------------------------------------------------------------
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
@click.option("--since", type=click.IntRange(min=0), default=0, show_default=True, help="Events after this id.")
def audit_export(since: int) -> None:
    """Print events as JSON lines, oldest first."""
    with svc().db.reading() as session:
        for event in audit_trail.export(session, since):
            click.echo(json.dumps(event, ensure_ascii=False))


@click.group()
def keys() -> None:
    """Seal keys."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-seal every token secret under the first of SEAL_KEYS."""
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
