"""THE reader of a run directory's raw files: requests.csv, journeys.csv, samples.csv,
platform/metrics.csv and events.jsonl. No module outside harness/rundir/ opens them
(tests/rundir/test_one_reader.py enforces it).

One policy for bad lines, in every file:
- a torn last line (the writer died mid-line: no newline at the end) is tolerated: everything
  before it is complete and kept, and a note says the line was skipped;
- a malformed line anywhere else is an InputError naming the file, the line and the column;
- events.jsonl alone may hold a torn line mid-file when its writer recorded the tear: the
  harness's EventLog, appending after a torn line, first writes a ``torn_line`` event, so the
  reader knows the fragment before it was cut, not corrupted, and skips both.

A missing file is an empty table unless the caller says it is required (then InputError naming
it). Numbers are read as float64 (flags as int8); text columns as str or category.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import InputError
from harness.rundir import schema
from harness.rundir.layout import read_jsonl, read_manifest


def read_table(run_dir: Path, table: schema.Table, *, columns: list[str] | None = None,
               stage_names: list[str] | None = None, notes: list[str] | None = None,
               required: bool = False) -> pd.DataFrame:
    """``columns`` (default: all) of one raw CSV of ``run_dir``, checked against the schema.

    ``stage_names`` (the manifest's stages), when given, is checked against every ``stage``
    column value. ``notes`` collects what was tolerated (a torn last line).
    """
    path = Path(run_dir) / table.relative_path
    wanted = list(columns) if columns is not None else table.columns
    unknown = [c for c in wanted if c not in table.kinds]
    if unknown:
        raise ValueError(f"{table.relative_path} has no column(s) {', '.join(unknown)}")
    kinds = {c: table.kinds[c] for c in wanted}
    if not path.is_file():
        if required:
            raise InputError(f"{path}: missing; the run directory has no {table.relative_path}")
        return _empty(kinds)
    data = path.read_bytes()
    if not data:
        if required:
            raise InputError(f"{path}: empty (not even the header {','.join(table.columns)})")
        return _empty(kinds)
    if not data.endswith(b"\n"):
        # A crash can tear the last line; everything before it is complete and kept.
        cut = data.rfind(b"\n") + 1
        if cut and notes is not None:
            notes.append(f"{table.relative_path}: the last line was incomplete (written when the run stopped) "
                         "and was skipped")
        data = data[:cut] if cut else data + b"\n"  # a header alone, torn: judged below
    header = data[: data.find(b"\n")].decode("utf-8", errors="replace").strip().split(",")
    optional = schema.OPTIONAL_COLUMNS.get(table.relative_path, ())
    missing = [c for c in kinds if c not in header and c not in optional]
    if missing or header == [""]:
        raise InputError(f"{path}:1: missing column(s) {', '.join(missing or table.columns)}; "
                         f"expected the header {','.join(table.columns)}")
    present = [c for c in kinds if c in header]
    dtypes = {c: ("category" if kinds[c] in ("category", "stage") else str)
              for c in present if kinds[c] in ("category", "stage", "str")}
    try:
        frame = pd.read_csv(io.BytesIO(data), usecols=present, dtype=dtypes, keep_default_na=False,
                            na_values=[""], engine="c")
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot be read as CSV: {error}") from error
    for column in kinds:
        if column not in frame.columns:  # an optional column that came later: empty
            frame[column] = np.nan
    for column, kind in kinds.items():
        series = frame[column]
        if kind in ("time", "float", "flag") and not pd.api.types.is_numeric_dtype(series):
            numbers = pd.to_numeric(series, errors="coerce")
            _fail_at(path, column, series, numbers.isna() & series.notna(), "is not a number")
            frame[column] = series = numbers
        if kind in ("time", "float") and series.dtype != np.float64:
            frame[column] = series = series.astype(np.float64)
        if kind == "time":
            _fail_at(path, column, series, series.isna(), "is empty (a time is required)")
        elif kind == "flag":
            _fail_at(path, column, series, ~series.isin([0, 1]), "must be 0 or 1")
            frame[column] = series.astype(np.int8)
        elif kind == "stage" and stage_names is not None:
            _fail_at(path, column, series, ~series.isin(stage_names),
                     f"is not one of manifest.json's stages ({', '.join(stage_names)})")
        elif kind == "str":
            frame[column] = series.fillna("")
    return frame[list(kinds)]


def _empty(kinds: dict[str, str]) -> pd.DataFrame:
    dtypes = {"time": "float64", "float": "float64", "flag": "int8", "category": "category",
              "stage": "category", "str": "object"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes[k]) for c, k in kinds.items()})


def _fail_at(path: Path, column: str, series: pd.Series, bad: pd.Series, problem: str) -> None:
    if not bad.any():
        return
    row = int(np.flatnonzero(bad.to_numpy())[0])
    value = series.iloc[row]
    value = value.item() if hasattr(value, "item") else value  # numpy scalar -> plain for the message
    # +2: line 1 is the header, rows count from 0
    raise InputError(f"{path}:{row + 2}: column {column}: {value!r} {problem}")


def read_requests(run_dir: Path, **options) -> pd.DataFrame:
    """requests.csv (see :func:`read_table` for the options)."""
    return read_table(run_dir, schema.REQUESTS, **options)


def read_journeys(run_dir: Path, **options) -> pd.DataFrame:
    """journeys.csv (see :func:`read_table` for the options)."""
    return read_table(run_dir, schema.JOURNEYS, **options)


def read_samples(run_dir: Path, **options) -> pd.DataFrame:
    """samples.csv (see :func:`read_table` for the options)."""
    return read_table(run_dir, schema.SAMPLES, **options)


def read_metrics(run_dir: Path, **options) -> pd.DataFrame:
    """platform/metrics.csv (see :func:`read_table` for the options)."""
    return read_table(run_dir, schema.METRICS, **options)


def has(run_dir: Path, relative_path: str) -> bool:
    """Whether the run directory holds that raw file (``schema.RAW_FILES``)."""
    return (Path(run_dir) / relative_path).is_file()


def read_events(run_dir: Path) -> list[dict]:
    """Every event of events.jsonl in file order ([] if absent), by the policy above."""
    return read_jsonl(Path(run_dir) / schema.EVENTS)


def read_json_object(path: Path, what: str) -> dict:
    """A JSON object file of the run directory (manifest.json, results.json); InputError names
    the path and what is wrong: missing, not JSON, or not an object."""
    if not path.is_file():
        raise InputError(f"{path}: missing ({what})")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not valid JSON ({what}): {error}") from error
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object ({what}), found {type(value).__name__}")
    return value


def last_record_t_s(requests: pd.DataFrame, journeys: pd.DataFrame) -> dict[str, float]:
    """Per stage, the time of its last request or intended journey start (for stage windows)."""
    parts = []
    if {"stage", "t_s"} <= set(requests.columns) and len(requests):
        parts.append(requests.groupby("stage", observed=True)["t_s"].max())
    if {"stage", "intended_t_s"} <= set(journeys.columns) and len(journeys):
        parts.append(journeys.groupby("stage", observed=True)["intended_t_s"].max())
    if not parts:
        return {}
    merged = pd.concat(parts).groupby(level=0, observed=True).max()
    return {str(k): float(v) for k, v in merged.items()}


def stage_windows(run_dir: Path, manifest: dict | None = None) -> list[schema.StageWindow]:
    """The run's stage windows (schema.stage_windows) read from its files."""
    manifest = manifest if manifest is not None else read_manifest(Path(run_dir))
    events = read_events(run_dir)
    last = {}
    if manifest.get("end_reason") != "completed":
        last = last_record_t_s(read_requests(run_dir, columns=["t_s", "stage"]),
                               read_journeys(run_dir, columns=["stage", "intended_t_s"]))
    return schema.stage_windows(manifest, events, last)
