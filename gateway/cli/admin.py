"""Operators' commands for the schema, banks and customers."""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

import click

from ..domain.customers import normalise_contract_id
from ..domain.errors import GatewayError
from ..services import OPERATOR
from ..services import banks as bank_service
from ..services import customers as customer_service
from ..services import results as result_service
from .common import describe, emit_json, svc, table

#: How much of a key `banks.create_api_key` keeps in clear (`ogw_` + 8 characters) to revoke it by.
KEY_PREFIX_LENGTH = 12
CSV_COLUMNS = ("contract_id", "password", "confirmation_password", "email")
REMOVAL_HELP = ("How a token may be removed, on every path (stop pages, IB 利用解除, the API): lost-phone = the "
                "two passwords, no code (a customer who lost the phone can stop use); code = the token's code too "
                "(without the phone, through the bank's help desk).")
COOLOFF_HELP = ("Hours after a removal during which the API's customer status and the signed results say OTP "
                "was removed recently (0: never), so the bank can hold large transfers.")


@click.command("init-db")
def init_db() -> None:
    """Create or migrate the database schema (Alembic)."""
    # Alembic is imported only here and in `serve`: every other command starts faster without it.
    from ..storage import migrate

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
@click.option("--algorithm", type=click.Choice(["SHA1", "SHA256", "SHA512"], case_sensitive=False), default="SHA1",
              show_default=True)
@click.option("--colour", default="#004e9a", show_default=True, help="Brand colour, #rrggbb.")
@click.option("--logo-url", help="Logo shown on its pages.")
@click.option("--contact", help="Contact line for pages and mails (e.g. a phone number).")
@click.option("--service-id", help="8-digit OTP service ID for token apps (generated when omitted).")
@click.option("--demo", is_flag=True, help="A demo bank: its tokens' codes can be shown.")
@click.option("--removal-policy", type=click.Choice(bank_service.REMOVAL_POLICIES), default=bank_service.LOST_PHONE,
              show_default=True, help=REMOVAL_HELP)
@click.option("--stop-cooloff", "stop_cooloff_hours", type=click.IntRange(0, bank_service.MAX_COOLOFF_HOURS),
              default=0, show_default=True, help=COOLOFF_HELP)
@click.option("--reregister-delay-days", type=click.IntRange(0, 30), default=1, show_default=True,
              help="Days after a stop before the customer may register again.")
@click.option("--embed-origin", "embed_origins", multiple=True, help="Origin allowed to frame its pages (repeat).")
@click.option("--return-url", "return_urls", multiple=True, help="URL a redirect flow may return to (repeat).")
def bank_add(code: str, name: str, prefix: str, period: str, digits: str, algorithm: str, colour: str,
             logo_url: str | None, contact: str | None, service_id: str | None, demo: bool,
             removal_policy: str, stop_cooloff_hours: int, reregister_delay_days: int,
             embed_origins: tuple[str, ...], return_urls: tuple[str, ...]) -> None:
    """Add a bank with CODE (1–16 letters and digits, e.g. 0001)."""
    view = bank_service.add_bank(
        svc(), code, name, prefix=prefix, period=int(period), digits=int(digits), algorithm=algorithm.upper(),
        colour=colour, logo_url=logo_url, contact=contact, service_id=service_id, demo=demo,
        removal_policy=removal_policy, stop_cooloff_hours=stop_cooloff_hours,
        reregister_delay_days=reregister_delay_days, embed_origins=embed_origins, return_urls=return_urls,
        client=OPERATOR,
    )
    click.echo(f"bank {view.code} {view.name} added: prefix {view.token_prefix}, {view.token_period} s tokens, "
               f"service ID {view.service_id}, removal {view.removal_policy}{' (demo)' if view.is_demo else ''}")


@bank.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bank_list(as_json: bool) -> None:
    """List the banks."""
    banks = bank_service.list_banks(svc())
    if as_json:
        emit_json([asdict(b) for b in banks])
        return
    table([[b.code, b.name, b.token_prefix, f"{b.token_period}s", b.service_id, "demo" if b.is_demo else ""]
           for b in banks], ["code", "name", "prefix", "period", "service_id", ""])


@bank.command("update")
@click.argument("code")
@click.option("--name", help="The bank's name as customers see it.")
@click.option("--colour", help="Brand colour, #rrggbb.")
@click.option("--logo-url", help="Logo shown on its pages (an https:// URL or a path here; '' removes it).")
@click.option("--contact", help="Contact line for pages and mails.")
@click.option("--removal-policy", type=click.Choice(bank_service.REMOVAL_POLICIES), help=REMOVAL_HELP)
@click.option("--stop-cooloff", "stop_cooloff_hours", type=click.IntRange(0, bank_service.MAX_COOLOFF_HOURS),
              help=COOLOFF_HELP)
@click.option("--reregister-delay-days", type=click.IntRange(0, 30),
              help="Days after a stop before the customer may register again.")
@click.option("--embed-origin", "embed_origins", multiple=True,
              help="Origin allowed to frame its pages (repeat; replaces the list).")
@click.option("--clear-embed-origins", is_flag=True, help="No origin may frame its pages any more.")
@click.option("--return-url", "return_urls", multiple=True,
              help="URL a redirect flow may return to (repeat; replaces the list).")
@click.option("--clear-return-urls", is_flag=True, help="No redirect flow may return anywhere any more.")
def bank_update(code: str, name: str | None, colour: str | None, logo_url: str | None, contact: str | None,
                removal_policy: str | None, stop_cooloff_hours: int | None,
                reregister_delay_days: int | None, embed_origins: tuple[str, ...], clear_embed_origins: bool,
                return_urls: tuple[str, ...], clear_return_urls: bool) -> None:
    """Change bank CODE's branding, policies, embed origins or return URLs (what is not given stays)."""
    if embed_origins and clear_embed_origins:
        raise click.UsageError("give --embed-origin or --clear-embed-origins, not both")
    if return_urls and clear_return_urls:
        raise click.UsageError("give --return-url or --clear-return-urls, not both")
    view = bank_service.update_bank(
        svc(), code, name=name, colour=colour, logo_url=logo_url, contact=contact,
        removal_policy=removal_policy, stop_cooloff_hours=stop_cooloff_hours,
        reregister_delay_days=reregister_delay_days,
        embed_origins=() if clear_embed_origins else (embed_origins or None),
        return_urls=() if clear_return_urls else (return_urls or None),
        client=OPERATOR,
    )
    click.echo(f"bank {view.code} updated: embed origins {' '.join(view.embed_origins) or '(none)'}; "
               f"return URLs {' '.join(view.return_urls) or '(none)'}")


@bank.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bank_show(code: str, as_json: bool) -> None:
    """Show bank CODE's settings: branding, token settings, policies, embed origins and return URLs."""
    services = svc()
    view = bank_service.get_bank(services, code)
    values = {**asdict(view), "result_key": result_service.current_kid(services, code)}
    if as_json:
        emit_json(values)
        return
    for key, value in values.items():
        shown = " ".join(value) if isinstance(value, list | tuple) else value
        click.echo(f"{key:<24}{'' if shown is None else shown}")


@bank.command("result-key")
@click.argument("code")
def bank_result_key(code: str) -> None:
    """Make a new key that signs bank CODE's flow results; earlier keys stop signing at once.

    The key is shown once, alone on the last line: the bank verifies results (HS256 JWTs) with it.
    """
    new = result_service.create_result_key(svc(), code, client=OPERATOR)
    click.echo(f"new result-signing key for bank {code}, kid {new.kid} (shown only now; give it to the bank):")
    click.echo(new.key)


@bank.command("api-key")
@click.argument("code")
@click.option("--label", help="What the key is for.")
def bank_api_key(code: str, label: str | None) -> None:
    """Make a new API key for bank CODE; it is shown once, alone on the last line."""
    key = bank_service.create_api_key(svc(), code, label, client=OPERATOR)
    # Only the key's hash is stored: this is the one time anybody sees it.
    click.echo(f"new API key for bank {code}, prefix {key[:KEY_PREFIX_LENGTH]} (shown only now; keep it secret):")
    click.echo(key)


@bank.command("revoke-key")
@click.argument("code")
@click.argument("prefix")
def bank_revoke_key(code: str, prefix: str) -> None:
    """Revoke bank CODE's live keys that start with PREFIX (8–12 characters), or one whole key."""
    if len(prefix) < 8:
        raise click.BadParameter("give at least the key's first 8 characters", param_hint="PREFIX")
    services = svc()
    if len(prefix) > KEY_PREFIX_LENGTH:
        # Longer than the stored prefix: it must be a whole key, which we can check against its hash.
        owner = bank_service.bank_for_api_key(services, prefix)
        if owner is None or owner.code != code:
            raise click.ClickException(f"that is not a live key of bank {code} (give 8–12 characters or the whole key)")
        prefix = prefix[:KEY_PREFIX_LENGTH]
    count = bank_service.revoke_api_key(services, code, prefix, client=OPERATOR)
    if not count:
        raise click.ClickException(f"no live key of bank {code} starts with {prefix}")
    click.echo(f"revoked {count} key(s) of bank {code}")


# --- customers -------------------------------------------------------------------------------------
@click.group()
def customer() -> None:
    """Customers: add, import, show, unlock."""


@customer.command("add")
@click.argument("code")
@click.argument("contract_id")
@click.option("--password", help="Login password, 6–32 characters (prompted, hidden, when omitted).")
@click.option("--confirmation-password", help="確認用パスワード, 6–12 letters and digits (prompted when omitted).")
@click.option("--email", help="Where notices go.")
def customer_add(code: str, contract_id: str, password: str | None, confirmation_password: str | None,
                 email: str | None) -> None:
    """Add customer CONTRACT_ID to bank CODE."""
    services = svc()
    # Checked before the prompts: nobody should type passwords for an unknown bank or a malformed ID.
    bank_service.get_bank(services, code)
    normalise_contract_id(contract_id)
    if password is None:
        password = click.prompt("Login password", hide_input=True, confirmation_prompt=True)
    if confirmation_password is None:
        confirmation_password = click.prompt("Confirmation password (確認用パスワード)", hide_input=True,
                                             confirmation_prompt=True)
    view = customer_service.add_customer(services, code, contract_id, password, confirmation_password, email,
                                         client=OPERATOR)
    click.echo(f"customer {view.contract_id} added to bank {view.bank_code}")


@customer.command("import")
@click.argument("code")
@click.argument("csv_file", metavar="CSV", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def customer_import(code: str, csv_file: Path) -> None:
    """Add customers to bank CODE from a UTF-8 CSV with the header contract_id,password,confirmation_password,email.

    One line per row; the exit status is 1 when any row was not imported.
    """
    services = svc()
    bank_service.get_bank(services, code)  # an unknown bank is one error, not one per row
    added = failed = 0
    try:
        with csv_file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in CSV_COLUMNS[:2] if name not in (reader.fieldnames or [])]
            if missing:
                raise click.ClickException(f"{csv_file.name}: the header lacks {', '.join(missing)} "
                                           f"(expected {','.join(CSV_COLUMNS)})")
            for row in reader:
                line = reader.line_num
                contract_id = (row.get("contract_id") or "").strip()
                try:
                    customer_service.add_customer(
                        services, code, contract_id, row.get("password") or "",
                        row.get("confirmation_password") or None, (row.get("email") or "").strip() or None,
                        client=OPERATOR,
                    )
                except GatewayError as error:
                    failed += 1
                    click.echo(f"line {line}: {contract_id or '(empty)'}: {describe(error)}")
                else:
                    added += 1
                    click.echo(f"line {line}: {contract_id}: added")
    except UnicodeDecodeError:
        raise click.ClickException(f"{csv_file.name} is not UTF-8 text") from None
    except csv.Error as error:
        raise click.ClickException(f"{csv_file.name}: not a readable CSV ({error})") from None
    click.echo(f"{added} added, {failed} failed")
    if failed:
        raise click.ClickException(f"{failed} row(s) not imported")


@customer.command("show")
@click.argument("code")
@click.argument("contract_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def customer_show(code: str, contract_id: str, as_json: bool) -> None:
    """Show a customer's OTP status and lockouts (the token ID masked)."""
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
    view = customer_service.unlock_customer(svc(), code, contract_id, client=OPERATOR)
    click.echo(f"customer {view.contract_id} of bank {view.bank_code} unlocked")
