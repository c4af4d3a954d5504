"""Where the templates, static files and migrations are: the checkout's top level, or inside a wheel."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = PACKAGE.parent
_BUNDLED = PACKAGE / "_resources"


def resource(name: str) -> Path:
    """`templates`, `static` or `migrations`: the checkout's folder if there is one, else the wheel's copy."""
    top = _CHECKOUT / name
    return top if top.is_dir() else _BUNDLED / name
