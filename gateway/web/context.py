"""The use cases' context (`Services`: database, sealer, policy, mailer) of a Flask app, as `create_app` made it."""

from __future__ import annotations

from flask import Flask, current_app

from ..services import Services


def app_services(app: Flask | None = None) -> Services:
    """The use-case context of `app` (or of the current app)."""
    return (app or current_app).extensions["gateway"]  # type: ignore[no-any-return]
