"""Running the installed `otp-gateway` console script as an operator would: a subprocess with GATEWAY_* set."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import SEAL_KEY

SCRIPT = Path(sys.executable).parent / "otp-gateway"


@dataclass(frozen=True)
class Outcome:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.strip().splitlines()

    def error(self, code: int = 1) -> str:
        """The one `error: …` line on stderr of a failed run (exit `code`, no traceback)."""
        assert self.returncode == code, (self.args, self.returncode, self.stdout, self.stderr)
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), self.stderr
        return lines[0]


def environment(instance: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """The caller's environment without its own GATEWAY_* settings, plus ours."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update(GATEWAY_INSTANCE_PATH=str(instance), GATEWAY_SEAL_KEYS=SEAL_KEY)
    if database_url:
        env["GATEWAY_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def invoke(env: dict[str, str], *args: str, ok: bool = True, input: str | None = None) -> Outcome:
    # A new session has no controlling terminal, so a hidden prompt reads stdin, never the developer's tty.
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, input=input, env=env,
                          timeout=60, start_new_session=True)
    outcome = Outcome(args, done.returncode, done.stdout, done.stderr)
    if ok:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return outcome


Run = Callable[..., Outcome]
