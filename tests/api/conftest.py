"""Partner API fixtures: two banks, each with a key, a customer with a registered token, and a spare token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.services import banks as bank_service
from gateway.services import credentials as cs
from tests.conftest import Token
from tests.services.conftest import CLIENT


@dataclass
class Tenant:
    code: str
    key: str
    contract_id: str
    registered: Token
    spare: Token

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _tenant(svc, make_customer, mint, code: str, contract_id: str) -> Tenant:  # type: ignore[no-untyped-def]
    make_customer(code, contract_id)
    registered = mint(code)
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cs.register(svc, code, contract_id, registered.credential_id, registered.code(at), CLIENT, now=at)
    return Tenant(code, bank_service.create_api_key(svc, code), contract_id, registered, mint(code))


@pytest.fixture
def bank_a(svc, bank, make_customer, mint) -> Tenant:  # type: ignore[no-untyped-def]
    return _tenant(svc, make_customer, mint, "0001", "1000000001")


@pytest.fixture
def bank_b(svc, make_bank, make_customer, mint) -> Tenant:  # type: ignore[no-untyped-def]
    make_bank("0002", "別の信用組合", prefix="OTHR")
    return _tenant(svc, make_customer, mint, "0002", "2000000001")


@pytest.fixture
def call(client) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """`call(tenant, "GET", "/customers/1")`: a request to /api/v1 with the tenant's key."""

    def send(tenant: Tenant | None, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**(tenant.auth if tenant else {}), **kwargs.pop("headers", {})}
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return send
