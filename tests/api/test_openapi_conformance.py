"""The OpenAPI document is the truth: schemathesis runs every operation with generated inputs against the app.

Positive and negative inputs, the document's examples, its coverage cases and random fuzzing, with a valid
bank key; every response must be no 5xx and match the document (status, content type, headers, body).
Deterministic (fixed seed, derandomised, no example database) so that a run is the same run every time.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from werkzeug.serving import WSGIRequestHandler, make_server

from gateway.services import banks as bank_service
from gateway.services import credentials as cs
from tests.services.conftest import CLIENT

pytestmark = [pytest.mark.db, pytest.mark.slow]

OPERATIONS = {
    "POST /otp/verify", "GET /customers/{contract_id}", "PUT /customers/{contract_id}",
    "POST /customers/{contract_id}/credential", "DELETE /customers/{contract_id}/credential",
    "POST /customers/{contract_id}/unlock", "POST /customers/{contract_id}/credential/resync",
    "POST /credentials", "POST /credentials/import", "GET /events", "POST /provision", "GET /openapi.json",
}


def config(key: str, base_url: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "base-url": base_url,
        "seed": 20261123,
        "workers": 1,
        "headers": {"Authorization": f"Bearer {key}"},
        "generation": {"mode": "all", "max-examples": 100, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        # A well-formed request may still be refused on its merits: a wrong code (422 code-rejected), a
        # document that is not PSKC (422 pskc-refused), a code no token shows (422). Parsing must never refuse it.
        "checks": {"positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]}},
    })


@pytest.fixture
def seeded(svc, bank, customer, make_bank, make_customer, mint) -> str:  # type: ignore[no-untyped-def]
    """Bank 0001 with customer 1000000001 (registered) and an available token; a second bank beside it."""
    token = mint()
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(at), CLIENT, now=at)
    mint()
    make_bank("0002", "別の信用組合", prefix="OTHR")
    make_customer("0002", "1000000001")
    return bank_service.create_api_key(svc, "0001")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Thousands of requests: their access log would drown the test's report."""


@pytest.fixture
def served(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app behind a real HTTP server on the loopback address (schemathesis' own HTTP transport)."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def test_every_operation_conforms_to_the_document(served, seeded) -> None:  # type: ignore[no-untyped-def]
    # Read without a key (the document is public). Loaded from a URL, schemathesis would leave out the
    # operation that served it; loaded as a document with a base URL, every operation runs.
    with urllib.request.urlopen(f"{served}/api/v1/openapi.json", timeout=10) as response:
        document = json.load(response)
    schema = schemathesis.openapi.from_dict(document, config=config(seeded, f"{served}/api/v1"))
    assert {op.ok().label for op in schema.get_all_operations()} == OPERATIONS
    calls: Counter[str] = Counter()
    failures: list[str] = []
    errors: list[str] = []
    _run(schema, calls, failures, errors)
    print(f"\nschemathesis: {len(calls)} operations, {sum(calls.values())} requests, {len(failures)} failures")
    for label, count in sorted(calls.items()):
        print(f"  {count:5d}  {label}")
    assert not errors, "\n".join(errors)
    assert not failures, "\n\n".join(dict.fromkeys(failures))
    assert set(calls) == OPERATIONS


def _run(schema: Any, calls: Counter[str], failures: list[str], errors: list[str]) -> None:
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            calls[recorder.label] += len(recorder.interactions)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failures.append(_describe(recorder.label, check, recorder.interactions.get(case_id)))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            raise event.exception


def _describe(label: str, check: Any, interaction: Any) -> str:
    text = f"{label}: {check.name}: {check.failure_info.failure.title}\n{check.failure_info.failure.message}"
    if interaction is not None:
        request, response = interaction.request, interaction.response
        text += f"\n  {request.method} {request.uri}\n  body: {_short(request.body)}"
        if response is not None:
            text += f"\n  -> {response.status_code} {_short(response.content)}"
    return text


def _short(data: Any) -> str:
    if data is None:
        return "-"
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return json.dumps(data, ensure_ascii=False)[:300] if not isinstance(data, str) else data[:300]
