"""Compare a candidate run with a baseline run, endpoint by endpoint and journey by journey.

For every stage the two runs share, and every endpoint and journey in both: ΔP50, ΔP95, ΔP99
and Δavailability, plus Δmemory growth for the run, each with a family-wise interval from a
bootstrap over time blocks. A change is a regression only when its whole interval lies beyond
the practical minimum (default latency=5%,10ms availability=0.1pp memory=20%,20MB/h); when the
interval lies inside the band it is equivalent; otherwise inconclusive, with the smallest
worsening this pair could have detected. Different environments (CPU, cores, Python, package
versions, profile, faults preset) are allowed and flagged.

Exit status: 0 no regression, 1 regression, 2 could not compare (missing directory or file,
no shared stage, no shared endpoint or journey).

Example:
  harness compare reports/20261128T170000Z-step-300-a1b2 reports/20261128T180000Z-step-300-c3d4 \\
      --markdown compare.md --junit compare.xml --practical latency=10%,20ms
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.errors import EXIT_FAILED, EXIT_OK, InputError
from harness.flows.options import practical_rules, write_text

NAME = "compare"
HELP = "compare a candidate run directory with a baseline (exit 1 on a regression)"


def add_practical_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--practical FAMILY=VALUE[,VALUE]`` option shared by compare and gate."""
    parser.add_argument("--practical", nargs="+", action="extend", default=[], metavar="RULE",
                        help="practical minimum per metric family, e.g. latency=5%%,10ms "
                             "availability=0.1pp memory=20%%,20MB/h bench=10%%")


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", type=Path, help="baseline run directory")
    parser.add_argument("candidate", type=Path, help="candidate run directory")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the comparison as JSON")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the comparison as Markdown")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write the comparison as JUnit XML")
    add_practical_argument(parser)
    parser.add_argument("--all", action="store_true", help="show every metric, not only the notable ones")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap random seed (default 0)")
    parser.add_argument("--bootstrap", type=int, default=400, metavar="N",
                        help="bootstrap replicates per metric (default 400)")


def run(args: argparse.Namespace) -> int:
    from harness.flows.compare import (
        compare_run_dirs,
        console_for_logs,
        render_junit,
        render_markdown,
        render_table,
        to_json,
    )

    if args.bootstrap < 50:
        raise InputError(f"--bootstrap {args.bootstrap}: need at least 50 replicates")
    report = compare_run_dirs(args.baseline, args.candidate, practical=practical_rules(args.practical),
                              seed=args.seed, n_boot=args.bootstrap)
    render_table(report, console_for_logs(), show_all=args.all)
    if args.json:
        write_text(args.json, json.dumps(to_json(report), indent=2) + "\n", "--json")
    if args.markdown:
        write_text(args.markdown, render_markdown(report, show_all=args.all), "--markdown")
    if args.junit:
        write_text(args.junit, render_junit(report), "--junit")
    return EXIT_FAILED if report.comparison.regressed else EXIT_OK
