"""Fixtures shared by the tests that call the partner API's verify: a bank key and a token bound before T0.

Imported by name into the test modules that use them (pytest finds fixtures in a module's namespace).
"""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.services import banks as bank_service
from gateway.services import credentials as cs
from tests.services.conftest import CLIENT

#: The frozen instant these tests verify at: the middle of a 30 s step.
T0 = dt.datetime(2026, 11, 23, 3, 0, 15, tzinfo=dt.UTC)


@pytest.fixture
def key(svc, bank) -> str:  # type: ignore[no-untyped-def]
    return bank_service.create_api_key(svc, "0001")


@pytest.fixture
def registered(svc, customer, token):  # type: ignore[no-untyped-def]
    """The customer's token, bound five minutes before T0 (so codes around T0 are fresh)."""
    at = T0 - dt.timedelta(minutes=5)
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(at), CLIENT, now=at)
    return token
