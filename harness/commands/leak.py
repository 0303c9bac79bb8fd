"""Find out whether a service leaks: drive it at a steady rate and estimate its memory growth.

Starts --sut-cmd with ``{port}`` replaced by a free loopback port, waits until it answers HTTP on
http://127.0.0.1:PORT/, drives it with --locustfile for --duration (--rate N: N task executions
per second in all, spread over --users; without it, the locustfile's own wait times) with the
harness recorder beside it, samples its process tree at 1 Hz (USS, RSS), stops it with SIGINT
(then SIGKILL), judges the run, and prints memory growth per hour with its 95% interval, whether
growth stopped (a cache that filled), how long a run would have to be to tell 0.1 GB/h from zero,
and with --memray the allocation sites that grow fastest. --memray attaches memray (through gdb)
to the running service in two windows, early in the run and near its end (a Python service;
--duration at least 47 s), compares each site's growth between them (leak, or a cache that
filled), and judges growth between the windows (docs/run-directory.md, memray windows).

The run directory is a normal one (docs/run-directory.md): manifest.json, requests.csv,
journeys.csv, histograms/, events.jsonl (one stage, "steady"), samples.csv (role "sut"),
platform/ (the service's log, memray captures), profiles/ (memray's leaks flame graph),
targets.toml (memory-growth <= --max-growth), results.json (the ``memory`` block, the targets)
and the report; ``harness report DIR`` and ``harness check DIR`` re-derive and re-judge it.

Exit code: 0 no leak above --max-growth, 1 growth above --max-growth (its whole 95% interval
above it; an interval straddling it is a warning), 2 could not run or the run is invalid (no
growth estimate, the service died), 130 interrupted.

Example:
    harness leak --sut-cmd "python tests/fixtures/leaky_service.py --port {port}" \\
        --locustfile tests/fixtures/leaky_locustfile.py --duration 2m --rate 40 --memray
    harness leak --sut-cmd "uvicorn myapp:app --port {port}" --locustfile load.py --out /tmp/leak1
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "leak"
HELP = "drive any service at a steady rate and estimate its memory growth per hour (and leak sites)"


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    """Declare the leak command's flags."""
    parser.add_argument("--sut-cmd", required=True, metavar="CMD",
                        help="command that starts the service; {port} is replaced by a free loopback port")
    parser.add_argument("--locustfile", required=True, type=Path, metavar="FILE", help="Locust file driving it")
    parser.add_argument("--duration", default="5m", metavar="TIME",
                        help="load duration, e.g. 40s, 5m, 1h (default 5m)")
    parser.add_argument("--rate", type=float, metavar="N",
                        help="task executions per second in all (default: the locustfile's wait times)")
    parser.add_argument("--users", type=int, default=10, metavar="N", help="simulated users (default 10)")
    parser.add_argument("--memray", action="store_true",
                        help="attach memray in two windows to name the leaking lines (needs gdb)")
    parser.add_argument("--max-growth", default="0.1GB/h", metavar="RATE",
                        help="the memory-growth target: growth whose whole 95%% interval lies above this "
                             "exits 1 (default 0.1GB/h)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="run directory (default reports/<run-id>)")


def run(args: argparse.Namespace) -> int:
    """Flags → LeakRequest → the leak flow; returns the exit code."""
    from harness.flows.leak import LeakRequest, run_leak

    return run_leak(LeakRequest(
        sut_cmd=args.sut_cmd, locustfile=args.locustfile, duration=args.duration, rate=args.rate,
        users=args.users, memray=args.memray, max_growth=args.max_growth, out=args.out)).exit_code
