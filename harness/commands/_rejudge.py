"""The arguments `harness check` and `harness report` share: a stored run judged again."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_rejudge_arguments(parser: argparse.ArgumentParser) -> None:
    """RUN_DIR, --targets and --strict, resolved as harness.measure.judge.resolve_targets_path does."""
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory (reports/<run-id>)")
    parser.add_argument("--targets", metavar="FILE", type=Path, default=None,
                        help="targets file (default: the run's own copy, else the manifest's, else the shipped profiles/targets.toml)")
    parser.add_argument("--strict", action="store_true", help="treat warn (interval straddles) as fail")
