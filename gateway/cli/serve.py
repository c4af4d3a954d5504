"""`otp-gateway serve`: the production WSGI server (gunicorn), one app per worker process."""

from __future__ import annotations

import importlib
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from .. import create_app, services
from ..storage import migrate


class GatewayServer(BaseApplication):  # type: ignore[misc]
    """gunicorn driven from code; each worker builds its own app (no engine shared across a fork)."""

    def __init__(self, options: dict[str, Any], app_spec: str | None = None) -> None:
        self.options = options
        self.app_spec = app_spec
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings newer gunicorns added are skipped on older ones
                self.cfg.set(key, value)

    def load(self) -> Any:
        if self.app_spec:
            module, _, attr = self.app_spec.partition(":")
            return getattr(importlib.import_module(module), attr or "app")
        return create_app()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--app", "app_spec", hidden=True, help="module:attr of another WSGI app (benchmark baseline).")
def serve(host: str, port: int, workers: int, app_spec: str | None) -> None:
    """Serve the gateway with gunicorn (sync workers, access log on stdout)."""
    if app_spec is None:
        app = create_app()
        try:
            if not migrate.is_current(services(app).db):
                raise click.ClickException("database schema is not current; run otp-gateway init-db")
        finally:
            services(app).db.dispose()
    click.echo(f"serving on http://{host}:{port}/ with {workers} worker(s); Ctrl-C stops", err=True)
    GatewayServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "sync",
            "accesslog": "-",
            # Paths and status only: no query strings, cookies or bodies (nothing secret in logs).
            "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
            "timeout": 30,
            "graceful_timeout": 10,
            "proc_name": "otp-gateway",
            # No shared control socket in $HOME: several servers may run side by side.
            "control_socket_disable": True,
        },
        app_spec,
    ).run()
