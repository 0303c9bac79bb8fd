"""Run any locustfile against any service on this machine, recorded and judged like a campaign.

For engineers who bring their own service: the harness does not start a platform; it checks
that --host answers, runs the locustfile under the profile's stages with the harness recorder
loaded beside it (requests.csv, journeys.csv, histograms, events), judges the run against the
targets and writes the report. Exit codes as for ``harness campaign``: 0 pass, 1 a target
failed, 2 invalid or could not run, 130 interrupted.

Example:
    harness run --locustfile my_locustfile.py --host http://127.0.0.1:8080 --profile profiles/smoke.toml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.commands.campaign import add_load_flags, add_safety_flags, add_telemetry_flags, check_workers
from harness.config import paths

NAME = "run"
HELP = "run any locustfile against a service (loopback, or a host on the allow-list), recorded and judged"
DEFAULT_PROFILE = paths.SMOKE_PROFILE  # shipped, found from any directory (harness.config.paths)
DEFAULT_TARGETS = paths.TARGETS
# Loaded beside the user's locustfile: the --profile/--run-dir options, the recorder and the
# profile's load shape (Locust accepts several locustfiles joined by commas).
RECORDER_LOCUSTFILE = paths.RECORDER_LOCUSTFILE


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of ``harness run``."""
    parser.add_argument("--locustfile", required=True, metavar="FILE", help="the locustfile to run")
    parser.add_argument("--host", required=True, metavar="URL",
                        help="the service under test (any http(s) URL; a host other than loopback must be on the "
                             "allow-list: --allow-host)")
    add_safety_flags(parser)
    parser.add_argument("--profile", metavar="FILE",
                        help=f"load profile TOML, from this directory or the shipped profiles/ "
                             f"(default {DEFAULT_PROFILE}, shipped)")
    add_load_flags(parser)
    add_telemetry_flags(parser)
    parser.add_argument("--targets", metavar="FILE", help=f"targets file (default {DEFAULT_TARGETS}, shipped)")
    parser.add_argument("--strict", action="store_true",
                        help="a target that cannot be evaluated counts as failed")


def locustfiles_for(user_locustfile: Path) -> str:
    """The ``-f`` value: the user's file, with the harness recorder beside it unless it is ours."""
    recorder = paths.shipped(RECORDER_LOCUSTFILE)
    if recorder is None or user_locustfile.resolve().parent == recorder.resolve().parent:
        return str(user_locustfile)
    return f"{recorder},{user_locustfile}"


def run(args: argparse.Namespace) -> int:
    """Validate, then run the locustfile against --host; returns the exit code."""
    from harness.config import allow
    from harness.config import inputs as check
    from harness.flows import run as orch

    profile = check.validate_profile(args.profile, DEFAULT_PROFILE)
    workers = check_workers(args.workers)
    locustfile = check.require_file(args.locustfile, "--locustfile")
    targets_path = check.validate_targets(check.input_file(args.targets, DEFAULT_TARGETS, "--targets"), "--targets")
    safety = allow.safety_from(args.allow_host, args.allow_hosts_file, args.ca_bundle)
    checked = allow.check_target_allowed(args.host, "--host", safety)  # before any connection
    host = checked.url
    from harness.flows.campaign import check_metrics_urls, check_prometheus
    from harness.flows.distributed import master_options
    master = master_options(args.master_bind, args.expect_workers, args.workers_wait_s, args.join_token_file)
    metrics_urls = check_metrics_urls(tuple(args.metrics_url or ()), safety, remote=True)
    prometheus = check_prometheus(args.prometheus, args.selector, args.prometheus_step, safety, remote=True,
                                  metrics_urls=metrics_urls)
    check.check_target(host, "--host", health_path=None, verify=safety.verify)  # the first connection
    request = orch.RunRequest(
        argv=["harness", *sys.argv[1:]], profile=profile, locustfile=locustfiles_for(locustfile),
        target=host, workers=workers, out=args.out, targets_path=targets_path, strict=args.strict,
        sut_pids=check.require_pids(args.sut_pid, "--sut-pid"), checked_target=checked, safety=safety,
        shop_journeys=False, health_path="/", master=master, metrics_urls=metrics_urls,
        prometheus=prometheus,
    )
    if args.preflight:
        return orch.preflight_only(request).exit_code
    return orch.execute(request).exit_code
