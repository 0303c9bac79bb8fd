"""Fixtures for the report tests: copies of the golden run directories (never render in place)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
GOLDEN_RUNS = ("step-300-leak", "faults-interrupted")
FIXED_TIME = "2026-01-01T00:00:00Z"


@pytest.fixture
def golden_copy(tmp_path: Path):
    """``golden_copy(name)`` -> a fresh copy of tests/golden/<name> under tmp_path."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(GOLDEN / name, target)
        return target

    return copy


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """``rendered(name)`` -> a copy of a golden run rendered once per session (read, don't modify)."""
    from harness.report import render_run

    done: dict[str, tuple[Path, list[Path]]] = {}

    def get(name: str) -> tuple[Path, list[Path]]:
        if name not in done:
            target = tmp_path_factory.mktemp("rendered") / name
            shutil.copytree(GOLDEN / name, target)
            done[name] = (target, render_run(target, generated_at=FIXED_TIME))
        return done[name]

    return get
