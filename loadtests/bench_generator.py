"""Measure the load generator's cost: requests per second per generator core.

Starts the platform (``harness shop``), then runs, one after the other against it,
1. loadtests/shop.py (the journeys, open model) and
2. loadtests/healthz.py (a bare FastHttpUser on /healthz),
each as a local Locust runner for ``--seconds``, and, if installed, 3. ``wrk`` on /healthz.
For each it reads the generator's CPU seconds (psutil, user + system) and the requests it
recorded, and prints requests per generator-CPU-second (= requests/s per fully used core).

    PYTHONPATH=. python loadtests/bench_generator.py --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from harness.config.paths import install_root
from harness.rundir import EventTail, read, schema

REPO = install_root()  # holds loadtests/, harness/ and services/ (checkout or site-packages)


def _profile(path: Path, seconds: float, rate: float, users: int) -> Path:
    path.write_text(f"""[profile]
name = "bench"
nominal_journeys_per_s = {rate}
max_concurrent_journeys = {users}
journey_timeout_s = 30.0
time_scale = 0.1
drain_s = 5.0
[[stages]]
name = "bench"
load_factor = 1.0
duration_s = {seconds}
ramp_s = 1.0
""")
    return path


def _cpu_s(handle: psutil.Process) -> float:
    times = handle.cpu_times()
    return times.user + times.system


def _measure_locust(argv: list[str], env: dict[str, str], run_dir: Path) -> dict[str, float]:
    """CPU and requests between the stage's start and end (startup and drain left out)."""
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    handle = psutil.Process(process.pid)
    marks: dict[str, tuple[float, float]] = {}
    tail = EventTail(run_dir / schema.EVENTS)
    while process.poll() is None:
        kinds = {event.get("kind") for event in tail.read_new()}
        for kind in ("stage_start", "stage_end"):
            if kind not in marks and kind in kinds:
                marks[kind] = (time.time(), _cpu_s(handle))
        time.sleep(0.05)
    (start_t, start_cpu), (end_t, end_cpu) = marks["stage_start"], marks["stage_end"]
    t_s = read.read_requests(run_dir, columns=["t_s"])["t_s"]
    requests = int(((t_s >= start_t) & (t_s < end_t)).sum())
    cpu_s, wall_s = end_cpu - start_cpu, end_t - start_t
    return {"requests": requests, "cpu_s": cpu_s, "wall_s": wall_s, "requests_per_s": requests / wall_s,
            "requests_per_core_s": requests / cpu_s if cpu_s else 0.0}


def _measure_wrk(argv: list[str]) -> dict[str, float]:
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    handle = psutil.Process(process.pid)
    cpu_s = 0.0
    while process.poll() is None:
        try:
            cpu_s = _cpu_s(handle)
        except psutil.Error:
            pass
        time.sleep(0.1)
    wall_s = time.monotonic() - started
    match = re.search(r"(\d+) requests in", process.stdout.read())
    requests = int(match.group(1)) if match else 0
    return {"requests": requests, "cpu_s": cpu_s, "wall_s": wall_s, "requests_per_s": requests / wall_s,
            "requests_per_core_s": requests / cpu_s if cpu_s else 0.0}


def main() -> int:
    """Run the three measurements and print a table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--journeys-per-s", type=float, default=8.0)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    work = Path(tempfile.mkdtemp(prefix="bench-generator-"))
    port_file = work / "port.json"
    shop = subprocess.Popen([sys.executable, "-m", "harness", "shop", "--port", "0", "--port-file", str(port_file),
                             "--data-dir", str(work / "data")], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while not port_file.exists():
            if shop.poll() is not None:
                raise SystemExit("harness shop did not start")
            time.sleep(0.2)
        url = json.loads(port_file.read_text())["shop_url"]
        results = {}
        locust = [sys.executable, "-m", "locust", "--headless", "-H", url, "--only-summary"]
        profile = _profile(work / "journeys.toml", args.seconds, args.journeys_per_s, 200)
        results["journeys (shop.py)"] = _measure_locust(
            locust + ["-f", "loadtests/shop.py", "--profile", str(profile), "--run-dir", str(work / "journeys")],
            env, work / "journeys")
        profile = _profile(work / "healthz.toml", args.seconds, 1.0, 10)
        results["bare /healthz (healthz.py)"] = _measure_locust(
            locust + ["-f", "loadtests/healthz.py", "--profile", str(profile), "--run-dir", str(work / "healthz")],
            env, work / "healthz")
        if shutil.which("wrk"):
            results["wrk -t1 -c10 /healthz"] = _measure_wrk(
                ["wrk", "-t1", "-c10", f"-d{int(args.seconds)}s", f"{url}/healthz"])
        print(f"{'generator':32} {'requests':>9} {'wall_s':>7} {'cpu_s':>7} {'req/s':>8} {'req/s/core':>11}")
        for name, r in results.items():
            print(f"{name:32} {r['requests']:9d} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} {r['requests_per_s']:8.1f} "
                  f"{r['requests_per_core_s']:11.1f}")
    finally:
        shop.send_signal(signal.SIGTERM)
        shop.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
