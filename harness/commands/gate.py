"""One command for CI: run (or take) a run, judge it against the targets and a baseline, one exit code.

Steps: (1) ``--profile FILE`` runs ``harness campaign`` in this process (its own parser and
run function, into a run directory under --reports), or ``--run DIR`` takes a finished run and
judges it again; (2) the targets verdict; (3) ``harness compare`` against ``--baseline DIR``, or
the newest passing run of the same profile under --reports (``last-pass``, the default; with
none yet the comparison is skipped and said so); (4) with ``--benchmark-json F|DIR
--benchmark-baseline F|DIR``, the same significance rules over pytest-benchmark results: per
run the 10th percentile of the rounds (saved with ``--benchmark-save-data``; otherwise the
summary statistics, whose intervals assume independent rounds), per side the best of three or
more runs; (5) JUnit and Markdown.

Exit status: 0 all clear; 1 a target failed, a regression, or (``--strict``) a target warning,
an environment mismatch or an inconclusive metric that could be a regression; 2 the run was
invalid or could not run, or an explicit baseline could not be compared; 130 interrupted.

Example:
  harness gate --profile profiles/smoke.toml --baseline last-pass --junit gate.xml --markdown gate.md
  harness gate --run reports/20261128T170000Z-smoke-a1b2 --baseline reports/baseline --strict
  harness gate --benchmark-json .benchmarks/candidate --benchmark-baseline .benchmarks/baseline
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands.compare import add_practical_argument
from harness.flows.options import BASELINE_RUNS_FROM_DIR

NAME = "gate"
HELP = "CI gate: run or take a run, judge targets, compare with a baseline and benchmarks; one exit code"


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--profile", metavar="FILE", help="run this load profile (embedded platform)")
    source.add_argument("--run", type=Path, metavar="RUN_DIR", help="judge this finished run directory")
    parser.add_argument("--faults", metavar="PRESET|FILE", help="with --profile: fault preset of the platform")
    parser.add_argument("--target", metavar="URL",
                        help="with --profile: a running platform instead of the embedded one (the allow-list "
                             "applies: --allow-host)")
    parser.add_argument("--allow-host", action="append", metavar="HOST[:PORT]|CIDR",
                        help="with --target: allow load to this host or network (repeatable; also "
                             "HARNESS_ALLOW_HOSTS); loopback is always allowed")
    parser.add_argument("--allow-hosts-file", metavar="FILE", help="allow-list entries, one per line")
    parser.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to verify an https --target against")
    parser.add_argument("--out", type=Path, metavar="DIR", help="with --profile: run directory")
    parser.add_argument("--baseline", default="last-pass", metavar="RUN_DIR|last-pass|none",
                        help="baseline run directory, last-pass (default: newest passing run of the "
                             "same profile under --reports) or none")
    parser.add_argument("--reports", type=Path, default=Path("reports"), metavar="DIR",
                        help="where the history of runs lives (default reports)")
    parser.add_argument("--targets", metavar="FILE", help="targets file (default profiles/targets.toml, shipped)")
    parser.add_argument("--strict", action="store_true",
                        help="target warnings, environment mismatches and inconclusive metrics that "
                             "could be regressions fail the gate")
    parser.add_argument("--benchmark-json", type=Path, action="append", default=[], metavar="F|DIR",
                        help="pytest-benchmark JSON of this build, or a folder of them (its newest "
                             f"{BASELINE_RUNS_FROM_DIR}); repeatable: one per run")
    parser.add_argument("--benchmark-baseline", type=Path, action="append", default=[], metavar="F|DIR",
                        help="baseline pytest-benchmark JSON, or a storage folder (its newest "
                             f"{BASELINE_RUNS_FROM_DIR} runs); repeatable")
    parser.add_argument("--benchmark-method", choices=("best", "mean"), default="best",
                        help="combine a side's runs by the fastest (default; robust on shared "
                             "machines) or by their mean")
    parser.add_argument("--benchmark-quantile", type=float, default=10.0, metavar="Q",
                        help="percentile of round times compared (default 10: follows the machine's "
                             "fast periods, robust on shared machines; 50 for the median)")
    parser.add_argument("--junit", type=Path, metavar="F", help="write the gate's JUnit XML")
    parser.add_argument("--markdown", type=Path, metavar="F", help="write the gate's Markdown summary")
    add_practical_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="bootstrap random seed (default 0)")


def run(args: argparse.Namespace) -> int:
    """Flags → GateRequest → the gate (harness.flows.gate); returns the exit code."""
    from harness.flows.gate import GateRequest, run_gate  # numpy, pandas: only when gating

    return run_gate(GateRequest(
        profile=args.profile, run=args.run, faults=args.faults, out=args.out, baseline=args.baseline,
        reports=args.reports, targets=args.targets, strict=args.strict, benchmark_json=list(args.benchmark_json),
        benchmark_baseline=list(args.benchmark_baseline), benchmark_method=args.benchmark_method,
        benchmark_quantile=args.benchmark_quantile, junit=args.junit, markdown=args.markdown,
        practical=list(args.practical), seed=args.seed, target=args.target,
        allow_hosts=tuple(args.allow_host or ()), allow_hosts_file=args.allow_hosts_file, ca_bundle=args.ca_bundle))
