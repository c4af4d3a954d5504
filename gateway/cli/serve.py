"""`otp-gateway serve`: the production WSGI server (gunicorn), one app per worker process."""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import sys
import tempfile
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from .. import create_app, observability
from ..web.context import app_services

#: For another app (`--app`) only: gunicorn's access log, paths and status without query strings. The gateway
#: writes its own request log instead (one JSON line per request on stdout, see gateway.observability).
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


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
        observability.log_requests_to(sys.stdout)
        return create_app()


def options(host: str, port: int, workers: int, threads: int, access_log: bool = False) -> dict[str, Any]:
    """gunicorn settings: sync workers, or gthread when each worker runs several threads."""
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread" if threads > 1 else "sync",
        "threads": threads,
        "accesslog": "-" if access_log else None,
        "access_log_format": ACCESS_LOG_FORMAT,
        "child_exit": _child_exit,
        "timeout": 30,
        "graceful_timeout": 10,
        "proc_name": "otp-gateway",
        # No shared control socket in $HOME: several servers may run side by side.
        "control_socket_disable": True,
        # Forwarded headers are the app's to weigh, from TRUSTED_PROXIES only (gateway.web.proxies): gunicorn
        # would otherwise take X-Forwarded-Proto from any client on the loopback address.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
    }


def _child_exit(_server: Any, worker: Any) -> None:
    """A worker ended: its counters stay in the metrics directory (they still count), its live gauges go."""
    directory = os.environ.get(observability.MULTIPROC_ENV)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, directory)


def metrics_directory() -> str:
    """A fresh private directory (mode 0700) where every worker writes its metrics, so /metrics adds them up.

    Set before any worker starts and before prometheus_client is imported: its mode is chosen at import.
    A directory left by an earlier run would carry stale counts, so each server gets its own.
    """
    directory = tempfile.mkdtemp(prefix="otp-gateway-metrics-")
    os.environ[observability.MULTIPROC_ENV] = directory
    return directory


def check_app(workers: int) -> None:
    """Refuse to serve what would fail request by request: an old or missing schema, or rate limits that each
    of several workers would count alone."""
    from ..storage import migrate  # Alembic only where it is needed; other commands start faster

    app = create_app()
    try:
        if not migrate.is_current(app_services(app).db):
            raise click.ClickException("database schema is not current; run otp-gateway init-db")
        storage = str(app.config["RATELIMIT_STORAGE_URI"])
        if workers > 1 and storage.startswith("memory://"):
            raise click.ClickException(
                f"RATELIMIT_STORAGE_URI={storage} counts in each of the {workers} workers alone (every limit "
                f"{workers} times over): leave it unset (a file this host's workers share), use redis://… "
                "where several hosts serve, or serve with --workers 1")
    finally:
        app_services(app).db.dispose()


def check_bind(host: str, port: int) -> None:
    """One clear line when the address is taken or unknown (gunicorn would retry and log for seconds)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
            probe.bind(address)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Worker processes.")
@click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Threads per worker (more than 1: gthread workers).")
@click.option("--app", "app_spec", hidden=True, help="module:attr of another WSGI app (benchmark baseline).")
def serve(host: str, port: int, workers: int, threads: int, app_spec: str | None) -> None:
    """Serve the gateway with gunicorn; the request log (JSON lines) goes to stdout."""
    directory = metrics_directory()
    master = os.getpid()
    try:
        if app_spec is None:
            check_app(workers)
        check_bind(host, port)
        click.echo(f"serving on http://{host}:{port}/ with {workers} worker(s); Ctrl-C stops", err=True)
        GatewayServer(options(host, port, workers, threads, access_log=app_spec is not None), app_spec).run()
    finally:
        if os.getpid() == master:  # a worker leaves through here too when it exits; only the server cleans up
            shutil.rmtree(directory, ignore_errors=True)
