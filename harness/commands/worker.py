"""Join a Locust master running elsewhere as one more load generator process.

Runs ``locust --worker`` with the campaign's locustfile in the foreground until the master
stops the test (or Ctrl-C). The master (``harness campaign --workers N`` on another machine,
started with a master port reachable from here) sends the stages and collects this worker's
exact histograms and records.

Example:
    harness worker --master 10.0.0.5 --master-port 5557
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

from harness.config import paths
from harness.errors import EXIT_INTERRUPTED, InputError

NAME = "worker"
HELP = "join a Locust master on another machine as a load generator worker"
DEFAULT_LOCUSTFILE = paths.SHOP_LOCUSTFILE  # shipped; harness.config.paths finds it from any directory


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of ``harness worker``."""
    parser.add_argument("--master", required=True, metavar="HOST", help="the master's host name or address")
    parser.add_argument("--master-port", type=int, default=5557, metavar="P", help="the master's port (default 5557)")
    parser.add_argument("--locustfile", metavar="FILE",
                        help=f"the same locustfile as the master's (default {DEFAULT_LOCUSTFILE})")


def worker_argv(locustfile: str, master: str, master_port: int) -> list[str]:
    """The Locust worker command line."""
    return [sys.executable, "-m", "locust", "-f", locustfile, "--worker",
            "--master-host", master, "--master-port", str(master_port)]


def run(args: argparse.Namespace) -> int:
    """Run the worker in the foreground; Ctrl-C is passed on to it (exit 130)."""
    from harness.config.inputs import input_file
    from harness.execute.children import child_env

    if not 0 < args.master_port < 65536:
        raise InputError(f"--master-port {args.master_port}: must be 1-65535")
    locustfile = str(input_file(args.locustfile, DEFAULT_LOCUSTFILE, "--locustfile").resolve())
    proc = subprocess.Popen(worker_argv(locustfile, args.master, args.master_port), env=child_env())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        return EXIT_INTERRUPTED
