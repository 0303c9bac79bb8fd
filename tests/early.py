"""Long campaigns started when the session starts, beside the quick tests, and collected by the
fixture that needs them.

A campaign's load follows its own clock (so many visits per second for so many seconds): it
mostly waits, and the 2-core machine has room for the quick tests meanwhile. A test module
registers a starter for one of its fixtures with :func:`job`; when the session's selected tests
use that fixture, tests/conftest.py starts the process right after collection, and the fixture
takes it with :func:`take` (waiting for it to end). Run alone (or when the starter was not
called) the fixture runs the same command itself: :func:`take` returns None and the fixture
falls back. Every process is bounded by ``timeout_s`` and killed at the session's end if nobody
took it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Command:
    """What a starter returns: the process to run, and what its fixture needs afterwards."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    timeout_s: float
    context: object = None  # handed back with the result (e.g. the run directory)


@dataclass
class Started:
    command: Command
    process: subprocess.Popen
    stdout: Path
    stderr: Path
    started_monotonic: float


_STARTERS: dict[str, Callable[[Path], Command]] = {}
_STARTED: dict[str, Started] = {}


def job(fixture: str) -> Callable[[Callable[[Path], Command]], Callable[[Path], Command]]:
    """Register ``starter(folder) -> Command`` for the fixture named ``fixture``."""

    def register(starter: Callable[[Path], Command]) -> Callable[[Path], Command]:
        _STARTERS[fixture] = starter
        return starter

    return register


def start_for(fixtures: set[str], folder_for: Callable[[str], Path]) -> list[str]:
    """Start the registered jobs whose fixture is among ``fixtures``; their names."""
    started = []
    for fixture, starter in _STARTERS.items():
        if fixture in fixtures and fixture not in _STARTED:
            folder = folder_for(fixture)
            command = starter(folder)
            stdout, stderr = folder / "early.stdout", folder / "early.stderr"
            with stdout.open("w") as out, stderr.open("w") as err:
                process = subprocess.Popen(command.argv, cwd=command.cwd, env=command.env, stdout=out, stderr=err,
                                           stdin=subprocess.DEVNULL, text=True)
            _STARTED[fixture] = Started(command, process, stdout, stderr, time.monotonic())
            started.append(fixture)
    return started


def take(fixture: str) -> tuple[subprocess.CompletedProcess, object] | None:
    """The finished process of ``fixture``'s job and its context, or None if it was not started."""
    started = _STARTED.pop(fixture, None)
    if started is None:
        return None
    left_s = started.command.timeout_s - (time.monotonic() - started.started_monotonic)
    try:
        started.process.wait(timeout=max(left_s, 1.0))
    except subprocess.TimeoutExpired:
        started.process.kill()
        started.process.wait()
        raise subprocess.TimeoutExpired(started.command.argv, started.command.timeout_s) from None
    done = subprocess.CompletedProcess(started.command.argv, started.process.returncode,
                                       started.stdout.read_text(), started.stderr.read_text())
    return done, started.command.context


def outcome(fixture: str, folder: Callable[[], Path]) -> tuple[object, subprocess.CompletedProcess]:
    """``(context, CompletedProcess)`` of ``fixture``'s job: the one started with the session, or,
    when none was (the test run alone), the same command run now in ``folder()``."""
    taken = take(fixture)
    if taken is not None:
        return taken[1], taken[0]
    command = _STARTERS[fixture](folder())
    return command.context, run_now(command)


def run_now(command: Command) -> subprocess.CompletedProcess:
    """The same command, run in the foreground (the fixture's fallback)."""
    return subprocess.run(command.argv, cwd=command.cwd, env=command.env, capture_output=True, text=True,
                          timeout=command.timeout_s)


def stop_all() -> None:
    """Kill what nobody took (the session ends)."""
    for started in _STARTED.values():
        if started.process.poll() is None:
            started.process.kill()
            started.process.wait()
    _STARTED.clear()
