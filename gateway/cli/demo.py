"""`otp-gateway demo`: two demo banks with customers, API keys and tokens, and what to type."""

from __future__ import annotations

from dataclasses import dataclass

import click

from ..domain.errors import CustomerExists, UnknownCustomer
from ..services import OPERATOR, Services
from ..services import banks as bank_service
from ..services import credentials as credential_service
from ..services import customers as customer_service
from .common import svc

PASSWORD = "demo1234"  # noqa: S105 - the demo customers' published password
CONFIRMATION = "kakunin1"
TOKENS_PER_BANK = 5


@dataclass(frozen=True)
class DemoBank:
    code: str
    name: str
    prefix: str
    period: int
    service_id: str
    contact: str
    colour: str
    removal_policy: str  # bank_service.LOST_PHONE or CODE
    customers: tuple[tuple[str, str | None], ...]  # (contract ID, e-mail)


BANKS = (
    DemoBank("0001", "デモ信用組合", "SYMC", 30, "10112231", "0120-000-000", "#004e9a", bank_service.LOST_PHONE,
             (("1000000001", "taro@example.jp"), ("1000000002", "hanako@example.jp"), ("1000000003", None))),
    # NTT-style tokens: the code changes every minute (1分毎に更新).
    DemoBank("0002", "デモ商工信用組合", "NTTD", 60, "10112180", "024-991-1000", "#0b6e4f", bank_service.CODE,
             (("2000000001", "jiro@example.jp"), ("2000000002", "saburo@example.jp"))),
)


@click.command("demo", short_help="Demo banks, customers, API keys and tokens; prints what to type.")
@click.option("--if-empty", is_flag=True, help="Create nothing when any bank exists; still print what to type.")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True, help="Where the pages are served.")
def demo(if_empty: bool, base_url: str) -> None:
    """Demo banks 0001 (30 s tokens) and 0002 (60 s tokens): customers, API keys, soft tokens; prints what to type.

    Safe to run again: what exists is kept, only what is missing is added.
    """
    services = svc()
    existing = {bank.code: bank for bank in bank_service.list_banks(services)}
    keys: dict[str, str] = {}
    if not (if_empty and existing):
        for spec in BANKS:
            if spec.code in existing:
                if existing[spec.code].is_demo:
                    _complete(services, spec)
                continue
            try:
                _create(services, spec)
            except bank_service.BankExists:  # another `demo` run created it a moment ago
                continue
            keys[spec.code] = bank_service.create_api_key(services, spec.code, label="demo", client=OPERATOR)
    shown = {bank.code for bank in bank_service.list_banks(services) if bank.is_demo}
    _print_guide(services, base_url.rstrip("/"), [spec for spec in BANKS if spec.code in shown], keys)


def _create(services: Services, spec: DemoBank) -> None:
    bank_service.add_bank(
        services, spec.code, spec.name, prefix=spec.prefix, period=spec.period, service_id=spec.service_id,
        contact=spec.contact, colour=spec.colour, demo=True, removal_policy=spec.removal_policy,
        client=OPERATOR,
    )
    _add_missing_customers(services, spec)
    credential_service.mint(services, spec.code, TOKENS_PER_BANK, client=OPERATOR)


def _complete(services: Services, spec: DemoBank) -> None:
    """What a run cut short left out: customers, and the tokens when there are none at all; the demo's own
    removal policy (an upgraded database keeps the stricter `code` for every bank it had)."""
    if bank_service.get_bank(services, spec.code).removal_policy != spec.removal_policy:
        bank_service.update_bank(services, spec.code, removal_policy=spec.removal_policy, client=OPERATOR)
    _add_missing_customers(services, spec)
    if not credential_service.list_credentials(services, spec.code):
        credential_service.mint(services, spec.code, TOKENS_PER_BANK, client=OPERATOR)


def _add_missing_customers(services: Services, spec: DemoBank) -> None:
    """Looked up first: hashing two passwords only to find the customer exists is slow."""
    for contract_id, email in spec.customers:
        try:
            customer_service.show_customer(services, spec.code, contract_id)
            continue
        except UnknownCustomer:
            pass
        try:
            customer_service.add_customer(services, spec.code, contract_id, PASSWORD, CONFIRMATION, email,
                                          client=OPERATOR)
        except CustomerExists:  # another run added it just now
            pass


def _print_guide(services: Services, base: str, banks: list[DemoBank], keys: dict[str, str]) -> None:
    echo = click.echo
    if not banks:
        echo("Banks exist but not the demo banks 0001 and 0002; nothing was created (run without --if-empty).")
        return
    echo("=" * 76)
    echo(" otp-gateway demo: what to type")
    echo(f" start the server (otp-gateway serve, or make run), then open {base}/")
    echo("=" * 76)
    for spec in banks:
        echo(f"\n {spec.name} (bank {spec.code}, codes change every {spec.period} s)")
        echo(f"   login page        {base}/b/{spec.code}/")
        echo(f"   demo token page   {base}/b/{spec.code}/demo/token   (the live code of each demo token)")
        for contract_id, _email in spec.customers:
            echo(f"   契約者ID {contract_id}   ログインパスワード {PASSWORD}   確認用パスワード {CONFIRMATION}")
        available = credential_service.list_credentials(services, spec.code, "available")
        if available:
            echo(f"   available tokens  {' '.join(view.credential_id for view in available[:TOKENS_PER_BANK])}")
        if spec.code in keys:
            echo(f"   API key (shown only now, it is stored as a hash): {keys[spec.code]}")
    echo("")
    if not keys:
        echo(" The API keys were printed when the demo was first created; "
             "`otp-gateway bank api-key 0001` makes a new one.")
    echo(" A token's current code:   otp-gateway token code TOKEN_ID")
    echo("=" * 76)
