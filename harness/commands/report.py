"""Re-derive a run's results and render its reports from the run directory alone.

Judges the run again from its raw files (manifest.json, requests.csv, journeys.csv,
samples.csv, events.jsonl, the platform's ledgers) against the targets, writes results.json,
then renders report.html (self-contained: charts embedded, opens offline), report.md (for a
pull-request comment), junit.xml (one testcase per target) and charts/*.png. Every file is
written to a temporary name and renamed into place. Re-rendering an unchanged run gives the
same bytes except the "generated" timestamp.

Exit code: 0 when the reports were rendered, whatever the verdict (it is printed, and written
in results.json and the reports); 2 when the run directory is missing or malformed (the message
names the file) or a file cannot be written. To fail a build on the verdict, use
`harness check RUN_DIR` (exit 0 pass, 1 a target failed, 2 invalid, 130 interrupted).

A capacity search directory (capacity.json, from `harness capacity`) gets its knee.png,
capacity.md and capacity.html rendered again from capacity.json alone (exit 0 when rendered);
each probe under probes/ is a run directory of its own and is re-judged by pointing this
command at it.

Example:
    harness report reports/20261128T170000Z-step-300-ab12
    harness report reports/20261128T170000Z-step-300-ab12 --targets stricter.toml --strict
    harness report reports/20261128T180000Z-capacity-step-300-cd34
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._rejudge import add_rejudge_arguments
from harness.errors import EXIT_OK, InputError

NAME = "report"
HELP = ("re-derive a run's results.json and render report.html, report.md, junit.xml and charts "
        "(exit 0 when rendered; `harness check` exits with the verdict's code)")


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    add_rejudge_arguments(parser)


def run(args: argparse.Namespace) -> int:
    # deferred: pandas and matplotlib take a while to import, and `harness --help` should not wait
    from harness.measure.judge import judge_run
    from harness.report import render_run

    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run directory (no such directory)")
    if not (run_dir / "manifest.json").is_file() and (run_dir / "capacity.json").is_file():
        if args.targets or args.strict:
            raise InputError("--targets and --strict re-judge a run; for a capacity search, run `harness report` on "
                             "a probe (probes/NN-...) or search again with them")
        from harness.report.capacity_report import rerender

        body, written, _ = rerender(run_dir)
        for path in written:
            if path.suffix != ".png":
                print(f"wrote {path}")
        for sentence in body.get("sentences") or []:
            print(sentence)
        return EXIT_OK
    if not (run_dir / "manifest.json").is_file():
        raise InputError(f"{run_dir}: not a run directory (no manifest.json)")
    results = judge_run(run_dir, targets_path=args.targets, strict=args.strict, write=True)
    for path in render_run(run_dir, results):
        if path.suffix != ".png":
            print(f"wrote {path}")
    print(f"verdict: {results.get('verdict')} (rendered; `harness check {run_dir}` exits with the verdict's code)")
    return EXIT_OK
