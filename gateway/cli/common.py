"""What every command shares: the app (built lazily, so --help needs no database), output helpers."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import click
from flask import Flask

from .. import create_app, services
from ..domain.errors import GatewayError
from ..services import Services

#: Plain words for the typed errors an operator can meet.
MESSAGES = {
    "unknown_bank": "unknown bank",
    "bank_exists": "a bank with that code exists",
    "customer_exists": "that contract ID exists in this bank",
    "unknown_customer": "unknown contract ID",
    "unknown_token": "unknown token ID",
}


def app() -> Flask:
    context = click.get_current_context()
    root = context.find_root()
    if "app" not in root.meta:
        root.meta["app"] = create_app()
        root.call_on_close(lambda: services(root.meta["app"]).db.dispose())
    return root.meta["app"]


def svc() -> Services:
    return services(app())


def describe(error: GatewayError) -> str:
    base = MESSAGES.get(error.code, error.code.replace("_", " "))
    detail = str(error)
    return base if detail in ("", error.code) else f"{base}: {detail}"


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _width(text: str) -> int:
    """Terminal columns: full-width (Japanese) characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(_width(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    for line in [headers, *rows]:
        cells = [str(cell) + " " * (width - _width(str(cell))) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join(cells).rstrip())
