"""Read a run directory into plain data for the report (the I/O edge of the report package).

Only the files named in docs/run-directory.md are read. A missing or malformed *required* file
(manifest.json, results.json when no results are handed in) raises InputError naming the path;
a missing raw file (requests.csv, journeys.csv, samples.csv, events.jsonl) gives an empty table,
because an interrupted run may stop before it writes some of them, and the report must still
show what was measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import InputError

REQUEST_COLUMNS = ["t_s", "stage", "in_ramp", "name", "method", "response_ms", "ok", "status",
                   "error_kind", "bytes", "journey_id", "worker"]
JOURNEY_COLUMNS = ["journey_id", "visit_id", "name", "stage", "in_ramp", "intended_t_s", "start_t_s",
                   "end_t_s", "duration_ms", "from_intended_ms", "ok", "outcome", "flags", "sync_lag_ms",
                   "worker"]
SAMPLE_COLUMNS = ["t_s", "pid", "role", "rss_bytes", "uss_bytes", "cpu_percent", "num_threads", "num_fds"]

_STRING_COLUMNS = {"stage", "name", "method", "error_kind", "journey_id", "worker", "visit_id", "outcome",
                   "flags", "role"}


@dataclass
class RunData:
    """Everything the report draws, as plain data. Times stay epoch seconds (``t_s``)."""

    run_dir: Path
    manifest: dict
    results: dict
    requests: pd.DataFrame
    journeys: pd.DataFrame
    samples: pd.DataFrame
    events: list[dict]
    profile_files: list[str] = field(default_factory=list)  # paths relative to run_dir, sorted

    @property
    def t0_s(self) -> float:
        """Epoch seconds the run's time axis starts at (manifest t0_s, else the first record)."""
        t0 = self.manifest.get("t0_s")
        if isinstance(t0, int | float):
            return float(t0)
        firsts = [f["t_s"].min() for f in (self.requests, self.samples) if len(f)]
        return float(min(firsts)) if firsts else 0.0


def read_json(path: Path, what: str) -> dict:
    """Parses a JSON object file; InputError names the path and what is wrong."""
    if not path.is_file():
        raise InputError(f"{path}: missing ({what})")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({what}): {error}") from error
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object ({what}), found {type(value).__name__}")
    return value


def read_csv(path: Path, columns: list[str], numeric: list[str]) -> pd.DataFrame:
    """A raw CSV as a DataFrame with ``columns`` (empty if the file is absent or has no rows).

    A truncated last line (the process died mid-write: no newline at the end) is dropped rather
    than failing the report.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame({c: pd.Series(dtype="object" if c in _STRING_COLUMNS else "float64") for c in columns})
    try:
        frame = pd.read_csv(path, dtype={c: str for c in columns if c in _STRING_COLUMNS},
                            keep_default_na=False, na_values={c: [""] for c in numeric},
                            on_bad_lines="skip", engine="python")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot parse as CSV: {error}") from error
    with open(path, "rb") as stream:  # a last line without its newline was cut mid-write
        stream.seek(-1, 2)
        if stream.read(1) != b"\n" and len(frame):
            frame = frame.iloc[:-1]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (expected header: {','.join(columns)})")
    for column in numeric:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    # a half-written final row has NaN where a time must be: keep only complete rows
    return frame.dropna(subset=["t_s"] if "t_s" in columns else []).reset_index(drop=True)


def read_events(path: Path) -> list[dict]:
    """events.jsonl as a list of dicts, sorted by t_s; a truncated last line is skipped."""
    if not path.is_file():
        return []
    events = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):
                continue  # the writer died mid-line: everything before it still counts
            raise InputError(f"{path}:{number}: not valid JSON: {error}") from error
        if isinstance(event, dict) and isinstance(event.get("t_s"), int | float):
            events.append(event)
    return sorted(events, key=lambda e: e["t_s"])


def load_run(run_dir: Path, results: dict | None = None) -> RunData:
    """Reads ``run_dir``; ``results`` (the results.json content) is read from disk when None."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run directory (no such directory)")
    manifest = read_json(run_dir / "manifest.json", "the run's manifest")
    if results is None:
        results = read_json(run_dir / "results.json", "derived results; run `harness report` to derive them")
    if not isinstance(results.get("targets", []), list) or not isinstance(results.get("stages", []), list):
        raise InputError(f"{run_dir / 'results.json'}: 'targets' and 'stages' must be lists")
    requests = read_csv(run_dir / "requests.csv", REQUEST_COLUMNS,
                        ["t_s", "in_ramp", "response_ms", "ok", "status", "bytes"])
    journeys = read_csv(run_dir / "journeys.csv", JOURNEY_COLUMNS,
                        ["in_ramp", "intended_t_s", "start_t_s", "end_t_s", "duration_ms", "from_intended_ms",
                         "ok", "sync_lag_ms"])
    samples = read_csv(run_dir / "samples.csv", SAMPLE_COLUMNS,
                       ["t_s", "pid", "rss_bytes", "uss_bytes", "cpu_percent", "num_threads", "num_fds"])
    profiles_dir = run_dir / "profiles"
    profile_files = sorted(
        p.relative_to(run_dir).as_posix() for p in profiles_dir.rglob("*") if p.is_file()
    ) if profiles_dir.is_dir() else []
    return RunData(run_dir=run_dir, manifest=manifest, results=results, requests=requests, journeys=journeys,
                   samples=samples, events=read_events(run_dir / "events.jsonl"), profile_files=profile_files)
