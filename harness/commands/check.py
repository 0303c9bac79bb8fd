"""Judge a stored run again, against its targets or another targets file.

Reads only the run directory's raw files (manifest.json, requests.csv, journeys.csv,
samples.csv, events.jsonl) and the targets file, prints one line per target (status,
measured value with its 95% interval, n, threshold, why) and exits with the verdict's code:
0 pass, 1 a target failed, 2 the run is invalid (or the input is bad), 130 the run was
interrupted. The stored results.json is left as it is unless --write is given.

Example:
    harness check reports/20261128T170000Z-step-300-ab12
    harness check reports/20261128T170000Z-step-300-ab12 --targets stricter.toml --strict
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from harness.commands._rejudge import add_rejudge_arguments
from harness.errors import InputError
from harness.report.summary import VERDICT_STYLE, targets_table

NAME = "check"
HELP = "re-judge a stored run against (other) targets; exit with the verdict's code"


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    add_rejudge_arguments(parser)
    parser.add_argument("--write", action="store_true", help="overwrite RUN_DIR/results.json with this verdict")


def run(args: argparse.Namespace) -> int:
    if not (args.run_dir / "manifest.json").is_file():
        raise InputError(f"{args.run_dir}: not a run directory (no manifest.json)")
    from harness.measure.judge import exit_code_for, judge_run  # pandas and scipy: only when judging

    results = judge_run(args.run_dir, targets_path=args.targets, strict=args.strict, write=args.write)
    console = Console(highlight=False)
    console.print(targets_table(results))
    for reason in results.get("invalid_reasons", []):
        console.print(f"[magenta]invalid:[/magenta] {escape(reason)}")
    verdict = results["verdict"]
    console.print(f"verdict: [bold {VERDICT_STYLE.get(verdict, 'white')}]{verdict}[/] "
                  f"(targets: {escape(results['targets_file'])}{', strict' if args.strict else ''})")
    return exit_code_for(results)
