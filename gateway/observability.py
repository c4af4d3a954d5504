"""Operations: Prometheus metrics, the structured request log, and the hooks that feed them.

Metrics come from two places, each costing a few microseconds:

* every audit event (`audit_appended`, called by the audit trail's append): verification outcomes by bank,
  lockouts, and all events by name and result. They are counted when the transaction that wrote them
  commits, so a rolled-back attempt is never counted;
* every HTTP request (`RequestObserver`, a WSGI wrapper): latency by endpoint and method, responses by
  status class, and one JSON line on the `gateway.request` logger.

Under `otp-gateway serve` each worker process writes its values to files in `PROMETHEUS_MULTIPROC_DIR` and
`/metrics` adds up all workers. prometheus_client chooses that mode when it is first imported, so it is
imported here only when the first metric is needed, never at import time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, g, request
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

from .networks import address_in, parse_networks
from .storage import audit

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "METRICS_CONTENT_TYPE",
    "RequestObserver",
    "audit_appended",
    "init_app",
    "metrics",
    "metrics_allowed",
    "render_metrics",
]

REQUEST_LOG = logging.getLogger("gateway.request")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds; verification takes milliseconds, pages tens of milliseconds, password hashing about 50 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: An `X-Request-Id` from a load balancer is kept only if it is short and plain; otherwise a new one is made.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

# --- audit events → metrics ----------------------------------------------------------------------------
#: The audit result of a code check → the outcome label of `gateway_verify_total`.
OUTCOMES = {
    "ok": "accepted",
    "invalid_code": "rejected",
    "out_of_sync": "out_of_sync",
    "throttled": "throttled",
    "replayed_code": "replayed",
    "credential_locked": "locked",
    "not_registered": "not_registered",
    "malformed_otp": "malformed",
}
#: Audit events whose `locked_now` result locks something, and what it locks.
LOCKOUT_EVENTS = {
    "login.password": "customer",
    "confirmation.password": "customer",
    "token.provision": "activation",
    "credential.register": "registration",  # a customer's wrong tries at registration (never the token's)
}
_PENDING = "gateway.metrics.pending"
_WATCHED: weakref.WeakSet[Engine] = weakref.WeakSet()
_fresh_lock: Any = None


def is_verification(event_name: str) -> bool:
    """A code check of a bound token to let a customer in: the partner API's and the login page's."""
    return event_name == "otp.verify" or event_name.endswith(".otp")


def audit_appended(session: Session | Connection, values: dict[str, Any], locked_now: bool | None = None) -> None:
    """Note an appended audit row; its metrics are counted when the transaction commits.

    `locked_now`: whether a `credential_locked` row's attempt locked the credential, if the caller knows
    (else the database is asked).
    """
    connection = session.connection() if isinstance(session, Session) else session
    if connection.engine not in _WATCHED:
        return
    name, result = values["event"], values["result"]
    lockout = None
    if result == "locked_now":
        lockout = LOCKOUT_EVENTS.get(name, "other")
    elif result == "credential_locked" and values.get("credential_id"):
        if locked_now is None:
            locked_now = _locked_by_this_attempt(connection, values)
        lockout = "credential" if locked_now else None
    connection.info.setdefault(_PENDING, []).append((name, result, values.get("bank_code"), lockout))


def _locked_by_this_attempt(connection: Connection, values: dict[str, Any]) -> bool:
    """A wrong code that locks a credential stamps `locked_at` with the attempt's own time; a later try
    on a locked credential does not. Asked only for `credential_locked` results, which are rare."""
    global _fresh_lock
    if _fresh_lock is None:
        from sqlalchemy import bindparam, literal, select

        from .storage.models import Bank, Credential

        _fresh_lock = select(literal(1)).where(
            Credential.credential_id == bindparam("credential_id"), Credential.locked_at == bindparam("now"),
            Credential.bank_id == select(Bank.id).where(Bank.code == bindparam("bank_code")).scalar_subquery())
    found = connection.execute(_fresh_lock, {"credential_id": values["credential_id"], "now": values["created_at"],
                                             "bank_code": values.get("bank_code")}).first()
    return found is not None


def watch_engine(engine: Engine) -> None:
    """Count the audit events of `engine`'s transactions when they commit; drop them on rollback."""
    if engine in _WATCHED:
        return
    event.listen(engine, "rollback", _drop_pending)
    event.listen(engine, "commit", _count_pending)
    _WATCHED.add(engine)


def _drop_pending(connection: Connection) -> None:
    if _PENDING in connection.info:
        del connection.info[_PENDING]


def _count_pending(connection: Connection) -> None:
    count_committed(connection.info)


def count_committed(info: dict[str, Any]) -> None:
    """Count the audit events a committed transaction noted in its `info`."""
    pending = info.pop(_PENDING, None)
    if not pending:
        return
    for item in pending:
        counters = _audit_children.get(item)
        if counters is None:
            counters = _audit_children[item] = _audit_counters(*item)
        for counter in counters:
            counter.inc()


def _audit_counters(name: str, result: str, bank_code: str | None, lockout: str | None) -> tuple[Any, ...]:
    """The labelled counters one audit event adds to (looked up once per distinct event, then reused)."""
    m = metrics()
    bank = bank_code or "-"
    counters = [m.audit_events.labels(name, result)]
    if is_verification(name):
        counters.append(m.verify.labels(bank, OUTCOMES.get(result, "other")))
    if lockout:
        counters.append(m.lockouts.labels(bank, lockout))
    return tuple(counters)


#: Label look-ups cost more than the increments; the label sets are few (events × results × banks).
_audit_children: dict[tuple[str, str, str | None, str | None], tuple[Any, ...]] = {}
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


# --- the metrics ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    verify: Counter
    lockouts: Counter
    audit_events: Counter
    request_seconds: Histogram
    requests: Counter


_metrics: Metrics | None = None
_metrics_lock = threading.Lock()


def metrics() -> Metrics:
    """This process's metrics, made on first use (after `otp-gateway serve` chose multiprocess mode)."""
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                _metrics = _build()
    return _metrics


def _build() -> Metrics:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        verify=Counter("gateway_verify", "Code verifications (partner API and login page) by bank and outcome.",
                       ["bank", "outcome"], registry=registry),
        lockouts=Counter("gateway_lockouts", "Lockouts: credential (wrong codes), customer (wrong passwords), "
                         "activation (wrong activation passwords).", ["bank", "kind"], registry=registry),
        audit_events=Counter("gateway_audit_events", "Audit trail events by event and result.",
                             ["event", "result"], registry=registry),
        request_seconds=Histogram("gateway_http_request_duration_seconds", "Time to answer an HTTP request.",
                                  ["endpoint", "method"], buckets=LATENCY_BUCKETS, registry=registry),
        requests=Counter("gateway_http_requests", "HTTP responses by endpoint, method and status class.",
                         ["endpoint", "method", "status"], registry=registry),
    )


def render_metrics() -> bytes:
    """The text exposition: all worker processes added up in multiprocess mode, else this process."""
    from prometheus_client import CollectorRegistry, generate_latest

    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)
    return generate_latest(metrics().registry)


# --- who may read /metrics -------------------------------------------------------------------------------
def metrics_allowed(app: Flask, address: str | None) -> bool:
    """Whether the client at `address` (the TCP peer, not a forwarded header) may read `/metrics`."""
    return address_in(address, app.extensions["gateway.metrics_allow"])


# --- requests: latency, status, and the request log --------------------------------------------------------
_ENDPOINT = "gateway.endpoint"
_BANK = "gateway.bank"


class RequestObserver:
    """WSGI wrapper: times the whole request (session load and save included), gives it an id, records it."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        offered = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = offered if REQUEST_ID.fullmatch(offered) else os.urandom(16).hex()
        environ["gateway.request_id"] = request_id
        status = [500]

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            status[0] = int(status_line[:3])
            headers.append(("X-Request-Id", request_id))
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            _record(environ, status[0], time.perf_counter() - started, request_id)


def _record(environ: WSGIEnvironment, status: int, seconds: float, request_id: str) -> None:
    endpoint = environ.get(_ENDPOINT) or "unmatched"
    method = environ.get("REQUEST_METHOD", "")
    label = method if method in METHODS else "other"
    key = (endpoint, label, status // 100)
    children = _request_children.get(key)
    if children is None:
        m = metrics()
        children = _request_children[key] = (m.request_seconds.labels(endpoint, label),
                                             m.requests.labels(endpoint, label, f"{status // 100}xx"))
    children[0].observe(seconds)
    children[1].inc()
    if REQUEST_LOG.isEnabledFor(logging.INFO):
        # Never the query string, a body, a header's value or a cookie: only what is listed here.
        fields = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": request_id,
            "method": method[:16],
            "path": (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))[:512],
            "endpoint": endpoint,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "bank": environ.get(_BANK),
            "ip": environ.get("REMOTE_ADDR"),
        }
        # A record made directly: Logger.info would walk the stack for a caller nobody reads.
        record = logging.LogRecord(REQUEST_LOG.name, logging.INFO, __file__, 0,
                                   json.dumps(fields, ensure_ascii=False, separators=(",", ":")), None, None)
        record.__dict__["request_fields"] = fields  # for handlers that want the fields, not the line
        REQUEST_LOG.handle(record)


def _note_request(response: Any) -> Any:
    """After every view (error pages included): what only the Flask request knows, for the log and metrics."""
    environ = request.environ
    environ[_ENDPOINT] = request.endpoint or "unmatched"
    bank = g.get("bank") or g.get("api_bank")
    code = getattr(bank, "code", None) or g.get("api_bank_code")  # the API's verify finds its bank itself
    if code is None and request.view_args:
        code = request.view_args.get("bank_code")
    if code is not None:
        environ[_BANK] = str(code)[:16]
    return response


def note_request(environ: WSGIEnvironment, endpoint: str, bank_code: str | None) -> None:
    """What `_note_request` notes, for a request answered outside Flask (the API's hot path)."""
    environ[_ENDPOINT] = endpoint
    if bank_code is not None:
        environ[_BANK] = str(bank_code)[:16]


def log_requests_to(stream: Any) -> None:
    """Write the request log alone, one JSON line per request, to `stream` (the server's stdout)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    REQUEST_LOG.addHandler(handler)
    REQUEST_LOG.propagate = False


def init_app(app: Flask) -> None:
    app.extensions["gateway.metrics_allow"] = parse_networks("METRICS_ALLOW", app.config.get("METRICS_ALLOW", ""))
    db = app.extensions["gateway"].db
    watch_engine(db.engine)
    if audit_appended not in audit.APPEND_LISTENERS:
        audit.APPEND_LISTENERS.append(audit_appended)
    if count_committed not in db.commit_listeners:
        db.commit_listeners.append(count_committed)
    app.after_request(_note_request)
    app.wsgi_app = RequestObserver(app.wsgi_app)  # type: ignore[method-assign]
