"""Run a load campaign: the shopping journeys, stage by stage, against the embedded platform.

With no --target, starts the reference platform (shop + gateway) on free loopback ports with its
data in the run directory, samples its processes at 1 Hz, runs the profile's stages headless with
Locust (--workers N: a master and N local worker processes), prints a progress line per stage,
stops the platform, judges the run against the targets, writes the report, prints a summary
table and the run directory. Exit code: 0 every target met, 1 a target failed, 2 the run was
invalid or could not run (the message says why), 130 interrupted (Ctrl-C / SIGTERM: what was
measured is kept and a partial report is written).

Example:
    harness campaign --profile profiles/step-300.toml
    harness campaign --profile profiles/smoke.toml --workers 2 --faults documented-problems
    harness campaign --target http://127.0.0.1:8000 --profile profiles/smoke.toml --out /tmp/run1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import InputError

NAME = "campaign"
HELP = "run the journeys' load profile against the embedded platform (or a loopback --target)"
DEFAULT_PROFILE = "profiles/step-300.toml"
DEFAULT_LOCUSTFILE = "loadtests/shop.py"
DEFAULT_TARGETS = "targets.toml"


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    """Declare the campaign's flags."""
    parser.add_argument("--profile", default=DEFAULT_PROFILE, metavar="FILE",
                        help=f"load profile TOML (default {DEFAULT_PROFILE})")
    parser.add_argument("--target", metavar="URL",
                        help="a running platform on this machine (loopback only); default: start the embedded one")
    add_load_flags(parser)
    parser.add_argument("--platform-workers", type=int, metavar="N",
                        help="shop worker processes of the embedded platform (gunicorn), default 1")
    parser.add_argument("--faults", metavar="PRESET|FILE",
                        help="fault preset (healthy, documented-problems) or TOML file for the embedded platform")
    parser.add_argument("--database", metavar="URL",
                        help="database of the embedded platform (postgresql://... ; default SQLite in the run directory)")
    parser.add_argument("--targets", metavar="FILE", help=f"targets file (default {DEFAULT_TARGETS})")
    parser.add_argument("--strict", action="store_true",
                        help="a target that cannot be evaluated counts as failed")
    parser.add_argument("--memray", action="store_true",
                        help="run the shop under memray (leak sites in the report)")
    parser.add_argument("--cpu-profile", metavar="STAGE",
                        help="py-spy CPU profile of the platform during STAGE (default: the profile's "
                             "[profilers] cpu_profile_stage; 'none' for none)")
    parser.add_argument("--locustfile", default=DEFAULT_LOCUSTFILE, help=argparse.SUPPRESS)


def add_load_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared with ``harness run``: --workers, --out and --sut-pid."""
    parser.add_argument("--sut-pid", type=int, action="append", metavar="PID",
                        help="with an external target: a process of the service to sample (repeatable)")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="Locust worker processes under a master (default 0: one local process)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="run directory (default reports/<run-id>)")


def check_workers(workers: int) -> int:
    """``--workers`` as given if >= 0, else InputError naming the flag."""
    if workers < 0:
        raise InputError(f"--workers {workers}: must be 0 (one local process) or more")
    return workers


def run(args: argparse.Namespace) -> int:
    """Validate every input, then carry out the campaign; returns the exit code."""
    from harness import orchestration as orch
    from harness import run_inputs as check

    profile = check.validate_profile(check.repo_default(args.profile))
    workers = check_workers(args.workers)
    if args.platform_workers is not None and args.platform_workers < 1:
        raise InputError(f"--platform-workers {args.platform_workers}: must be 1 or more")
    stage_names = [s["name"] for s in profile.stages_manifest()]
    cpu_stage = args.cpu_profile if args.cpu_profile is not None else profile.profilers.cpu_profile_stage
    if cpu_stage in ("none", ""):
        cpu_stage = None
    if cpu_stage is not None and cpu_stage not in stage_names:
        raise InputError(f"--cpu-profile {cpu_stage!r}: no such stage in {args.profile} "
                         f"(stages: {', '.join(stage_names)})")
    targets_path = check.require_file(args.targets, "--targets")
    if targets_path is None and Path(check.repo_default(DEFAULT_TARGETS)).is_file():
        targets_path = Path(check.repo_default(DEFAULT_TARGETS))
    targets_path = check.validate_targets(targets_path, "--targets")
    if args.faults and (args.faults.endswith(".toml") or "/" in args.faults):
        check.require_file(args.faults, "--faults")
    locustfile = str(check.require_file(check.repo_default(args.locustfile), "--locustfile"))
    target = None
    if args.target:
        target = check.require_loopback(args.target, "--target")
        if args.faults or args.memray or args.platform_workers or args.database:
            raise InputError("--faults, --memray, --platform-workers and --database apply to the embedded "
                             "platform; drop them with --target (configure that platform yourself)")
        check.check_target(target, "--target", health_path="/healthz")
    sut_pids = check.require_pids(args.sut_pid, "--sut-pid")
    if sut_pids and target is None:
        raise InputError("--sut-pid samples a service the harness did not start: use it with --target "
                         "(the embedded platform is always sampled)")
    fault_schedule = check.profile_faults(profile)
    if fault_schedule and target is not None:
        print(f"harness campaign: warning: {args.profile} has [[faults]]; they apply only to the embedded "
              "platform and are skipped with --target", file=sys.stderr)
        fault_schedule = ()
    request = orch.RunRequest(
        argv=["harness", *sys.argv[1:]],
        profile=profile, locustfile=locustfile, target=target, workers=workers,
        platform_workers=args.platform_workers, faults=args.faults, out=args.out,
        targets_path=targets_path, strict=args.strict,
        memray=args.memray or profile.profilers.memray, cpu_profile_stage=cpu_stage,
        database=args.database, faults_schedule=fault_schedule, sut_pids=sut_pids,
    )
    return orch.execute(request).exit_code
