"""Two OS processes race on one code against one database: exactly one may accept it, every round."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
from collections import defaultdict

import pytest

from gateway.services import credentials as cs
from tests.conftest import SEAL_KEY
from tests.services.conftest import CLIENT
from tests.services.race_worker import race

pytestmark = [pytest.mark.db, pytest.mark.slow]
ROUNDS = 50


def test_two_processes_racing_on_one_code_accept_it_once(svc, database_url, customer, token, now) -> None:
    cs.register(svc, "0001", "1000000001", token.credential_id, token.code(now), CLIENT, now=now)
    # Each round is a fresh step; both racers send that step's code at the same moment.
    rounds = [(now + dt.timedelta(seconds=30 * (r + 1)), ) for r in range(ROUNDS)]
    codes = [(at.timestamp(), token.code(at)) for (at,) in rounds]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    racers = [ctx.Process(target=race, args=(name, database_url, SEAL_KEY, codes, barrier, results))
              for name in ("a", "b")]
    started = time.monotonic()
    for racer in racers:
        racer.start()
    outcomes: dict[int, list[str]] = defaultdict(list)
    for _ in range(2 * ROUNDS):
        round_no, _name, outcome = results.get(timeout=120)
        outcomes[round_no].append(outcome)
    for racer in racers:
        racer.join(timeout=30)
        assert racer.exitcode == 0
    elapsed = time.monotonic() - started
    crashes = [o for got in outcomes.values() for o in got if o.startswith("crash")]
    assert not crashes, crashes[:3]
    for round_no in range(ROUNDS):
        assert sorted(outcomes[round_no]) == ["accepted", "replayed_code"], (round_no, outcomes[round_no])
    print(f"\n{ROUNDS} rounds raced in {elapsed:.1f}s on {svc.db.dialect}")
