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
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import InputError
from harness.rundir import schema
from harness.rundir.layout import read_jsonl, read_manifest

#: Rows per chunk when a raw file is streamed (:func:`iter_table`): a chunk and its reductions take
#: ~100 MB (docs/performance.md: 1M-row chunks took twice the memory for no gain in time).
CHUNK_ROWS = 250_000


def read_table(run_dir: Path, table: schema.Table, *, columns: list[str] | None = None,
               stage_names: list[str] | None = None, notes: list[str] | None = None,
               required: bool = False) -> pd.DataFrame:
    """``columns`` (default: all) of one raw CSV of ``run_dir``, checked against the schema.

    ``stage_names`` (the manifest's stages), when given, is checked against every ``stage``
    column value. ``notes`` collects what was tolerated (a torn last line). The whole file is
    read at once: for files that grow with the run's length, use :func:`iter_table`.
    """
    path, kinds = _path_and_kinds(run_dir, table, columns)
    data = _readable_bytes(path, table, kinds, notes, required)
    if data is None:
        return _empty(kinds)
    present = _checked_header(path, table, kinds, data[: data.find(b"\n")])
    try:
        frame = pd.read_csv(io.BytesIO(data), usecols=present, dtype=_text_dtypes(kinds, present),
                            keep_default_na=False, na_values=[""], engine="c")
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot be read as CSV: {error}") from error
    return _checked_rows(path, frame, kinds, stage_names, first_line=2)


def iter_table(run_dir: Path, table: schema.Table, *, columns: list[str] | None = None,
               stage_names: list[str] | None = None, notes: list[str] | None = None,
               required: bool = False, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """:func:`read_table` in chunks of at most ``chunk_rows`` rows, in file order, with the
    same checks and the same bad-line policy (a bad line's number counts from the file's
    start). Memory holds one chunk, never the file. A missing file (unless ``required``), an
    empty one or a header alone yields no chunk."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    path, kinds = _path_and_kinds(run_dir, table, columns)
    end = _complete_end(path, table, kinds, notes, required)
    if end is None:
        return
    with path.open("rb") as handle:
        header = handle.readline(end)
        present = _checked_header(path, table, kinds, header.rstrip(b"\n"))
        if handle.tell() >= end:
            return
        handle.seek(0)
        source = io.BufferedReader(_Head(handle, end), buffer_size=1 << 20)
        try:
            reader = pd.read_csv(source, usecols=present, dtype=_text_dtypes(kinds, present),
                                 keep_default_na=False, na_values=[""], engine="c", chunksize=chunk_rows)
            first_line = 2
            for frame in reader:
                yield _checked_rows(path, frame, kinds, stage_names, first_line)
                first_line += len(frame)
        except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as error:
            if isinstance(error, InputError):
                raise
            raise InputError(f"{path}: cannot be read as CSV: {error}") from error


class _Head(io.RawIOBase):
    """The first ``end`` bytes of an open binary file (a torn last line left out)."""

    def __init__(self, handle, end: int) -> None:
        self._handle, self._left = handle, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        count = self._handle.readinto(view)
        self._left -= count
        return count


def _path_and_kinds(run_dir: Path, table: schema.Table, columns: list[str] | None) -> tuple[Path, dict[str, str]]:
    path = Path(run_dir) / table.relative_path
    wanted = list(columns) if columns is not None else table.columns
    unknown = [c for c in wanted if c not in table.kinds]
    if unknown:
        raise ValueError(f"{table.relative_path} has no column(s) {', '.join(unknown)}")
    return path, {c: table.kinds[c] for c in wanted}


def _torn_note(table: schema.Table) -> str:
    return (f"{table.relative_path}: the last line was incomplete (written when the run stopped) "
            "and was skipped")


def _readable_bytes(path: Path, table: schema.Table, kinds: dict[str, str], notes: list[str] | None,
                    required: bool) -> bytes | None:
    """The file's complete lines (None for a missing or empty file that is not required)."""
    if not path.is_file():
        if required:
            raise InputError(f"{path}: missing; the run directory has no {table.relative_path}")
        return None
    data = path.read_bytes()
    if not data:
        if required:
            raise InputError(f"{path}: empty (not even the header {','.join(table.columns)})")
        return None
    if not data.endswith(b"\n"):
        # A crash can tear the last line; everything before it is complete and kept.
        cut = data.rfind(b"\n") + 1
        if cut and notes is not None:
            notes.append(_torn_note(table))
        data = data[:cut] if cut else data + b"\n"  # a header alone, torn: judged by the header check
    return data


def _complete_end(path: Path, table: schema.Table, kinds: dict[str, str], notes: list[str] | None,
                  required: bool) -> int | None:
    """Where the file's complete lines end (the policy of :func:`_readable_bytes`, reading only
    the file's tail); None for a missing or empty file that is not required."""
    if not path.is_file():
        if required:
            raise InputError(f"{path}: missing; the run directory has no {table.relative_path}")
        return None
    size = path.stat().st_size
    if not size:
        if required:
            raise InputError(f"{path}: empty (not even the header {','.join(table.columns)})")
        return None
    with path.open("rb") as handle:
        position = size
        while position > 0:
            step = min(position, 1 << 16)
            handle.seek(position - step)
            newline = handle.read(step).rfind(b"\n")
            if newline >= 0:
                cut = position - step + newline + 1
                break
            position -= step
        else:
            cut = 0
    if cut == size:
        return size
    if not cut:  # a header alone, torn: judged by the header check
        with path.open("rb") as handle:
            _checked_header(path, table, kinds, handle.read())
        return None
    if notes is not None:
        notes.append(_torn_note(table))
    return cut


def _checked_header(path: Path, table: schema.Table, kinds: dict[str, str], header_line: bytes) -> list[str]:
    """The wanted columns the header holds; InputError when a required one is missing."""
    header = header_line.decode("utf-8", errors="replace").strip().split(",")
    optional = schema.OPTIONAL_COLUMNS.get(table.relative_path, ())
    missing = [c for c in kinds if c not in header and c not in optional]
    if missing or header == [""]:
        raise InputError(f"{path}:1: missing column(s) {', '.join(missing or table.columns)}; "
                         f"expected the header {','.join(table.columns)}")
    return [c for c in kinds if c in header]


def _text_dtypes(kinds: dict[str, str], present: list[str]) -> dict:
    return {c: ("category" if kinds[c] in ("category", "stage") else str)
            for c in present if kinds[c] in ("category", "stage", "str")}


def _checked_rows(path: Path, frame: pd.DataFrame, kinds: dict[str, str], stage_names: list[str] | None,
                  first_line: int) -> pd.DataFrame:
    """The frame's columns as their kinds say, or InputError naming the file, the line (the
    frame's first row is line ``first_line``) and the column of the first bad value."""
    for column in kinds:
        if column not in frame.columns:  # an optional column that came later: empty
            frame[column] = np.nan
    for column, kind in kinds.items():
        series = frame[column]
        if kind in ("time", "float", "flag") and not pd.api.types.is_numeric_dtype(series):
            numbers = pd.to_numeric(series, errors="coerce")
            _fail_at(path, column, series, numbers.isna() & series.notna(), "is not a number", first_line)
            frame[column] = series = numbers
        if kind in ("time", "float") and series.dtype != np.float64:
            frame[column] = series = series.astype(np.float64)
        if kind == "time":
            _fail_at(path, column, series, series.isna(), "is empty (a time is required)", first_line)
        elif kind == "flag":
            _fail_at(path, column, series, ~series.isin([0, 1]), "must be 0 or 1", first_line)
            frame[column] = series.astype(np.int8)
        elif kind == "stage" and stage_names is not None:
            _fail_at(path, column, series, ~series.isin(stage_names),
                     f"is not one of manifest.json's stages ({', '.join(stage_names)})", first_line)
        elif kind == "str":
            frame[column] = series.fillna("")
    return frame[list(kinds)]


def _empty(kinds: dict[str, str]) -> pd.DataFrame:
    dtypes = {"time": "float64", "float": "float64", "flag": "int8", "category": "category",
              "stage": "category", "str": "object"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes[k]) for c, k in kinds.items()})


def _fail_at(path: Path, column: str, series: pd.Series, bad: pd.Series, problem: str, first_line: int) -> None:
    if not bad.any():
        return
    row = int(np.flatnonzero(bad.to_numpy())[0])
    value = series.iloc[row]
    value = value.item() if hasattr(value, "item") else value  # numpy scalar -> plain for the message
    raise InputError(f"{path}:{row + first_line}: column {column}: {value!r} {problem}")


def read_requests(run_dir: Path, **options) -> pd.DataFrame:
    """requests.csv (see :func:`read_table` for the options)."""
    return read_table(run_dir, schema.REQUESTS, **options)


def estimated_rows(run_dir: Path, table: schema.Table) -> int:
    """About how many rows a raw CSV holds (its size over the mean length of its first 64 KiB of
    lines); 0 when it is missing. For sizing buffers, never for figures."""
    path = Path(run_dir) / table.relative_path
    if not path.is_file():
        return 0
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    lines = max(1, head.count(b"\n"))
    return int(path.stat().st_size / (len(head) / lines))


def iter_requests(run_dir: Path, **options) -> Iterator[pd.DataFrame]:
    """requests.csv in chunks (see :func:`iter_table` for the options)."""
    return iter_table(run_dir, schema.REQUESTS, **options)


def iter_journeys(run_dir: Path, **options) -> Iterator[pd.DataFrame]:
    """journeys.csv in chunks (see :func:`iter_table` for the options)."""
    return iter_table(run_dir, schema.JOURNEYS, **options)


def read_journeys(run_dir: Path, **options) -> pd.DataFrame:
    """journeys.csv (see :func:`read_table` for the options)."""
    return read_table(run_dir, schema.JOURNEYS, **options)


def read_samples(run_dir: Path, **options) -> pd.DataFrame:
    """samples.csv (see :func:`read_table` for the options)."""
    return read_table(run_dir, schema.SAMPLES, **options)


def read_metrics(run_dir: Path, **options) -> pd.DataFrame:
    """platform/metrics.csv (see :func:`read_table` for the options)."""
    return read_table(run_dir, schema.METRICS, **options)


def read_remote_metrics(run_dir: Path, **options) -> pd.DataFrame:
    """platform/remote_metrics.csv (see :func:`read_table` for the options)."""
    return read_table(run_dir, schema.REMOTE_METRICS, **options)


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


def last_records_t_s(run_dir: Path, stage_names: list[str] | None = None,
                     chunk_rows: int = CHUNK_ROWS) -> dict[str, float]:
    """:func:`last_record_t_s` of the run's requests.csv and journeys.csv, read in chunks (two
    columns each; missing files count as empty)."""
    last: dict[str, float] = {}
    parts = ((schema.REQUESTS, ["t_s", "stage"]), (schema.JOURNEYS, ["stage", "intended_t_s"]))
    for table, columns in parts:
        for chunk in iter_table(run_dir, table, columns=columns, stage_names=stage_names, chunk_rows=chunk_rows):
            found = last_record_t_s(*((chunk, pd.DataFrame()) if table is schema.REQUESTS else (pd.DataFrame(), chunk)))
            for stage, t_s in found.items():
                last[stage] = max(t_s, last.get(stage, t_s))
    return last


def stage_windows(run_dir: Path, manifest: dict | None = None) -> list[schema.StageWindow]:
    """The run's stage windows (schema.stage_windows) read from its files."""
    manifest = manifest if manifest is not None else read_manifest(Path(run_dir))
    events = read_events(run_dir)
    last = {}
    if manifest.get("end_reason") != "completed":
        last = last_records_t_s(run_dir)
    return schema.stage_windows(manifest, events, last)
