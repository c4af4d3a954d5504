"""`make bench`: the gateway's verify API against a bare Flask route, served the same way, in one run.

Each measurement runs three times and the median is reported, with its ratio to the baseline measured
in the same run (these machines are noisy; only the ratio means something). The verify measurements and
the baseline take turns, round by round, and a ratio is the median of the rounds' ratios: the machine's
speed drifts over minutes.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import text, update

from gateway import create_app
from gateway.services import Services
from gateway.storage import migrate
from gateway.storage.db import Database
from gateway.storage.models import Credential
from gateway.web.context import app_services

from . import floor, load, pages, race, scenarios
from .servers import serve

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "requests.lua"
RESULTS = HERE / "results"
SEAL_KEYS = "bench:" + base64.urlsafe_b64encode(b"\x07" * 32).decode()


def wrk(base: str, requests_file: Path, api_key: str, connections: int, seconds: float,
        wrap: bool = False) -> dict[str, Any]:
    threads = min(2, connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--latency",
               "-s", str(LUA), base, "--", str(requests_file), str(threads), api_key, "1" if wrap else "0"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("rps", "p50_ms", "p99_ms")
    summary = {key: statistics.median(run[key] for run in runs) for key in keys}
    for key in ("non2xx", "server_errors", "accepted", "rejected", "other", "exhausted", "socket_errors"):
        summary[key] = sum(run[key] for run in runs)
    summary["runs"] = [{key: round(run[key], 3) for key in keys} for run in runs]
    return summary


class Kind(NamedTuple):
    """One kind of request for `Bench.measure_paired`: the server, how to write its requests, whether to wrap."""

    base: str
    make_file: Callable[[Path, int], int]
    wrap: bool = False


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="otp-bench-"))
        self.url = args.db or f"sqlite:///{self.tmp / 'gateway.db'}"
        self.env = {
            "GATEWAY_INSTANCE_PATH": str(self.tmp),
            "GATEWAY_DATABASE_URL": self.url,
            "GATEWAY_SEAL_KEYS": SEAL_KEYS,
            "GATEWAY_SECRET_KEY": "bench-secret",
            # PostgreSQL stands for several hosts (Redis); SQLite for one host, whose workers share a file.
            "GATEWAY_RATELIMIT_STORAGE_URI": args.redis if self.url.startswith("postgresql")
            else f"sqlite:///{self.tmp / 'ratelimits.db'}",
            "GATEWAY_LOG_LEVEL": "WARNING",
            # Limits high enough that the load is measured, not refused (their cost is still paid).
            "GATEWAY_RATELIMIT_PER_ADDRESS": "100000000 per minute",
            "GATEWAY_RATELIMIT_PER_CONTRACT": "100000000 per minute",
            "GATEWAY_RATELIMIT_API_PER_KEY": "100000000 per minute",
        }
        self.log = self.tmp / "server.log"
        self.results: dict[str, Any] = {}
        self.next_index = 0
        self.next_unbound = 0

    # --- set-up -----------------------------------------------------------------------------------------
    def fresh_database(self, url: str | None = None, schema: str = "public") -> Services:
        """An empty, migrated database at `url` (default the run's). PostgreSQL: `schema` is dropped and made
        anew (a URL other than the run's names it in its search_path, see `scale_url`)."""
        url = url or self.url
        os.environ.update({**self.env, "GATEWAY_DATABASE_URL": url})
        svc = app_services(create_app())
        if svc.db.dialect == "postgresql":
            with svc.db.engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            # The dead catalog rows that dropping schemas and truncating tables leave (autovacuum may be off
            # on a test server) would slow every measurement that follows.
            with svc.db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM"))
        else:
            svc.db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        migrate.upgrade(svc.db)
        return svc

    def scale_url(self, name: str) -> tuple[str, str]:
        """A database of its own for one registry size: a SQLite file, or a PostgreSQL schema."""
        if not self.url.startswith("postgresql"):
            return f"sqlite:///{self.tmp / f'scale-{name}.db'}", ""
        schema = f"bench_scale_{name}"
        return f"{self.url}{'&' if '?' in self.url else '?'}options=-csearch_path%3D{schema}", schema

    def take(self, count: int) -> range:
        """Customer indexes not used by any earlier measurement (a code is accepted once)."""
        chosen = range(self.next_index, self.next_index + count)
        if chosen.stop > self.args.customers:
            raise SystemExit(f"bench: --customers {self.args.customers} is too few for these runs "
                             f"(need {chosen.stop}); raise it or lower --per-run")
        self.next_index += count
        return chosen

    def take_unbound(self, count: int) -> range:
        """Customers without a token, each with an available token of the same index, not used before."""
        chosen = range(self.unbound.first + self.next_unbound, self.unbound.first + self.next_unbound + count)
        if self.next_unbound + count > self.unbound.count:
            raise SystemExit("bench: too few customers without a token for the registration runs")
        self.next_unbound += count
        return chosen

    # --- measuring --------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        if self.args.only_scale:
            self.results["scale"] = self.registry_scale()
            return self.results
        svc = self.fresh_database()
        api_key = load.ensure_bank(svc)
        loaded = load.load(svc, self.args.customers)
        print(f"loaded {loaded.count} customers with active tokens in {loaded.seconds:.1f}s", flush=True)
        self.unbound = load.load(svc, self.args.unbound, active=False)
        print(f"loaded {self.unbound.count} customers without a token (and as many available tokens) "
              f"in {self.unbound.seconds:.1f}s", flush=True)
        per_run = self.args.per_run
        prefix = load.bank_prefix(svc)
        with contextlib.ExitStack() as servers:
            # Every server up at once, so that each round measures the baseline and the gateway one after
            # the other (an idle server sleeps): the machine's speed drifts over minutes, a round's does not.
            baseline = servers.enter_context(serve(self.env, self.log, workers=self.args.workers,
                                                   threads=self.args.threads, app="bench.baseline:app"))
            # The baseline and the floor keep no state: their requests repeat for the whole run (wrap).
            kinds: dict[str, Kind] = {"baseline": Kind(baseline, lambda path, n: scenarios.verify_rejects(
                path, range(n)), wrap=True)}
            if svc.db.dialect == "postgresql":
                floor.create_tables(self.url)
                servers.callback(floor.drop_tables, self.url)
                kinds["floor"] = Kind(servers.enter_context(serve(
                    self.env, self.log, workers=self.args.workers, threads=self.args.threads,
                    app="bench.floor:app")), kinds["baseline"].make_file, wrap=True)
            base = servers.enter_context(serve(self.env, self.log, workers=self.args.workers,
                                               threads=self.args.threads))
            # Fresh customers for every run: one wrong code each, so no throttle or lock trips.
            kinds["verify_reject"] = Kind(base, lambda path, n: scenarios.verify_rejects(path, self.take(n)))
            kinds["verify_accept"] = Kind(base, lambda path, n: scenarios.verify_accepts(path, self.take(n)))
            self.measure_paired(kinds, api_key, per_run)
            if self.args.verify_only:
                return self.results
            self.measure_pages("baseline_pages", lambda: pages.baseline_journey(baseline))
            self.measure_paired({"register": Kind(base, lambda path, n: self.registrations(path, n, prefix))},
                                api_key, self.args.per_run_register)
            turns = pages.Turns(load.contract_for(i) for i in self.take(self.args.login_customers))
            self.measure_pages("login_pages", lambda: pages.login_journey(
                base, load.BANK, turns.next(), load.PASSWORD))
            self.results["race_under_load"] = self.race_under_load(base, api_key)
        svc.db.dispose()
        self.results["ratios"].update({
            f"register_c{c}": round(self.results["register"][f"c{c}"]["rps"]
                                    / self.results["baseline"][f"c{c}"]["rps"], 3)
            for c in self.args.concurrency
        })
        self.results["ratios"].update({
            f"login_pages_c{c}": round(self.results["login_pages"][f"c{c}"]["rps"]
                                       / self.results["baseline_pages"][f"c{c}"]["rps"], 3)
            for c in self.args.concurrency
        })
        if self.args.pskc:
            from . import pskc_import

            self.results["pskc_import"] = imported = pskc_import.run(self.tmp / "pskc", self.args.db)
            summary = imported["summary"]
            print(f"  PSKC import            plaintext {summary['plaintext_keys_per_s']} keys/s, PBKDF2 "
                  f"{summary['pbkdf2_keys_per_s']} keys/s, peak {summary['peak_mb']['plaintext_100000']} MB at "
                  f"100,000 keys ({summary['peak_mb']['plaintext_10000']} MB at 10,000)", flush=True)
        if self.args.scale:
            self.results["scale"] = self.registry_scale()
        self.results["server_log"] = self.server_log_problems()
        return self.results

    def measure_paired(self, kinds: dict[str, Kind], api_key: str, per_run: int) -> None:
        """Each round runs every kind once, in turn (the order rotating); with the baseline among them, a
        kind's ratio is the median over the rounds of its rate over the baseline's in the same round."""
        names = list(kinds)
        for connections in self.args.concurrency:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for round_no in range(self.args.rounds):
                for name in names[round_no % len(names):] + names[:round_no % len(names)]:
                    kind = kinds[name]
                    requests_file = self.tmp / f"{name}-c{connections}-{round_no}.txt"
                    kind.make_file(requests_file, per_run)
                    runs[name].append(wrk(kind.base, requests_file, api_key, connections, self.args.seconds,
                                          kind.wrap))
                    if not kind.wrap and runs[name][-1]["exhausted"]:
                        print(f"  {name}: the prepared requests ran out before the time was up; raise --per-run",
                              flush=True)
            for name in names:
                summary = median_of(runs[name])
                if name != "baseline" and "baseline" in runs:
                    summary["ratio"] = round(statistics.median(
                        run["rps"] / paired["rps"] for run, paired in zip(runs[name], runs["baseline"], strict=True)
                    ), 3)
                    self.results.setdefault("ratios", {})[f"{name}_c{connections}"] = summary["ratio"]
                self.results.setdefault(name, {})[f"c{connections}"] = summary
                ratio = f"  {summary['ratio']:.2f}× the baseline" if "ratio" in summary else ""
                print(f"  {name:<22} c={connections:<3} {summary['rps']:9.0f} req/s  p50 {summary['p50_ms']:7.2f} ms  "
                      f"p99 {summary['p99_ms']:7.2f} ms  5xx {summary['server_errors']}{ratio}", flush=True)

    def registrations(self, path: Path, count: int, prefix: str) -> int:
        chosen = self.take_unbound(count)
        return scenarios.registrations(path, chosen, chosen, prefix)

    def measure_pages(self, name: str, journey: Callable[[], tuple[bool, list[int]]]) -> None:
        """The customer pages through a browser-like client (wrk cannot carry cookies and CSRF tokens)."""
        for connections in self.args.concurrency:
            runs = [pages.drive(journey, connections, self.args.seconds) for _ in range(self.args.rounds)]
            summary = {key: statistics.median(run[key] for run in runs)
                       for key in ("rps", "journeys_per_s", "p50_ms", "p99_ms")}
            summary["failures"] = sum(run["failures"] for run in runs)
            summary["server_errors"] = sum(run["server_errors"] for run in runs)
            self.results.setdefault(name, {})[f"c{connections}"] = summary
            print(f"  {name:<22} c={connections:<3} {summary['rps']:9.0f} req/s  "
                  f"({summary['journeys_per_s']:.0f} journeys/s of 3 requests)  journey p50 "
                  f"{summary['p50_ms']:7.2f} ms  p99 {summary['p99_ms']:7.2f} ms  failed {summary['failures']}  "
                  f"5xx {summary['server_errors']}", flush=True)

    def race_under_load(self, base: str, api_key: str) -> dict[str, Any]:
        """Reject load at concurrency 16 in the background while racers fight over fresh codes."""
        requests_file = self.tmp / "race-load.txt"
        scenarios.verify_rejects(requests_file, self.take(self.args.per_run))
        racing = self.take(self.args.race_rounds)
        with ThreadPoolExecutor(max_workers=1) as pool:
            background = pool.submit(wrk, base, requests_file, api_key, 16, self.args.seconds * 2)
            time.sleep(0.5)
            report = race.race(base, api_key, racing)
            load_result = background.result()
        summary = {**report.as_dict(), "load_rps": round(load_result["rps"]),
                   "load_server_errors": load_result["server_errors"]}
        print(f"  race under load        {report.rounds} rounds: exactly one accepted in {report.exactly_one}, "
              f"double accepts {report.double_accepts}, 5xx {report.server_errors + load_result['server_errors']}",
              flush=True)
        return summary

    def registry_scale(self) -> dict[str, Any]:
        """Verify latency with 1,000 and with 1,000,000 credentials in the registry (reject path, c=1).

        Each size has a database and a server of its own, both up at once; the rounds take turns between
        them and a ratio is the median of the rounds' ratios (as in `measure_paired`).
        """
        sizes = {"small": 1_000, "large": self.args.scale_size}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sizes}
        schemas: list[tuple[str, str]] = []
        try:
            with contextlib.ExitStack() as servers:
                targets = {}
                for name, size in sizes.items():
                    url, schema = self.scale_url(name)
                    schemas.append((url, schema))
                    svc = self.fresh_database(url, schema or "public")
                    api_key = load.ensure_bank(svc)
                    started = time.perf_counter()
                    load.load(svc, size)
                    print(f"registry of {size} credentials loaded in {time.perf_counter() - started:.1f}s", flush=True)
                    base = servers.enter_context(serve({**self.env, "GATEWAY_DATABASE_URL": url}, self.log,
                                                       workers=self.args.workers, threads=self.args.threads))
                    targets[name] = (base, api_key, random.Random(size), svc)
                for round_no in range(self.args.scale_rounds):
                    for name in (list(sizes) if round_no % 2 == 0 else list(reversed(sizes))):
                        base, api_key, sample, svc = targets[name]
                        requests_file = self.tmp / f"scale-{name}-{round_no}.txt"
                        scenarios.verify_rejects(requests_file, sample.sample(range(sizes[name]),
                                                                              min(1_000, sizes[name])))
                        runs[name].append(wrk(base, requests_file, api_key, 1, self.args.seconds))
                        # Every round tries each of the small registry's customers once: their failures are
                        # forgotten between rounds, or the throttle would answer instead of the verify.
                        with svc.db.engine.begin() as connection:
                            connection.execute(update(Credential).where(Credential.failure_count > 0)
                                               .values(failure_count=0, last_failure_at=None))
                for _, _, _, svc in targets.values():
                    svc.db.dispose()
        finally:
            self.drop_schemas(schemas)
        out: dict[str, Any] = {}
        for name, size in sizes.items():
            out[str(size)] = median_of(runs[name])
            print(f"  verify with {size:>9} credentials  p50 {out[str(size)]['p50_ms']:.2f} ms  "
                  f"p99 {out[str(size)]['p99_ms']:.2f} ms", flush=True)
        for key in ("p50", "p99"):
            out[f"{key}_ratio"] = round(statistics.median(
                large[f"{key}_ms"] / small[f"{key}_ms"]
                for small, large in zip(runs["small"], runs["large"], strict=True)
            ), 3)
        print(f"  registry scale: p50 ratio {out['p50_ratio']}, p99 ratio {out['p99_ratio']} (medians of the "
              f"rounds' ratios)", flush=True)
        return out

    def drop_schemas(self, schemas: list[tuple[str, str]]) -> None:
        """PostgreSQL: the registry-scale schemas go (a million rows are not left on a test server)."""
        for url, schema in schemas:
            if schema:
                db = Database(url)
                try:
                    with db.engine.begin() as connection:
                        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                finally:
                    db.dispose()

    def server_log_problems(self) -> dict[str, int]:
        text_ = self.log.read_text(errors="replace") if self.log.exists() else ""
        return {"database_is_locked": text_.count("database is locked"), "tracebacks": text_.count("Traceback")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=os.environ.get("BENCH_DB") or None, help="database URL (default SQLite)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="rate-limit storage with PostgreSQL")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--customers", type=int, default=320_000)
    parser.add_argument("--per-run", type=int, default=20_000, help="prepared requests per measurement")
    parser.add_argument("--unbound", type=int, default=40_000, help="customers without a token (registration)")
    parser.add_argument("--per-run-register", type=int, default=4_000, help="registrations per measurement")
    parser.add_argument("--login-customers", type=int, default=20_000, help="customers for the login pages")
    parser.add_argument("--no-pskc", dest="pskc", action="store_false", help="skip the PSKC import benchmark")
    parser.add_argument("--race-rounds", type=int, default=200)
    parser.add_argument("--scale-size", type=int, default=1_000_000)
    parser.add_argument("--scale-rounds", type=int, default=7, help="rounds of the registry-scale measurement")
    parser.add_argument("--no-scale", dest="scale", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, server log)")
    parser.add_argument("--verify-only", action="store_true",
                        help="only the baseline and the verify measurements (a quick check of the hot path)")
    parser.add_argument("--only-scale", action="store_true", help="only the registry-scale measurement")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 1
    bench = Bench(args)
    started = time.time()
    results = bench.results  # what was measured, should the run be interrupted
    try:
        with contextlib.suppress(KeyboardInterrupt):
            results = bench.run()
    finally:
        if args.keep:
            print(f"bench: databases and the server log kept in {bench.tmp}", flush=True)
        else:
            shutil.rmtree(bench.tmp, ignore_errors=True)  # the registry-scale database alone is ~0.5 GB
    results["meta"] = {"database": bench.url.split("://")[0], "workers": args.workers, "seconds": args.seconds,
                       "rounds": args.rounds, "python": platform.python_version(),
                       "cpus": os.cpu_count(), "took_s": round(time.time() - started, 1)}
    RESULTS.mkdir(exist_ok=True)
    name = "latest-scale.json" if args.only_scale else "latest-verify.json" if args.verify_only else "latest.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2))
    print(json.dumps(results.get("ratios", results.get("scale")), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
