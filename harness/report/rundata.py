"""Read a run directory into plain data for the report (the I/O edge of the report package).

Only the files named in docs/run-directory.md are read, the raw ones through the run directory's
reader (harness.rundir.read: a torn last line tolerated, a malformed line mid-file an error
naming file and line). A missing or malformed *required* file (manifest.json, results.json when
no results are handed in) raises InputError naming the path; a missing raw file (requests.csv,
journeys.csv, samples.csv, events.jsonl) gives an empty table, because an interrupted run (or a
leak run without load) may have none of them, and the report must still show what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import InputError
from harness.rundir import read


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


def load_run(run_dir: Path, results: dict | None = None) -> RunData:
    """Reads ``run_dir``; ``results`` (the results.json content) is read from disk when None."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run directory (no such directory)")
    manifest = read.read_json_object(run_dir / "manifest.json", "the run's manifest")
    if results is None:
        results = read.read_json_object(run_dir / "results.json", "derived results; run `harness report` to derive them")
    if not isinstance(results.get("targets", []), list) or not isinstance(results.get("stages", []), list):
        raise InputError(f"{run_dir / 'results.json'}: 'targets' and 'stages' must be lists")
    requests = read.read_requests(run_dir)
    journeys = read.read_journeys(run_dir)
    samples = read.read_samples(run_dir)
    profiles_dir = run_dir / "profiles"
    profile_files = sorted(
        p.relative_to(run_dir).as_posix() for p in profiles_dir.rglob("*") if p.is_file()
    ) if profiles_dir.is_dir() else []
    return RunData(run_dir=run_dir, manifest=manifest, results=results, requests=requests, journeys=journeys,
                   samples=samples, events=_timed_events(run_dir), profile_files=profile_files)


def _timed_events(run_dir: Path) -> list[dict]:
    """events.jsonl's events that carry a time, sorted by it."""
    events = [e for e in read.read_events(run_dir) if isinstance(e.get("t_s"), int | float)]
    return sorted(events, key=lambda e: e["t_s"])
