"""Fixtures for the reliability tests: a throw-away PostgreSQL server on loopback.

``postgres_url`` starts one server per session with scripts/postgres.sh (installing
PostgreSQL with apt-get where it is missing and allowed) and stops it at the end. Set
HARNESS_TEST_POSTGRES_URL to use a server you already run instead. When neither works the
tests that need it are skipped, and the skip says why (pytest -ra lists it).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"


@pytest.fixture(scope="session")
def postgres_url():
    """A ``postgresql://`` URL of an empty database on 127.0.0.1, or a visible skip."""
    given = os.environ.get("HARNESS_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"PostgreSQL unavailable: {SCRIPT.name} start could not run: {error}")
    if started.returncode != 0:
        reason = started.stderr.strip().splitlines()[-1:] or [f"exit {started.returncode}"]
        pytest.skip(f"PostgreSQL unavailable ({SCRIPT.name} start exit {started.returncode}): {reason[0]}")
    lines = started.stdout.strip().splitlines()
    url = lines[0]
    data_dir = next((line.removeprefix("# dir: ") for line in lines if line.startswith("# dir: ")), None)
    try:
        yield url
    finally:
        if data_dir:
            subprocess.run(["bash", str(SCRIPT), "stop", data_dir], capture_output=True, timeout=60, check=False)
