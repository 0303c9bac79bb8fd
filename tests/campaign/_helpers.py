"""Helpers for the campaign tests: run the CLI as a real subprocess and wait for events."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
STUB_LOCUSTFILE = FIXTURES / "stub_recorder_locustfile.py"
HARNESS_TIMEOUT_S = 150  # every harness subprocess is bounded: a hang fails the test, never the suite



def harness_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["COLUMNS"] = "200"
    return env


def run_harness(*args: str, timeout_s: float = HARNESS_TIMEOUT_S) -> subprocess.CompletedProcess:
    """``python -m harness ARGS`` in the repository root, bounded by ``timeout_s``."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env=harness_env(),
                          capture_output=True, text=True, timeout=timeout_s, check=False)


def start_harness(*args: str) -> subprocess.Popen:
    """``python -m harness ARGS`` started in the background (stdout+stderr piped together)."""
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=REPO, env=harness_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_event(events_path: Path, kind: str, timeout_s: float = 90.0, where=None, **match: object) -> dict:
    """The first event of ``kind`` (with ``match`` fields, and ``where(event)`` true if given) in
    events.jsonl, waiting up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if events_path.exists():
            for line in events_path.read_text().splitlines():
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if (event.get("kind") == kind and all(event.get(k) == v for k, v in match.items())
                        and (where is None or where(event))):
                    return event
        time.sleep(0.2)
    raise AssertionError(f"no {kind} event {match} in {events_path} within {timeout_s} s")


def finish(proc: subprocess.Popen, timeout_s: float = HARNESS_TIMEOUT_S) -> tuple[int, str]:
    """Wait for a background harness (killing it past ``timeout_s``); its exit code and output."""
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        output, _ = proc.communicate()
        raise AssertionError(f"harness did not exit within {timeout_s} s:\n{output[-3000:]}") from None
    return proc.returncode, output


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def read_events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]


def write_profile_file(folder: Path, name: str = "quick", rate: float = 2.0,
                       stages: list[tuple[str, float, float]] | None = None, extra: str = "",
                       drain_s: float = 3.0, journey_timeout_s: float = 8.0) -> Path:
    """A short profile TOML in ``folder``: ``stages`` as (name, load factor, duration s), each with
    a ramp of a quarter of its duration (at most 1 s)."""
    stages = stages or [("100%", 1.0, 5.0)]
    lines = ["[profile]", f'name = "{name}"', f"nominal_journeys_per_s = {rate}",
             "max_concurrent_journeys = 40", f"journey_timeout_s = {journey_timeout_s}",
             "time_scale = 0.1", f"drain_s = {drain_s}", "request_timeout_s = 5.0", extra]
    for stage_name, factor, duration_s in stages:
        lines += ["", "[[stages]]", f'name = "{stage_name}"', f"load_factor = {factor}",
                  f"duration_s = {duration_s}", f"ramp_s = {min(1.0, duration_s / 4)}"]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
