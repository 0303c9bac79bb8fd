"""Read a run directory into plain data for the report (the I/O edge of the report package).

Only the files named in docs/run-directory.md are read, the raw ones through the run directory's
reader (harness.rundir.read: a torn last line tolerated, a malformed line mid-file an error
naming file and line). A missing or malformed *required* file (manifest.json, results.json when
no results are handed in) raises InputError naming the path; a missing raw file (requests.csv,
journeys.csv, samples.csv, events.jsonl) counts as empty, because an interrupted run (or a
leak run without load) may have none of them, and the report must still show what was measured.

requests.csv and journeys.csv grow with the run's length (a day: ~26 million and ~13 million
rows), so they are never held: they are read in chunks of ``chunk_rows`` rows and reduced as
they come into the series the charts draw (harness.report.record_windows.SeriesBuilder), in two passes:
the first reads every column (each value checked, as before) and counts; the second reads only
the time and value columns of the percentile charts and keeps the few values next to each
wanted percentile. Memory grows with the number of 5 s windows and of distinct visitors, not
with the rows, and the series do not depend on the chunk size. When the manifest has no t0_s,
a first pass over requests.csv's t_s finds the earliest request. samples.csv (one row per process
per second) and events.jsonl are read whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import InputError
from harness.report.record_windows import (
    JOURNEY_VALUE_COLUMNS,
    REQUEST_VALUE_COLUMNS,
    ReportSeries,
    SeriesBuilder,
)
from harness.rundir import read, schema


@dataclass
class RunData:
    """Everything the report draws, as plain data. Times stay epoch seconds (``t_s``).

    ``series``: requests.csv and journeys.csv reduced to the charts' series (no rows kept);
    ``t0_s``: epoch seconds the run's time axis starts at (the manifest's t0_s, else the first
    request or sample).
    """

    run_dir: Path
    manifest: dict
    results: dict
    t0_s: float
    series: ReportSeries
    samples: pd.DataFrame
    events: list[dict]
    profile_files: list[str] = field(default_factory=list)  # paths relative to run_dir, sorted


def load_run(run_dir: Path, results: dict | None = None, *, chunk_rows: int = read.CHUNK_ROWS) -> RunData:
    """Reads ``run_dir``; ``results`` (the results.json content) is read from disk when None.
    ``chunk_rows``: rows per chunk of requests.csv and journeys.csv (the result does not depend on it)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run directory (no such directory)")
    manifest = read.read_json_object(run_dir / "manifest.json", "the run's manifest")
    if results is None:
        results = read.read_json_object(run_dir / "results.json", "derived results; run `harness report` to derive them")
    if not isinstance(results.get("targets", []), list) or not isinstance(results.get("stages", []), list):
        raise InputError(f"{run_dir / 'results.json'}: 'targets' and 'stages' must be lists")
    samples = read.read_samples(run_dir)
    t0_s = _t0_s(run_dir, manifest, samples, chunk_rows)
    profiles_dir = run_dir / "profiles"
    profile_files = sorted(
        p.relative_to(run_dir).as_posix() for p in profiles_dir.rglob("*") if p.is_file()
    ) if profiles_dir.is_dir() else []
    return RunData(run_dir=run_dir, manifest=manifest, results=results, t0_s=t0_s,
                   series=read_series(run_dir, t0_s, chunk_rows), samples=samples, events=_timed_events(run_dir),
                   profile_files=profile_files)


def _t0_s(run_dir: Path, manifest: dict, samples: pd.DataFrame, chunk_rows: int) -> float:
    """The manifest's t0_s, else the earliest request or sample (0.0 without either)."""
    t0 = manifest.get("t0_s")
    if isinstance(t0, int | float):
        return float(t0)
    firsts = [float(samples["t_s"].min())] if len(samples) else []
    firsts += [float(chunk["t_s"].min()) for chunk in read.iter_requests(run_dir, columns=["t_s"], chunk_rows=chunk_rows)]
    return min(firsts) if firsts else 0.0


def read_series(run_dir: Path, t0_s: float, chunk_rows: int = read.CHUNK_ROWS) -> ReportSeries:
    """requests.csv and journeys.csv reduced to the report's series, in two passes of chunks
    (see the module's docstring)."""
    builder = SeriesBuilder(t0_s)
    for chunk in read.iter_requests(run_dir, chunk_rows=chunk_rows):
        builder.add_requests(chunk)
    for chunk in read.iter_journeys(run_dir, chunk_rows=chunk_rows):
        builder.add_journeys(chunk)
    if builder.wants_values:
        request_rows, journey_rows = builder.rows
        for chunk in _first_rows(read.iter_requests(run_dir, columns=REQUEST_VALUE_COLUMNS, chunk_rows=chunk_rows),
                                 request_rows):
            builder.gather_requests(chunk)
        for chunk in _first_rows(read.iter_journeys(run_dir, columns=JOURNEY_VALUE_COLUMNS, chunk_rows=chunk_rows),
                                 journey_rows):
            builder.gather_journeys(chunk)
    try:
        return builder.finish()
    except ValueError as error:  # a file lost rows between the two passes
        files = f"{schema.REQUESTS.relative_path} or {schema.JOURNEYS.relative_path}"
        raise InputError(f"{run_dir}: {files} changed while the report read it: {error}") from error


def _first_rows(chunks: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The chunks' first ``rows`` rows: the second pass sees the rows the first one saw, even if
    the file grew in between (a run still being written)."""
    for chunk in chunks:
        if rows <= 0:
            return
        yield chunk.iloc[:rows]
        rows -= len(chunk)


def _timed_events(run_dir: Path) -> list[dict]:
    """events.jsonl's events that carry a time, sorted by it."""
    events = [e for e in read.read_events(run_dir) if isinstance(e.get("t_s"), int | float)]
    return sorted(events, key=lambda e: e["t_s"])
