"""Forwarded headers believed only from the reverse proxies the operator named (`TRUSTED_PROXIES`).

Behind a proxy, the client's address and scheme arrive in `X-Forwarded-For` / `-Proto` / `-Host` / `-Port`.
From any other peer those headers are somebody's claim: a client sending `X-Forwarded-Proto: https` over plain
HTTP must not get HSTS or secure cookies, nor a forged `X-Forwarded-For` a fresh rate-limit budget. So a
request from an address in TRUSTED_PROXIES goes through werkzeug's ProxyFix (`PROXY_HOPS` proxies deep); from
anyone else the headers are dropped before anything reads them. The TCP peer stays in `environ[PEER]` for the
checks that must never follow a header (who may read /metrics).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

from ..networks import Network, address_in

#: Where the TCP peer's address is kept, whatever a trusted proxy says the client's is.
PEER = "gateway.peer"
FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
             "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")


class TrustedProxies:
    """The outermost WSGI layer: forwarded headers applied from a trusted proxy, dropped from anyone else."""

    def __init__(self, wsgi_app: Callable[..., Any], networks: tuple[Network, ...], hops: int) -> None:
        self.wsgi_app = wsgi_app
        self.networks = networks
        self.fixed = ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[PEER] = environ.get("REMOTE_ADDR")
        if address_in(environ[PEER], self.networks):
            return self.fixed(environ, start_response)
        for name in FORWARDED:
            environ.pop(name, None)
        return self.wsgi_app(environ, start_response)
