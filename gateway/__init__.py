"""otp-gateway: OTP token registration and verification for internet banking."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from . import config as config_module
from .mail import Mailer
from .paths import resource
from .services import Policy, Services
from .storage.db import Database
from .storage.sealing import Sealer

__all__ = ["create_app", "services"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The WSGI application, configured from `GATEWAY_*` variables, then `test_config`."""
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("GATEWAY_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        instance_relative_config=True,
        template_folder=str(resource("templates")),
        static_folder=str(resource("static")),
    )
    app.config.from_mapping(config_module.load(app.instance_path, test_config))
    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Alembic narrates every schema look-up at INFO; `otp-gateway init-db` says what it did itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))

    db = Database(app.config["DATABASE_URL"])
    app.extensions["gateway"] = Services(
        mailer=Mailer(db, app.config["MAIL_URL"]),
        db=db,
        sealer=Sealer.from_config(app.config["SEAL_KEYS"]),
        policy=Policy(
            otp_window=app.config["OTP_WINDOW"],
            otp_max_failures=app.config["OTP_MAX_FAILURES"],
            password_max_failures=app.config["PASSWORD_MAX_FAILURES"],
            timezone=app.config["TIMEZONE"],
            public_base_url=str(app.config["PUBLIC_BASE_URL"] or ""),
        ),
    )

    from .web import init_app as init_web
    from .web.bodies import JSONProvider

    app.json = JSONProvider(app)  # JSON too deep to parse is malformed JSON, for every get_json
    init_web(app)
    return app
