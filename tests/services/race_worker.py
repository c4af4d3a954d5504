"""One racer: a separate OS process with its own engine, verifying the same code as its rival each round."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.services import Client, Policy, Services
from gateway.services.verification import Accepted, Asker, verify
from gateway.storage.db import Database
from gateway.storage.sealing import Sealer


def race(name: str, url: str, seal_keys: str, codes: list[tuple[float, str]], barrier: Any, results: Any) -> None:
    svc = Services(db=Database(url), sealer=Sealer.from_config(seal_keys), policy=Policy())
    client = Client(actor=f"racer-{name}", ip="127.0.0.1")
    try:
        for round_no, (ts, code) in enumerate(codes):
            barrier.wait(timeout=60)  # both processes leave the barrier together, then race
            now = dt.datetime.fromtimestamp(ts, dt.UTC)
            try:
                outcome = verify(svc, Asker(bank_code="0001"), "1000000001", code, client, now=now).outcome
                results.put((round_no, name, "accepted" if isinstance(outcome, Accepted) else outcome.code))
            except Exception as error:
                results.put((round_no, name, f"crash: {type(error).__name__}: {error}"))
    finally:
        svc.db.dispose()
