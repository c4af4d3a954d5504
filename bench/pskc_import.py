"""PSKC import benchmark: keys per second and peak memory, each import in its own process and database.

Measured, each in a fresh subprocess (peak RSS: `ru_maxrss` of RUSAGE_CHILDREN, see LAUNCHER):

- `floor`: the interpreter with the gateway imported and a database opened, importing nothing;
- `read_100000`: both XML passes over the 100,000-key file (defusedxml check, streaming read), no keys
  turned into credentials, no database writes: the parsing share of an import;
- `plaintext_10000` and `plaintext_100000`: plaintext TOTP keys; their peak RSS side by side shows that
  memory does not grow with the file (only the per-key report does: a few dozen bytes a key);
- `pbkdf2_10000`: keys encrypted under a PBKDF2-derived AES key, each with its MAC.

The target (SPEC §8): at least 5,000 plaintext keys/s. `python -m bench.pskc_import [--db URL] [--profile]`.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import pskc_files

PLAIN_KEYS = 100_000
SMALL_KEYS = 10_000
PBKDF2_KEYS = 10_000
PASSWORD = "bench-pbkdf2-password"
TARGET_KEYS_PER_S = 5_000
SEAL_KEYS = "bench:" + base64.urlsafe_b64encode(b"\x07" * 32).decode()
ROOT = Path(__file__).resolve().parents[1]


def run(workdir: Path, db_url: str | None = None, plain: int = PLAIN_KEYS, small: int = SMALL_KEYS,
        encrypted: int = PBKDF2_KEYS) -> dict[str, Any]:
    """Generate the files, import each into a fresh database in a subprocess; keys/s and peak MB."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    files = {
        "plain_small": pskc_files.plaintext(workdir / f"plain-{small}.pskcxml", small),
        "plain": pskc_files.plaintext(workdir / f"plain-{plain}.pskcxml", plain),
        "pbkdf2": pskc_files.pbkdf2(workdir / f"pbkdf2-{encrypted}.pskcxml", encrypted, PASSWORD),
    }
    generated_s = time.perf_counter() - started
    results: dict[str, Any] = {
        "database": "postgresql" if db_url and db_url.startswith("postgresql") else "sqlite",
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "files_mb": {name: round(path.stat().st_size / 1e6, 1) for name, path in files.items()},
        "generate_s": round(generated_s, 1),
    }
    jobs = [
        ("floor", "floor", files["plain_small"], None),
        (f"read_{plain}", "read", files["plain"], None),
        (f"plaintext_{small}", "import", files["plain_small"], None),
        (f"plaintext_{plain}", "import", files["plain"], None),
        (f"pbkdf2_{encrypted}", "import", files["pbkdf2"], PASSWORD),
    ]
    for name, mode, path, password in jobs:
        results[name] = _child(mode, path, workdir / name, db_url, password)
    big, little = results[f"plaintext_{plain}"], results[f"plaintext_{small}"]
    results["summary"] = {
        "plaintext_keys_per_s": big["keys_per_s"],
        "pbkdf2_keys_per_s": results[f"pbkdf2_{encrypted}"]["keys_per_s"],
        "peak_mb": {name: results[name]["peak_mb"] for name, *_ in jobs},
        # Peak RSS above the floor: 10× the keys should not cost anywhere near 10× the memory.
        "memory_growth_10x_keys": round((big["peak_mb"] - results["floor"]["peak_mb"])
                                        / max(1.0, little["peak_mb"] - results["floor"]["peak_mb"]), 2),
        "parse_share": round(results[f"read_{plain}"]["seconds"] / big["seconds"], 2),
        "target_keys_per_s": TARGET_KEYS_PER_S,
        "meets_target": big["keys_per_s"] >= TARGET_KEYS_PER_S,
    }
    return results


#: Runs the measured command as its own child and reports that child's peak RSS (RUSAGE_CHILDREN). A direct
#: child of this process would not do: Linux counts the RSS a forked child shares with its parent before
#: `exec` into its ru_maxrss, and this process holds the generated files' data. The launcher is a bare
#: interpreter, far smaller than anything it measures.
LAUNCHER = (
    "import json, resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(json.dumps({'ru_maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    "sys.exit(code)\n"
)


def _child(mode: str, path: Path, workdir: Path, db_url: str | None, password: str | None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its peak RSS comes from RUSAGE_CHILDREN of a launcher."""
    command = [sys.executable, "-m", "bench.pskc_import", "--child", mode, str(path), str(workdir)]
    if db_url:
        command += ["--db", db_url]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if password:
        env["BENCH_PSKC_PASSWORD"] = password  # not on the command line, where `ps` would show it
    done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *command], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pskc bench child {mode} {path.name} failed with {done.returncode}")
    *_, measured, usage = done.stdout.decode().strip().splitlines()
    result: dict[str, Any] = json.loads(measured)
    result["peak_mb"] = round(json.loads(usage)["ru_maxrss_kb"] / 1024, 1)  # Linux reports KiB
    return result


# --- the child ---------------------------------------------------------------------------------------
def _services(workdir: Path, db_url: str | None) -> Any:
    """A fresh, migrated database (PostgreSQL: the schema dropped and made again) with one bank."""
    from sqlalchemy import text

    from gateway import create_app
    from gateway.services import banks
    from gateway.storage import migrate
    from gateway.web.context import app_services

    workdir.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite:///{workdir / 'gateway.db'}"
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    svc = app_services(create_app({"DATABASE_URL": url, "SEAL_KEYS": SEAL_KEYS, "SECRET_KEY": "bench",
                               "INSTANCE_PATH": str(workdir)}))
    if svc.db.dialect == "postgresql":
        with svc.db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(svc.db)
    banks.add_bank(svc, "0001", "PSKC bench", prefix="PSKB")
    return svc


def child(mode: str, path: Path, workdir: Path, db_url: str | None) -> dict[str, Any]:
    from gateway.services.imports import MAX_DOCUMENT_BYTES, import_pskc
    from gateway.services.imports.document import check_document, children

    svc = _services(workdir, db_url)
    started = time.perf_counter()
    if mode == "floor":
        keys, imported = 0, 0
    elif mode == "read":
        shape = check_document(path, MAX_DOCUMENT_BYTES)
        keys = sum(1 for _ in children(path, MAX_DOCUMENT_BYTES))
        imported = 0
        assert keys >= shape.packages
    else:
        report = import_pskc(svc, "0001", path, password=os.environ.get("BENCH_PSKC_PASSWORD"))
        keys, imported = len(report.keys), report.imported
        if report.rejected:
            raise SystemExit(f"{report.rejected} keys rejected: {dict(report.reasons)}")
    seconds = time.perf_counter() - started
    svc.db.dispose()
    return {"keys": keys, "imported": imported, "seconds": round(seconds, 3),
            "keys_per_s": round(keys / seconds) if keys else None, "vm_hwm_mb": _vm_hwm_mb()}


def _vm_hwm_mb() -> float | None:
    """This process's own peak RSS since exec (Linux), a cross-check of the launcher's figure."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return round(int(line.split()[1]) / 1024, 1) if line else None


def profile(workdir: Path, count: int, db_url: str | None) -> None:
    """Import `count` plaintext keys in this process under cProfile; print where the time goes."""
    from gateway.services.imports import import_pskc

    workdir.mkdir(parents=True, exist_ok=True)
    path = pskc_files.plaintext(workdir / f"profile-{count}.pskcxml", count)
    svc = _services(workdir / "profile", db_url)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(import_pskc, svc, "0001", path)
    print(f"{count} keys in {time.perf_counter() - started:.2f} s under the profiler")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("BENCH_DB") or None, help="database URL (default SQLite)")
    parser.add_argument("--workdir", type=Path, help="where the files and databases go (default: a temp dir)")
    parser.add_argument("--plain", type=int, default=PLAIN_KEYS)
    parser.add_argument("--encrypted", type=int, default=PBKDF2_KEYS)
    parser.add_argument("--profile", type=int, metavar="KEYS", help="profile one import of KEYS plaintext keys")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "FILE", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, workdir = args.child
        print(json.dumps(child(mode, Path(path), Path(workdir), args.db)))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="otp-pskc-bench-"))
    if args.profile:
        profile(workdir, args.profile, args.db)
        return
    print(json.dumps(run(workdir, args.db, plain=args.plain, encrypted=args.encrypted), indent=2))


if __name__ == "__main__":
    main()
