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
    harness campaign --target https://staging.example.com --allow-host staging.example.com \
        --allow-host 10.20.0.0/16 --preflight

A --target other than loopback must be on the allow-list (--allow-host, HARNESS_ALLOW_HOSTS,
--allow-hosts-file), and so must every address its name resolves to; a pre-flight prints what
will be hit before any load. A profile's [abort] conditions stop the load (end_reason aborted,
verdict fail, exit 1); its max_requests_per_s caps the generators (docs/distributed.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.flows.campaign import (  # noqa: F401 - check_workers: also `harness run`'s
    DEFAULT_LOCUSTFILE,
    DEFAULT_PROFILE,
    DEFAULT_TARGETS,
    CampaignRequest,
    check_workers,
)

NAME = "campaign"
HELP = "run the journeys' load profile against the embedded platform (or an allowed --target)"


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    """Declare the campaign's flags."""
    parser.add_argument("--profile", metavar="FILE",
                        help=f"load profile TOML, from this directory or the shipped profiles/ "
                             f"(default {DEFAULT_PROFILE}, shipped)")
    parser.add_argument("--target", metavar="URL",
                        help="a running platform (any http(s) URL; a host other than loopback must be on the "
                             "allow-list: --allow-host); default: start the embedded one")
    add_safety_flags(parser)
    add_load_flags(parser)
    add_telemetry_flags(parser)
    parser.add_argument("--platform-workers", type=int, metavar="N",
                        help="shop worker processes of the embedded platform (gunicorn), default 1")
    parser.add_argument("--faults", metavar="PRESET|FILE",
                        help="fault preset (healthy, documented-problems) or TOML file for the embedded platform")
    parser.add_argument("--database", metavar="URL",
                        help="database of the embedded platform (postgresql://... ; default SQLite in the run directory)")
    parser.add_argument("--targets", metavar="FILE", help=f"targets file (default {DEFAULT_TARGETS}, shipped)")
    parser.add_argument("--strict", action="store_true",
                        help="a target that cannot be evaluated counts as failed")
    parser.add_argument("--memray", action="store_true",
                        help="attach memray to the shop in two windows of the steady part (leak sites in the "
                             "report; needs gdb)")
    parser.add_argument("--cpu-profile", metavar="STAGE",
                        help="py-spy CPU profile of the platform during STAGE (default: the profile's "
                             "[profilers] cpu_profile_stage; 'none' for none)")
    parser.add_argument("--locustfile", help=argparse.SUPPRESS)  # default: the shipped DEFAULT_LOCUSTFILE


def add_safety_flags(parser: argparse.ArgumentParser, preflight: bool = True) -> None:
    """The safety catch's flags, on every command that sends load (docs/distributed.md)."""
    parser.add_argument("--allow-host", action="append", metavar="HOST[:PORT]|CIDR",
                        help="allow load to this host (name or address, optionally one port) or to addresses in "
                             "this network (repeatable; also HARNESS_ALLOW_HOSTS=a,b); loopback is always allowed; "
                             "a name's resolved addresses must be allowed too")
    parser.add_argument("--allow-hosts-file", metavar="FILE",
                        help="allow-list entries, one per line (# comments), merged with --allow-host")
    parser.add_argument("--ca-bundle", metavar="FILE",
                        help="CA certificates (PEM) to verify an https target against (verification is always on)")
    if not preflight:
        return
    parser.add_argument("--preflight", action="store_true",
                        help="print the pre-flight (target, addresses, TLS, stages, peak rates), check the target "
                             "answers, and exit 0 without sending load")


def safety_fields(args: argparse.Namespace) -> dict:
    """The CampaignRequest fields of add_safety_flags' flags."""
    return {"allow_hosts": tuple(args.allow_host or ()), "allow_hosts_file": args.allow_hosts_file,
            "ca_bundle": args.ca_bundle, "preflight_only": args.preflight}


def add_load_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared with ``harness run``: --workers, --out and --sut-pid."""
    parser.add_argument("--sut-pid", type=int, action="append", metavar="PID",
                        help="with an external target: a process of the service to sample (repeatable)")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="Locust worker processes under a master (default 0: one local process)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="run directory (default reports/<run-id>)")
    parser.add_argument("--master-bind", metavar="ADDR[:PORT]",
                        help="bind the Locust master here (port default 5557) so that `harness worker --master "
                             "ADDR:PORT` on other hosts can join (with --expect-workers)")
    parser.add_argument("--expect-workers", type=int, default=0, metavar="N",
                        help="wait for N workers from other hosts before the load starts (with --master-bind)")
    parser.add_argument("--workers-wait", type=float, metavar="S", dest="workers_wait_s",
                        help="how long to wait for every worker to join, seconds (default 120)")
    parser.add_argument("--join-token-file", metavar="FILE",
                        help="the join token workers must hold (first line; else HARNESS_JOIN_TOKEN; else one is "
                             "made and printed)")


def add_telemetry_flags(parser: argparse.ArgumentParser) -> None:
    """Telemetry of a platform the harness did not start (a --target elsewhere)."""
    parser.add_argument("--metrics-url", action="append", metavar="URL",
                        help="a Prometheus /metrics of the platform (one per process or instance; repeatable), "
                             "scraped every second: process memory and CPU, and the shop's own metrics; its host "
                             "must pass the allow-list like --target")
    parser.add_argument("--prometheus", metavar="URL",
                        help="a Prometheus server that scrapes the platform: after the run, read the platform's "
                             "process series over the run's window from its HTTP API (with --selector)")
    parser.add_argument("--selector", metavar="'{job=\"shop\"}'",
                        help="the label selector of the platform's processes in that server")
    parser.add_argument("--prometheus-step", type=float, default=1.0, metavar="S",
                        help="query_range step in seconds (default 1)")


def distributed_fields(args: argparse.Namespace) -> dict:
    """The CampaignRequest fields of the master's flags (add_load_flags)."""
    return {"master_bind": args.master_bind, "expect_workers": args.expect_workers,
            "workers_wait_s": args.workers_wait_s, "join_token_file": args.join_token_file,
            "metrics_urls": tuple(args.metrics_url or ()), "prometheus": args.prometheus,
            "selector": args.selector, "prometheus_step_s": args.prometheus_step}


def run(args: argparse.Namespace) -> int:
    """Flags → CampaignRequest → the campaign flow; returns the exit code."""
    from harness.flows.campaign import run_campaign

    return run_campaign(CampaignRequest(
        profile=args.profile, target=args.target, workers=args.workers, platform_workers=args.platform_workers,
        faults=args.faults, database=args.database, targets=args.targets, strict=args.strict,
        memray=args.memray, cpu_profile=args.cpu_profile, locustfile=args.locustfile,
        sut_pids=tuple(args.sut_pid or ()), out=args.out, **safety_fields(args),
        **distributed_fields(args))).exit_code
