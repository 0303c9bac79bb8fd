"""Fixtures for the campaign tests: short profiles written into tmp_path, a tiny loopback service."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.campaign._helpers import FIXTURES, write_profile_file


@pytest.fixture
def write_profile(tmp_path: Path):
    """Write a short profile TOML into tmp_path (see _helpers.write_profile_file); returns its path."""

    def write(**kwargs) -> Path:
        return write_profile_file(tmp_path, **kwargs)

    return write


@pytest.fixture
def tiny_service(tmp_path: Path) -> Iterator:
    """Start the tiny loopback service (answers every GET with ``status``); yields a starter."""
    procs: list[subprocess.Popen] = []

    def start(status: int = 200) -> str:
        port_file = tmp_path / f"tiny-{len(procs)}.port"
        procs.append(subprocess.Popen([sys.executable, str(FIXTURES / "tiny_service.py"), str(port_file),
                                       str(status)]))
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if time.monotonic() > deadline or procs[-1].poll() is not None:
                raise AssertionError("the tiny service did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{port_file.read_text().strip()}"

    start.pids = lambda: [proc.pid for proc in procs]
    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
