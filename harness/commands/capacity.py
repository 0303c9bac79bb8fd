"""Find the capacity: the journey arrival rate at which the targets break, and the headroom.

Runs probes, each a fixed journey arrival rate held for --probe-s seconds (a one-stage campaign
run through the same orchestration as `harness campaign`: embedded platform unless --target,
loopback only). Starts at nominal load (the profile's nominal_journeys_per_s), raises the rate
× --step per probe until a probe breaks a target, bisects between the highest passing and the
lowest breaking rate down to --resolution, and repeats the highest passing rate to confirm it;
stops when the time budget (--max-minutes) cannot fit another probe.

A probe breaks when a per-stage target of the targets file (P95 / mean / availability per
endpoint class, journey success, business rates; judged in each probe, warning levels
ignored) fails with its whole 95% interval on the bad side (--strict: also when it
straddles), when more than 1% of arrivals were dropped, or when the platform died. If the load
generator saturates first, the search stops and the capacity is reported as a lower bound.

Writes capacity.json (capacity with its interval, headroom against 300% of nominal, the first
target to break, what saturated, every probe) and knee.png into the search directory; each
probe's own run directory is kept under probes/. Exit code: 0 when 300% of nominal load is
within the capacity found, 1 when it is not (or not shown), 2 invalid input or no probe could
run, 130 interrupted.

Example:
    harness capacity --profile profiles/step-300.toml --max-minutes 15
    harness capacity --platform-workers 2 --max-minutes 10 --out /tmp/cap-2w
    harness capacity --faults profiles/faults/cache-off.toml --platform-workers 2
    harness capacity --target http://127.0.0.1:8000 --targets profiles/targets.toml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.commands.campaign import add_safety_flags, add_telemetry_flags
from harness.config import paths
from harness.errors import InputError

NAME = "capacity"
HELP = "search the journey arrival rate at which the targets break; report capacity and headroom"
# The shipped defaults: harness.config.paths finds them from any working directory.
DEFAULT_PROFILE = paths.STEP_300_PROFILE
DEFAULT_LOCUSTFILE = paths.SHOP_LOCUSTFILE
DEFAULT_TARGETS = paths.TARGETS
MIN_PROBE_S = 5.0


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    """Declare the capacity search's flags."""
    parser.add_argument("--profile", metavar="FILE",
                        help=f"base profile: nominal rate, journey mix and settings (default {DEFAULT_PROFILE}, shipped); "
                             "its stages are replaced by the probes")
    parser.add_argument("--target", metavar="URL",
                        help="a running platform (any http(s) URL; a host other than loopback must be on the "
                             "allow-list: --allow-host)")
    add_safety_flags(parser, preflight=False)
    add_telemetry_flags(parser)
    parser.add_argument("--targets", metavar="FILE", help=f"targets file (default {DEFAULT_TARGETS}, shipped)")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="Locust worker processes under a master (default 0: one local process)")
    parser.add_argument("--platform-workers", type=int, metavar="N",
                        help="shop worker processes of the embedded platform (default 1)")
    parser.add_argument("--faults", metavar="PRESET|FILE", help="fault preset or TOML file for the embedded platform")
    parser.add_argument("--max-minutes", type=float, default=15.0, metavar="N",
                        help="time budget of the whole search in minutes (default 15)")
    parser.add_argument("--probe-s", type=float, default=30.0, metavar="S",
                        help="seconds each probe holds its rate, ramp included (default 30)")
    parser.add_argument("--step", type=float, default=1.5, metavar="X",
                        help="rate multiplier between probes while nothing breaks (default 1.5)")
    parser.add_argument("--start", type=float, default=1.0, metavar="X",
                        help="first probe at X × nominal (default 1.0)")
    parser.add_argument("--resolution", type=float, default=0.10, metavar="X",
                        help="bisect until the breaking rate is within 1+X of the passing one (default 0.10)")
    parser.add_argument("--strict", action="store_true", help="a target whose interval straddles counts as broken")
    parser.add_argument("--out", type=Path, metavar="DIR", help="search directory (default reports/<id>)")
    parser.add_argument("--locustfile", help=argparse.SUPPRESS)  # default: the shipped DEFAULT_LOCUSTFILE


def _positive(value: float, flag: str, minimum: float = 0.0, inclusive: bool = False) -> float:
    if value != value or (value < minimum if inclusive else value <= minimum):  # NaN too
        raise InputError(f"{flag} {value:g}: must be {'>=' if inclusive else '>'} {minimum:g}")
    return value


def build_request(args: argparse.Namespace):
    """Validate every flag and file; returns a harness.flows.capacity.CapacityRequest."""
    from harness.config import allow
    from harness.config import inputs as check
    from harness.flows.capacity import CapacityRequest

    if args.workers < 0:
        raise InputError(f"--workers {args.workers}: must be 0 (one local process) or more")
    if args.platform_workers is not None and args.platform_workers < 1:
        raise InputError(f"--platform-workers {args.platform_workers}: must be 1 or more")
    budget_min = _positive(args.max_minutes, "--max-minutes")
    probe_s = _positive(args.probe_s, "--probe-s", MIN_PROBE_S, inclusive=True)
    step = _positive(args.step, "--step", 1.0)
    start = _positive(args.start, "--start")
    resolution = _positive(args.resolution, "--resolution")
    profile = check.validate_profile(args.profile, DEFAULT_PROFILE)
    targets_path = check.input_file(args.targets, DEFAULT_TARGETS, "--targets")
    faults = check.resolve_faults(args.faults)
    locustfile = str(check.input_file(args.locustfile, DEFAULT_LOCUSTFILE, "--locustfile"))
    safety = allow.safety_from(args.allow_host, args.allow_hosts_file, args.ca_bundle)
    target, checked = None, None
    if args.target:
        checked = allow.check_target_allowed(args.target, "--target", safety)  # before any connection
        target = checked.url
        if args.faults or args.platform_workers:
            raise InputError("--faults and --platform-workers apply to the embedded platform; drop them with --target")
    from harness.flows.campaign import check_metrics_urls, check_prometheus
    metrics_urls = check_metrics_urls(tuple(args.metrics_url or ()), safety, remote=target is not None)
    prometheus = check_prometheus(args.prometheus, args.selector, args.prometheus_step, safety,
                                  remote=target is not None, metrics_urls=metrics_urls)
    if target is not None:
        check.check_target(target, "--target", health_path="/healthz", verify=safety.verify)
    return CapacityRequest(
        argv=["harness", *sys.argv[1:]], profile=profile, targets_path=targets_path, locustfile=locustfile,
        target=target, workers=args.workers, platform_workers=args.platform_workers, faults=faults,
        budget_s=budget_min * 60.0, probe_s=probe_s, ramp_s=min(5.0, probe_s / 5.0), step_factor=step,
        start_factor=start, resolution=resolution, strict=args.strict, out=args.out, checked_target=checked,
        safety=safety, metrics_urls=metrics_urls, prometheus=prometheus)


def run(args: argparse.Namespace) -> int:
    """Validate, run the search, print the summary; returns the exit code."""
    from harness.flows.capacity import CapacitySearch
    from harness.flows.run import default_console

    request = build_request(args)
    try:
        search = CapacitySearch(request, default_console())
    except ValueError as error:  # SearchConfig's own checks (e.g. --start above the ceiling)
        raise InputError(f"--start/--step/--resolution: {error}") from error
    _, code = search.run()
    return code
