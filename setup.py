"""Packs the top-level templates, static files and migrations into the wheel (gateway/_resources)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCES = ("templates", "static", "migrations")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for name in RESOURCES:
            target = Path(self.build_lib) / "gateway" / "_resources" / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(Path(name), target, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithResources})
