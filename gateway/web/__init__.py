"""Blueprints, CSRF protection, rate limits, server-side sessions and the headers every page carries."""

from __future__ import annotations

from flask import Flask, current_app, redirect, url_for
from flask_wtf import CSRFProtect
from werkzeug.wrappers import Response

from .. import observability
from ..networks import parse_networks
from . import limits, proxies, security, status
from .sessions import DatabaseSessionInterface

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    app.session_interface = DatabaseSessionInterface()
    from .api.verify import FastPath

    app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]  # inside the observer below
    observability.init_app(app)  # request timing, the request log, audit-event metrics
    security.init_app(app)
    csrf.init_app(app)
    limits.init_app(app)
    app.register_blueprint(status.bp)
    # Outermost: what every layer below sees as the client's address and scheme.
    app.wsgi_app = proxies.TrustedProxies(  # type: ignore[method-assign]
        app.wsgi_app, parse_networks("TRUSTED_PROXIES", app.config["TRUSTED_PROXIES"]), app.config["PROXY_HOPS"])

    from . import demo, ib_menu, login, register, setup, stop  # noqa: F401 - their routes join the pages blueprint
    from .pages import bp as pages

    app.register_blueprint(pages)
    from . import embed

    embed.init_app(app)  # the iframe variants of registration and stop use, and the redirect return
    from .api import bp as partner_api
    from .provision_api import bp as provision_api

    for api in (provision_api, partner_api):
        csrf.exempt(api)
        app.register_blueprint(api)
    app.add_url_rule("/", "home", _home)


def _home() -> Response:
    return redirect(url_for("pages.login", bank_code=current_app.config["DEFAULT_BANK"]))
