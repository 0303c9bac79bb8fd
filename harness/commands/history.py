"""List every run under reports/ with its verdict and headline figures, and chart the trend.

The runs are found by scanning ``REPORTS/*/manifest.json`` and ``results.json``; the index
``REPORTS/history.sqlite`` is rebuilt from them on every call (delete it at will: the run
directories are the record). ``--chart`` draws P95 per stage, availability per stage and memory
growth over the runs into a PNG.

Example:
  harness history --reports reports --chart reports/trend.png --profile step-300
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from harness.errors import EXIT_OK, InputError
from harness.rundir import write_text_atomic

NAME = "history"
HELP = "list past runs with verdicts and headline figures; draw a trend chart"


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reports", type=Path, default=Path("reports"), metavar="DIR",
                        help="folder holding the run directories (default reports)")
    parser.add_argument("--chart", type=Path, metavar="F.png", help="draw the trend chart into this PNG")
    parser.add_argument("--profile", metavar="NAME", help="only runs of this profile")
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="only the newest N runs")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the listed runs as JSON")


def _fmt(value, scale=1.0, digits=1, unit=""):
    return "—" if value is None else f"{value * scale:.{digits}f}{unit}"


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from harness.flows.compare import console_for_logs
    from harness.flows.history import draw_trend_chart, refresh_index, scan_runs

    if not args.reports.is_dir():
        raise InputError(f"--reports {args.reports}: no such folder")
    if args.limit < 0:
        raise InputError(f"--limit {args.limit}: must be 0 (all) or more")
    if args.chart is not None and args.chart.suffix.lower() != ".png":
        raise InputError(f"--chart {args.chart}: the chart is a PNG; name it *.png")
    records = scan_runs(args.reports)
    index = refresh_index(args.reports, records)
    if args.profile:
        records = [r for r in records if r.profile == args.profile]
    if args.limit:
        records = records[-args.limit:]
    table = Table(title=f"{len(records)} run(s) in {args.reports} (index {index})")
    # the API scope (requests to /api/; all requests for a service without /api/), steady part of each stage
    for header in ("run", "verdict", "faults", "revision", "API P95 per stage (ms)", "API availability", "growth"):
        table.add_column(header)
    for r in records:
        style = {"pass": "green", "fail": "red", "invalid": "yellow"}.get(r.verdict, "dim")
        table.add_row(r.run_id, r.verdict + (f" ({r.targets_failed} failed)" if r.targets_failed else ""),
                      r.faults, r.git_revision,
                      " ".join(f"{s.stage}:{_fmt(s.p95_ms, digits=0)}" for s in r.stages),
                      " ".join(f"{s.stage}:{_fmt(s.availability, 100, 2, '%')}" for s in r.stages),
                      _fmt(r.growth_bytes_per_hour, 1e-6, 1, " MB/h"), style=style)
    console_for_logs().print(table)
    if args.json:
        write_text_atomic(args.json, json.dumps([asdict(r) for r in records], indent=2) + "\n")
    if args.chart:
        draw_trend_chart(records, args.chart)
        print(f"trend chart: {args.chart}")
    return EXIT_OK
