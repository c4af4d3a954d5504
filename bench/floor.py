"""The floor with PostgreSQL: a bare WSGI app that makes a verify's round trips and does nothing else.

Served like the gateway. Each request spends the key's budget in the same limiter storage (Redis), reads
one row, then writes one row and appends one in a single statement that commits on its own (autocommit),
as the gateway's verify does; no HMAC, no unsealing, no audit text, no Flask. Its ratio to the baseline is
the most a verify can reach on this machine with this database: the gateway's own ratio is read against it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import limits
import psycopg
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

TABLES = (
    "CREATE TABLE IF NOT EXISTS bench_floor (id integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS bench_floor_log (id bigserial PRIMARY KEY, n bigint NOT NULL, body text NOT NULL)",
    "INSERT INTO bench_floor (id) SELECT g FROM generate_series(0, 9999) AS g ON CONFLICT DO NOTHING",
)
DROP = "DROP TABLE IF EXISTS bench_floor, bench_floor_log"
READ = "SELECT n FROM bench_floor WHERE id = %s"
WRITE = ("WITH u AS (UPDATE bench_floor SET n = n + 1 WHERE id = %s RETURNING n) "
         "INSERT INTO bench_floor_log (n, body) SELECT n, %s FROM u RETURNING id")

_local = threading.local()
_budget = limits.parse(os.environ.get("GATEWAY_RATELIMIT_API_PER_KEY", "100000000 per minute"))
_limiter: FixedWindowRateLimiter | None = None


def conninfo(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://…) as libpq takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _connection() -> psycopg.Connection[Any]:
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = psycopg.connect(conninfo(os.environ["GATEWAY_DATABASE_URL"]),
                                                         autocommit=True)
    return connection


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    global _limiter
    if environ.get("PATH_INFO") == "/healthz":
        body = b'{"status":"ok"}'
    else:
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        contract_id = str(json.loads(raw).get("contract_id", ""))
        if _limiter is None:
            _limiter = FixedWindowRateLimiter(storage_from_string(os.environ["GATEWAY_RATELIMIT_STORAGE_URI"]))
        _limiter.hit(_budget, "partner-api", environ.get("HTTP_AUTHORIZATION", "")[-32:])
        row = hash(contract_id) % 10_000
        connection = _connection()
        connection.execute(READ, (row,)).fetchone()
        connection.execute(WRITE, (row, contract_id)).fetchone()
        body = b'{"result":"rejected"}\n'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def create_tables(url: str) -> None:
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        for statement in TABLES:
            connection.execute(statement)


def drop_tables(url: str) -> None:
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        connection.execute(DROP)
