"""Start and stop the servers under test: the gateway through `otp-gateway serve`, the baseline likewise."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent  # so the server can import bench.baseline


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not become healthy")


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path, workers: int = 2, app: str | None = None, threads: int = 1) -> Iterator[str]:
    """`otp-gateway serve` on a free loopback port; with `app`, the same server runs that WSGI app."""
    port = free_port()
    command = [str(BIN / "otp-gateway"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--threads", str(threads)]
    if app:
        command += ["--app", app]
    with log.open("ab") as handle:
        process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base + "/healthz")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
