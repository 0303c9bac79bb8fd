"""Join a Locust master running elsewhere as one more load generator process.

Runs ``locust --worker`` with the campaign's locustfile in the foreground until the master
stops the test (or Ctrl-C). The master (``harness campaign --master-bind ADDR:PORT
--expect-workers N`` on another host) checks this worker's join token and versions, measures
its clock's offset, then sends it its share of the stages and collects its exact histograms
and records. A worker the master refuses exits 2 with the reason (docs/distributed.md).

The join token: HARNESS_JOIN_TOKEN in the environment, or --join-token-file FILE (first line),
the same as the master's. It never crosses the network: the worker proves it holds it (HMAC).

Example:
    HARNESS_JOIN_TOKEN=... harness worker --master 10.0.0.5:5557
    harness worker --master 10.0.0.5 --join-token-file /etc/harness/join-token
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
    parser.add_argument("--master", required=True, metavar="HOST[:PORT]",
                        help="the master's host name or address, and port (default 5557)")
    parser.add_argument("--master-port", type=int, metavar="P", help="the master's port (default 5557)")
    parser.add_argument("--join-token-file", metavar="FILE",
                        help="the master's join token (first line; else HARNESS_JOIN_TOKEN)")
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
    from harness.flows.distributed import DEFAULT_MASTER_PORT, TOKEN_ENV, parse_address, read_token

    host, port = parse_address(args.master, "--master")
    if args.master_port is not None:
        if not 0 < args.master_port < 65536:
            raise InputError(f"--master-port {args.master_port}: must be 1-65535")
        if port != DEFAULT_MASTER_PORT and port != args.master_port:
            raise InputError(f"--master {args.master} and --master-port {args.master_port} name two ports")
        port = args.master_port
    token = read_token(args.join_token_file)
    if token is None:
        raise InputError(f"no join token: set {TOKEN_ENV} or give --join-token-file FILE (the master prints "
                         "the token it made, or uses the one it was given)")
    locustfile = str(input_file(args.locustfile, DEFAULT_LOCUSTFILE, "--locustfile").resolve())
    proc = subprocess.Popen(worker_argv(locustfile, host, port), env=child_env({TOKEN_ENV: token}))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        return EXIT_INTERRUPTED
