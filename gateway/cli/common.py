"""What every command shares: the app (built lazily, so --help needs no database), wording, output helpers."""

from __future__ import annotations

import json
import logging
import os
import unicodedata
from typing import Any

import click
from flask import Flask

from .. import create_app
from ..domain.errors import GatewayError, InvalidInput
from ..services import Services
from ..web.context import app_services

#: Plain words for the typed errors an operator can meet.
MESSAGES = {
    "unknown_bank": "unknown bank",
    "bank_exists": "a bank with that code exists",
    "customer_exists": "that contract ID exists in this bank",
    "unknown_customer": "unknown contract ID",
    "unknown_token": "unknown token ID",
}
#: The rule behind an input the domain answered with a bare "format".
RULES = {
    "code": "1–16 letters and digits",
    "contract_id": "1–32 letters and digits",
    "password": "6–32 printable ASCII characters, no spaces",
    "confirmation_password": "6–12 letters and digits",
    "email": "not an e-mail address",
    "credential_id": "a token ID is 1–32 letters and digits, e.g. SYMC12345678",
}


def app() -> Flask:
    """The app of this command line, built on first use and its database closed when the command ends."""
    root = click.get_current_context().find_root()
    if "app" not in root.meta:
        root.meta["app"] = create_app()
        if not os.environ.get("GATEWAY_LOG_LEVEL"):
            # A command says what it did itself; INFO chatter on stderr would bury its one `error:` line.
            logging.getLogger().setLevel(logging.WARNING)
        root.call_on_close(lambda: app_services(root.meta["app"]).db.dispose())
    return root.meta["app"]


def svc() -> Services:
    return app_services(app())


def describe(error: GatewayError) -> str:
    """One line for a typed error: its plain name and, when it has one, its detail."""
    if isinstance(error, InvalidInput):
        return explain(error)
    base = MESSAGES.get(error.code, error.code.replace("_", " "))
    detail = str(error)
    return base if detail in ("", error.code) else f"{base}: {detail}"


def explain(error: InvalidInput) -> str:
    """`invalid <field>: <rule>`; the value itself is never echoed (it may be a password)."""
    reason = RULES.get(error.field, error.reason) if error.reason == "format" else error.reason
    return f"invalid {error.field.replace('_', ' ')}: {reason}"


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _width(text: str) -> int:
    """Terminal columns: full-width (Japanese) characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def table(rows: list[list[str]], headers: list[str]) -> None:
    """A plain aligned table; nothing but the headers when there are no rows."""
    widths = [max(_width(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    for line in [headers, *rows]:
        cells = [str(cell) + " " * (width - _width(str(cell))) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join(cells).rstrip())
