"""The repository stands on its own: nothing it builds, runs, tests or benchmarks reads a folder beside it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import VECTORS

ROOT = Path(__file__).resolve().parents[2]
#: A checkout's neighbour folders, as a path would name them (spelt in two parts so this file passes itself).
OUTSIDE = ("../" + "shared", "..\\" + "shared", "parents[2] / " + '"shared"')


#: What a run makes or installs inside the checkout: not the project's files.
MADE = {".git", ".venv", "instance", "test-output", ".pytest_cache", ".ruff_cache", "__pycache__", "build", "dist",
        "node_modules"}


def project_files() -> list[Path]:
    return [path for path in ROOT.rglob("*") if path.is_file()
            and not MADE.intersection(path.relative_to(ROOT).parts)
            and not path.relative_to(ROOT).parts[0].endswith(".egg-info")]


def test_no_file_reaches_outside_the_checkout() -> None:
    offenders = []
    for path in project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        offenders += [f"{path.relative_to(ROOT)}: {needle}" for needle in OUTSIDE if needle in text]
    assert offenders == []


def test_the_vectors_are_inside_the_repository_with_their_sources() -> None:
    assert VECTORS.is_relative_to(ROOT / "tests")
    readme = (VECTORS / "README.md").read_text(encoding="utf-8")
    files = sorted(p for p in VECTORS.rglob("*") if p.is_file() and p.name != "README.md")
    assert len(files) == 15
    for path in files:
        named = path.name if path.parent == VECTORS else path.relative_to(VECTORS).as_posix()
        assert named in readme or path.name.startswith("rfc6030-figure"), f"{named}: no source in the README"
