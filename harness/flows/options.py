"""Inputs and outputs that flows and their commands share (light: no numpy or pandas at import)."""

from __future__ import annotations

from pathlib import Path

from harness.core.practical import PracticalMinimum, parse_practical
from harness.errors import InputError, RunFailedError

#: newest saved benchmark runs used as the baseline from a storage folder (``harness gate``)
BASELINE_RUNS_FROM_DIR = 5


def practical_rules(specs: list[str]) -> dict[str, PracticalMinimum]:
    """Parse ``--practical FAMILY=VALUE[,VALUE]`` values, raising InputError naming the flag."""
    rules = {}
    for spec in specs:
        try:
            family, rule = parse_practical(spec)
        except ValueError as error:
            raise InputError(str(error)) from error
        rules[family] = rule
    return rules


def write_text(path: Path, text: str, flag: str) -> None:
    """Write an output file, raising InputError naming the flag when it cannot be written."""
    from harness.rundir import write_text_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    except OSError as error:
        raise InputError(f"{flag} {path}: cannot write: {error.strerror or error}") from error
    except RunFailedError as error:
        raise InputError(f"{flag} {error}") from error
