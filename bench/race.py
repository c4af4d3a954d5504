"""Race under load: several clients send one fresh code for one credential at the same moment, many rounds.

The server runs several worker processes; exactly one request per round may be accepted.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

from .load import contract_for
from .scenarios import VERIFY, code


@dataclass
class RaceReport:
    rounds: int = 0
    exactly_one: int = 0
    double_accepts: int = 0
    none_accepted: int = 0
    server_errors: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {"rounds": self.rounds, "exactly_one": self.exactly_one, "double_accepts": self.double_accepts,
                "none_accepted": self.none_accepted, "server_errors": self.server_errors,
                "outcomes": dict(self.outcomes)}


def race(base: str, api_key: str, indexes: range, racers: int = 4) -> RaceReport:
    target = urlparse(base)
    report = RaceReport()
    connections = [http.client.HTTPConnection(target.hostname, target.port, timeout=30) for _ in range(racers)]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
    try:
        for index in indexes:
            body = json.dumps({"contract_id": contract_for(index), "otp": code(index)})
            barrier = threading.Barrier(racers)
            results: list[tuple[int, str]] = []
            lock = threading.Lock()

            def send(connection: http.client.HTTPConnection, body: str = body,
                     barrier: threading.Barrier = barrier, results: list[tuple[int, str]] = results,
                     lock: threading.Lock = lock) -> None:
                barrier.wait()
                connection.request("POST", VERIFY, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                try:
                    outcome = json.loads(payload).get("reason") or json.loads(payload).get("result", "?")
                except ValueError:
                    outcome = f"http {response.status}"
                with lock:
                    results.append((response.status, outcome))

            threads = [threading.Thread(target=send, args=(c,)) for c in connections]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            report.rounds += 1
            accepted = sum(1 for status, outcome in results if status == 200 and outcome == "accepted")
            report.server_errors += sum(1 for status, _ in results if status >= 500)
            report.outcomes.update(outcome for _, outcome in results)
            if accepted == 1:
                report.exactly_one += 1
            elif accepted == 0:
                report.none_accepted += 1
            else:
                report.double_accepts += 1
    finally:
        for connection in connections:
            connection.close()
    return report
