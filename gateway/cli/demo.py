"""`otp-gateway demo`: two demo banks with customers, API keys and tokens, and what to type."""

from __future__ import annotations

import click

from ..services import banks as bank_service
from ..services import credentials as credential_service
from ..services import customers as customer_service
from .common import svc

PASSWORD = "demo1234"  # noqa: S105 - the demo customers' published password
CONFIRMATION = "kakunin1"
TOKENS_PER_BANK = 5
BANKS = [
    {
        "code": "0001", "name": "デモ信用組合", "prefix": "SYMC", "period": 30, "service_id": "10112231",
        "contact": "0120-000-001", "colour": "#004e9a", "release_requires_otp": True,
        "customers": [("1000000001", "taro@example.jp"), ("1000000002", "hanako@example.jp"),
                      ("1000000003", None)],
    },
    {
        "code": "0002", "name": "デモ商工信用組合", "prefix": "NTTD", "period": 60, "service_id": "10112180",
        "contact": "024-991-1000", "colour": "#0b6e4f", "release_requires_otp": True,
        "customers": [("2000000001", "jiro@example.jp"), ("2000000002", None)],
    },
]


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Create nothing when banks exist; still print what to type.")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True, help="Where the pages are served.")
def demo(if_empty: bool, base_url: str) -> None:
    """Demo banks 0001 (30 s tokens) and 0002 (60 s tokens), customers, API keys and available soft tokens."""
    services = svc()
    existing = {bank.code for bank in bank_service.list_banks(services)}
    keys: dict[str, str] = {}
    if not (if_empty and existing):
        for spec in BANKS:
            if spec["code"] in existing:
                continue
            bank_service.add_bank(
                services, spec["code"], spec["name"], prefix=spec["prefix"], period=spec["period"],
                service_id=spec["service_id"], contact=spec["contact"], colour=spec["colour"], demo=True,
                release_requires_otp=spec["release_requires_otp"],
            )
            for contract_id, email in spec["customers"]:
                customer_service.add_customer(services, spec["code"], contract_id, PASSWORD, CONFIRMATION, email)
            credential_service.mint(services, spec["code"], TOKENS_PER_BANK)
            keys[spec["code"]] = bank_service.create_api_key(services, spec["code"], label="demo")
    _print_guide(base_url.rstrip("/"), keys)


def _print_guide(base: str, keys: dict[str, str]) -> None:
    echo = click.echo
    echo("")
    echo("=" * 72)
    echo(" otp-gateway demo — what to type")
    echo("=" * 72)
    for spec in BANKS:
        code = spec["code"]
        echo(f"\n {spec['name']} (bank {code}, codes change every {spec['period']} s)")
        echo(f"   login page        {base}/b/{code}/")
        echo(f"   demo token page   {base}/b/{code}/demo/token   (each demo token's live code)")
        for contract_id, _ in spec["customers"]:
            echo(f"   契約者ID {contract_id}   ログインパスワード {PASSWORD}   確認用パスワード {CONFIRMATION}")
        if code in keys:
            echo(f"   API key (shown only now): {keys[code]}")
    if not keys:
        echo("\n API keys were printed when the demo was first created; "
             "`otp-gateway bank api-key 0001` makes a new one.")
    echo("\n A token's current code:   otp-gateway token code TOKEN_ID   (tokens: otp-gateway token list 0001)")
    echo("=" * 72)
