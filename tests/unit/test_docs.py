"""docs/security.md names the test behind each control: every file and test it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_the_threat_model_names_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    named = re.findall(r"`((?:unit|services|web|api|cli|browser)/test_\w+\.py)(?:::(\w+))?`", text)
    functions = re.findall(r"`::(\w+)`", text)
    assert len(named) > 30
    missing = []
    for path, function in named:
        source = ROOT / "tests" / path
        if not source.is_file():
            missing.append(path)
        elif function and f"def {function}(" not in source.read_text(encoding="utf-8"):
            missing.append(f"{path}::{function}")
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    missing += [f"::{name}" for name in functions if f"def {name}(" not in sources]
    assert missing == []
