"""Judge a run: analyse its raw files, evaluate the targets, decide, write results.json.

The campaign and ``harness report`` / ``harness check`` call :func:`judge_run`; the exit code
comes from :func:`exit_code_for`. Judging reads only the run directory (and a targets file),
so an old run can be judged again against other targets.
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.config import paths
from harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, InputError
from harness.measure.analysis import build_results
from harness.measure.verdicts import evaluate, load_targets, overall_verdict
from harness.rundir import read_manifest, write_json_atomic

#: the documented targets: the shipped profiles/targets.toml (harness.config.paths).
DEFAULT_TARGETS = paths.default_path(paths.TARGETS)


def resolve_targets_path(run_dir: Path, targets_path: Path | None = None) -> Path:
    """The targets file to judge with: the one given; else a copy kept in the run directory
    (``RUN/targets.toml``); else the manifest's ``targets_file`` if it exists (absolute, or
    relative to the current directory); else the shipped profiles/targets.toml."""
    if targets_path is not None:
        path = paths.resolve_input(targets_path)
        if not path.is_file():
            raise InputError(f"{path}: targets file not found (--targets)")
        return path
    kept = Path(run_dir) / "targets.toml"
    if kept.is_file():
        return kept
    named = read_manifest(Path(run_dir)).get("targets_file")
    if named and Path(named).is_file():
        return Path(named)
    return DEFAULT_TARGETS


def judge_results(results: dict, targets_path: Path, strict: bool = False) -> dict:
    """``results`` (from build_results) with ``targets``, ``verdict`` and ``strict`` filled in
    from the targets file. Pure apart from reading that file."""
    targets = load_targets(targets_path)
    entries = evaluate(targets, results, strict=strict)
    judged = dict(results)
    judged["targets"] = entries
    judged["targets_file"] = str(targets_path)
    judged["strict"] = strict
    judged["verdict"] = overall_verdict(judged, entries)
    return _json_ready(judged)


def _json_ready(value):
    """Plain JSON values: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def judge_run(run_dir: Path, targets_path: Path | None = None, strict: bool = False, write: bool = True) -> dict:
    """Analyse ``run_dir``, evaluate the targets, decide the verdict; write results.json
    atomically (temporary file + rename) when ``write``. Returns the results dict.

    Call it after the manifest has its final ``end_reason``: a manifest still saying
    ``running`` makes the run invalid (the harness stopped before it could say how it ended).
    Raises InputError naming the file and line for missing or malformed raw files or targets.
    """
    run_dir = Path(run_dir)
    results = judge_results(build_results(run_dir), resolve_targets_path(run_dir, targets_path), strict)
    if write:
        write_json_atomic(run_dir / "results.json", results)
    return results


def exit_code_for(results: dict) -> int:
    """0 pass, 1 fail, 2 invalid (or no verdict), 130 interrupted."""
    return {"pass": EXIT_OK, "fail": EXIT_FAILED, "invalid": EXIT_INVALID,
            "interrupted": EXIT_INTERRUPTED}.get(results.get("verdict"), EXIT_INVALID)
