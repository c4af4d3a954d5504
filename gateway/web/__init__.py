"""Blueprints, CSRF protection and rate limits."""

from __future__ import annotations

from flask import Flask
from flask_wtf import CSRFProtect

from . import limits, status

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    limits.init_app(app)
    app.register_blueprint(status.bp)
