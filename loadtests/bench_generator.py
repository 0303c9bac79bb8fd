"""Measure the load generator's cost: CPU per request, at equal load and equal bodies.

Starts the platform (``harness shop``), captures the GET URLs the journeys fetch
(loadtests/capture_urls.py, a short run not measured), then measures one after the other,
each as a local Locust runner for ``--seconds``:

1. ``journeys``: loadtests/shop.py at ``--journeys-per-s`` (open model, recorder on);
2. ``replay, recorder``: loadtests/replay_recorded.py, the captured GETs at the journeys'
   request rate (equal load, equal bodies), recorded as a campaign records;
3. ``replay, plain Locust``: loadtests/replay.py, the same without the recorder;
4. ``/healthz, recorder``: loadtests/healthz.py, a bare user saturating /healthz (the old
   yardstick: a different load and body, for comparison with earlier figures);
and, if installed, ``wrk`` on /healthz.

For each: the generator process's CPU seconds (psutil, user + system) over the same span of
steady load (``--seconds`` less 4: from 2 s after the stage starts, or 3 s after plain Locust
starts; start-up, drain and the writing of the run directory left out), the requests sent in it
and their mean response size. Requests are
counted by the recorder (requests.csv) where there is one, and by the shop's own counter
(/metrics ``requests_total``) for plain Locust; the recorded replay is counted both ways, a
check that the two agree. ``--rounds`` repeats 1-3 to show the noise.

    PYTHONPATH=. python loadtests/bench_generator.py --seconds 20 --rounds 3
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


def _profile(path: Path, seconds: float, rate: float, users: int, ramp_s: float = 1.0) -> Path:
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
ramp_s = {ramp_s}
""")
    return path


def _cpu_s(handle: psutil.Process) -> float:
    times = handle.cpu_times()
    return times.user + times.system


def _shop_requests(url: str) -> float:
    """The shop's own count of the requests it answered (its /metrics)."""
    import urllib.request

    from harness.execute.scrape import parse_shop_metrics

    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:  # noqa: S310 - the shop started here
        return parse_shop_metrics(response.read().decode())["requests_total"]


def _figures(requests: int, cpu_s: float, wall_s: float, bytes_total: float | None) -> dict[str, float]:
    return {"requests": requests, "cpu_s": cpu_s, "wall_s": wall_s, "requests_per_s": requests / wall_s,
            "core_share": cpu_s / wall_s, "cpu_us_per_request": 1e6 * cpu_s / requests if requests else float("nan"),
            "requests_per_core_s": requests / cpu_s if cpu_s else 0.0,
            "bytes_per_response": bytes_total / requests if requests and bytes_total is not None else float("nan")}


def _measure_locust(argv: list[str], env: dict[str, str], run_dir: Path, seconds: float, shop_url: str | None = None,
                    settle_s: float = 2.0) -> dict[str, float]:
    """A recorded run: CPU and requests over a span inside its stage, from ``settle_s`` after the
    stage starts for ``seconds - 2 * settle_s`` (the start-up, the drain and the writing of the
    run directory left out, as for plain Locust); with ``shop_url`` also the shop's own count
    over the same span (``shop_requests``)."""
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    handle = psutil.Process(process.pid)
    tail = EventTail(run_dir / schema.EVENTS)
    try:
        while not any(event.get("kind") == "stage_start" for event in tail.read_new()):
            if process.poll() is not None:
                raise SystemExit(f"{argv}: ended before its stage started")
            time.sleep(0.05)
        time.sleep(settle_s)
        start_t, start_cpu = time.time(), _cpu_s(handle)
        start_shop = _shop_requests(shop_url) if shop_url else 0.0
        time.sleep(seconds - 2 * settle_s)
        end_t, end_cpu = time.time(), _cpu_s(handle)
        end_shop = _shop_requests(shop_url) if shop_url else 0.0
    finally:
        process.wait(timeout=seconds + 120)
    rows = read.read_requests(run_dir, columns=["t_s", "bytes"])
    inside = (rows["t_s"] >= start_t) & (rows["t_s"] < end_t)
    figures = _figures(int(inside.sum()), end_cpu - start_cpu, end_t - start_t, float(rows["bytes"][inside].sum()))
    if shop_url:
        figures["shop_requests"] = end_shop - start_shop
    return figures


def _measure_plain(argv: list[str], env: dict[str, str], shop_url: str, seconds: float, warmup_s: float,
                   bytes_per_response: float) -> dict[str, float]:
    """Plain Locust (no recorder): CPU over ``seconds`` after ``warmup_s``, requests by the shop's
    own counter over the same span (every replayed URL is the shop's)."""
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    handle = psutil.Process(process.pid)
    try:
        time.sleep(warmup_s)
        start_t, start_cpu, start_shop = time.time(), _cpu_s(handle), _shop_requests(shop_url)
        time.sleep(seconds)
        end_t, end_cpu, end_shop = time.time(), _cpu_s(handle), _shop_requests(shop_url)
    finally:
        process.wait(timeout=seconds + warmup_s + 60)
    requests = int(end_shop - start_shop)
    return _figures(requests, end_cpu - start_cpu, end_t - start_t, bytes_per_response * requests)


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
    return _figures(int(match.group(1)) if match else 0, cpu_s, wall_s, None)


def capture(locust: list[str], env: dict[str, str], work: Path, journeys_per_s: float, shop_url: str) -> Path:
    """The journeys' GETs to the shop, written down by a short capture run (not measured)."""
    raw = work / "captured.jsonl"
    profile = _profile(work / "capture.toml", 10.0, journeys_per_s, 200)
    subprocess.run(locust + ["-f", "loadtests/capture_urls.py", "--profile", str(profile), "--run-dir",
                             str(work / "capture")], cwd=REPO, env={**env, "HARNESS_CAPTURE_URLS": str(raw)},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=True)
    rows = [json.loads(line) for line in raw.read_text().splitlines() if line.strip()]
    shop = [row for row in rows if row[1].startswith(shop_url + "/")]
    if not shop:
        raise SystemExit(f"the capture run ({raw}) recorded no GET to the shop")
    urls = work / "urls.jsonl"
    urls.write_text("".join(json.dumps(row) + "\n" for row in shop))
    return urls


COLUMNS = (("generator", "", 34), ("requests", "d", 9), ("req/s", ".1f", 8), ("B/resp", ".0f", 7),
           ("cpu_s", ".2f", 7), ("core", ".2f", 5), ("us CPU/req", ".0f", 10), ("req/core-s", ".0f", 10))


def print_table(results: dict[str, dict[str, float]]) -> None:
    print(" ".join(f"{name:>{width}}" if i else f"{name:{width}}" for i, (name, _, width) in enumerate(COLUMNS)))
    keys = ("requests", "requests_per_s", "bytes_per_response", "cpu_s", "core_share", "cpu_us_per_request",
            "requests_per_core_s")
    for name, r in results.items():
        cells = [f"{name:34}"] + [f"{r[key]:>{width}{spec}}" for key, (_, spec, width) in zip(keys, COLUMNS[1:], strict=True)]
        print(" ".join(cells) + (f"   (shop counted {r['shop_requests']:.0f})" if "shop_requests" in r else ""))


def main() -> int:
    """Capture, then run the measurements ``--rounds`` times and print a table per round; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--journeys-per-s", type=float, default=8.0)
    parser.add_argument("--users", type=int, default=20, help="users sharing the replay's request rate")
    parser.add_argument("--rounds", type=int, default=1)
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
        locust = [sys.executable, "-m", "locust", "--headless", "-H", url, "--only-summary", "--exit-code-on-error", "0"]
        urls = capture(locust, env, work, args.journeys_per_s, url)
        print(f"captured {len(urls.read_text().splitlines())} GETs to the shop ({urls})")
        for round_ in range(1, args.rounds + 1):
            results = {}
            folder = work / f"round-{round_}"
            folder.mkdir()
            profile = _profile(folder / "journeys.toml", args.seconds, args.journeys_per_s, 200)
            journeys = results["journeys (shop.py)"] = _measure_locust(
                locust + ["-f", "loadtests/shop.py", "--profile", str(profile), "--run-dir", str(folder / "journeys")],
                env, folder / "journeys", args.seconds)
            replay_env = {**env, "HARNESS_REPLAY_URLS": str(urls), "HARNESS_REPLAY_RATE": f"{journeys['requests_per_s']:.3f}",
                          "HARNESS_REPLAY_USERS": str(args.users)}
            profile = _profile(folder / "replay.toml", args.seconds, 1.0, args.users, ramp_s=0.0)
            recorded = results["replay, recorder (replay_recorded.py)"] = _measure_locust(
                locust + ["-f", "loadtests/replay_recorded.py", "--profile", str(profile), "--run-dir",
                          str(folder / "replay")], replay_env, folder / "replay", args.seconds, shop_url=url)
            results["replay, plain Locust (replay.py)"] = _measure_plain(
                locust + ["-f", "loadtests/replay.py", "--users", str(args.users), "--spawn-rate", str(args.users),
                          "--run-time", f"{int(args.seconds + 3)}s"], replay_env, url, args.seconds - 4.0, 3.0,
                recorded["bytes_per_response"])
            profile = _profile(folder / "healthz.toml", args.seconds, 1.0, 10)
            results["/healthz saturated, recorder"] = _measure_locust(
                locust + ["-f", "loadtests/healthz.py", "--profile", str(profile), "--run-dir", str(folder / "healthz")],
                env, folder / "healthz", args.seconds)
            if shutil.which("wrk"):
                results["wrk -t1 -c10 /healthz"] = _measure_wrk(
                    ["wrk", "-t1", "-c10", f"-d{int(args.seconds)}s", f"{url}/healthz"])
            print(f"round {round_}:")
            print_table(results)
    finally:
        shop.send_signal(signal.SIGTERM)
        shop.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
