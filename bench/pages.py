"""The customer pages under load: LGN001 → LGN002 as a browser does it (page, CSRF token, cookie, redirect).

wrk cannot carry a session cookie and a CSRF token from one request to the next, so this is a small
threaded HTTP client. Each journey: GET the login page, POST 契約者ID and ログインパスワード (one argon2id
check on the server: that is the cost a login has to pay), follow the redirect to the code page. The
same client measures the baseline route in the same run, so the ratio compares like with like.
"""

from __future__ import annotations

import http.client
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SCREEN = re.compile(r"画面ID : ([A-Z0-9]+)")


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    failures: int = 0
    server_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, requests: int, ok: bool, server_error: bool) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.requests += requests
            self.failures += 0 if ok else 1
            self.server_errors += 1 if server_error else 0


class Browser:
    """One visitor: a cookie jar and one request at a time (gunicorn's sync workers close each connection)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookies: dict[str, str] = {}
        self.statuses: list[int] = []

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) bench", "Accept-Language": "ja"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            self.statuses.append(response.status)
            return response.status, response.headers.get("Location", ""), text
        finally:
            connection.close()


def login_journey(base: str, bank: str, contract_id: str, password: str) -> tuple[bool, list[int]]:
    """LGN001 (GET, POST) → LGN002 (GET). True when the code page is reached."""
    browser = Browser(base)
    status, _, page = browser.request("GET", f"/b/{bank}/")
    token = CSRF.search(page)
    if status != 200 or token is None:
        return False, browser.statuses
    status, location, _ = browser.request("POST", f"/b/{bank}/", {
        "csrf_token": token.group(1), "contract_id": contract_id, "password": password})
    if status != 302 or not location:
        return False, browser.statuses
    status, _, page = browser.request("GET", urlsplit(location).path)
    screen = SCREEN.search(page)
    return status == 200 and screen is not None and screen.group(1) == "LGN002", browser.statuses


def baseline_journey(base: str) -> tuple[bool, list[int]]:
    """Three requests to the bare Flask route, through the same client."""
    browser = Browser(base)
    for _ in range(3):
        browser.request("GET", "/healthz")
    return all(status == 200 for status in browser.statuses), browser.statuses


def drive(journey: Callable[[], tuple[bool, list[int]]], connections: int, seconds: float) -> dict[str, Any]:
    """Run journeys from `connections` threads for `seconds`; requests/s, journeys/s and latencies."""
    tally = Tally()
    stop_at = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                ok, statuses = journey()
            except (OSError, http.client.HTTPException):
                ok, statuses = False, []
            tally.add(time.perf_counter() - started, len(statuses), ok, any(s >= 500 for s in statuses))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(tally.latencies) or [0.0]
    return {
        "rps": tally.requests / elapsed,
        "journeys_per_s": len(tally.latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "failures": tally.failures,
        "server_errors": tally.server_errors,
    }


class Turns:
    """Hands out customers to the client threads, each once (the per-contract limit stays out of the way)."""

    def __init__(self, items: Iterable[str]) -> None:
        self.items, self.lock = iter(items), threading.Lock()

    def next(self) -> str:
        with self.lock:
            return next(self.items)
