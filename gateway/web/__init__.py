"""Blueprints and the response headers every page carries."""

from __future__ import annotations

from flask import Flask

from . import status


def init_app(app: Flask) -> None:
    app.register_blueprint(status.bp)
