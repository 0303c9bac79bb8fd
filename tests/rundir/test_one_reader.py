"""One reader: no module outside harness/rundir/ reads a run directory's raw files.

The raw files (requests.csv, journeys.csv, samples.csv, events.jsonl, platform/metrics.csv) are
read by harness/rundir/read.py alone, with one policy for bad lines; everything else asks it.
Like test_core_purity, this reads the source (ast), so a new reader anywhere fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.rundir import EventLog, read, schema

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "loadtests", "scenarios", "services")
RAW_NAMES = {Path(name).name for name in schema.RAW_FILES}
# Calls that parse a CSV or a JSON-lines file.
READER_CALLS = {"read_csv", "reader", "DictReader", "loadtxt", "genfromtxt", "read_table", "read_fwf"}
# The writers own their file's name (they create it); they still take the columns from the schema.
WRITERS = {"loadtests/records.py"}


def _modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "rundir" not in path.relative_to(REPO).parts[:2]:
                found.append(path)
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def violations(path: Path) -> list[str]:
    """What in one module reads a raw file, or names one to build its path."""
    relative = path.relative_to(REPO).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called_name(node) in READER_CALLS:
            found.append(f"{relative}:{node.lineno}: calls {_called_name(node)}(): read raw files with "
                         "harness.rundir.read")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
              and Path(node.value).name in RAW_NAMES and relative not in WRITERS):
            found.append(f"{relative}:{node.lineno}: names {node.value!r}: take the path from "
                         "harness.rundir.schema and read it with harness.rundir.read")
    return found


def test_no_module_outside_rundir_reads_or_names_a_raw_file():
    found = [line for path in _modules() for line in violations(path)]
    assert not found, "\n".join(found)


def test_the_check_sees_a_second_reader(tmp_path):
    module = REPO / "harness" / "_probe_second_reader.py"
    module.write_text('import pandas as pd\n\n\ndef f(d):\n    return pd.read_csv(d / "samples.csv")\n')
    try:
        found = violations(module)
    finally:
        module.unlink()
    assert any("calls read_csv()" in line for line in found)
    assert any("names 'samples.csv'" in line for line in found)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


HEADER = ",".join(schema.SAMPLES.columns)


def test_a_torn_last_line_is_tolerated_and_noted(tmp_path):
    _write(tmp_path / "samples.csv", f"{HEADER}\n1.0,7,shop,100,90,1.5,4,10\n2.0,7,sh")
    notes: list[str] = []
    frame = read.read_samples(tmp_path, notes=notes)
    assert frame["t_s"].tolist() == [1.0]
    assert notes and "samples.csv" in notes[0] and "incomplete" in notes[0]


def test_a_malformed_line_mid_file_names_the_file_line_and_column(tmp_path):
    _write(tmp_path / "samples.csv", f"{HEADER}\n1.0,7,shop,100,90,1.5,4,10\n2.0,7,shop,lots,90,1.5,4,10\n"
                                     "3.0,7,shop,100,90,1.5,4,10\n")
    with pytest.raises(InputError, match=r"samples.csv:3: column rss_bytes: 'lots' is not a number"):
        read.read_samples(tmp_path)


def test_a_missing_file_is_empty_unless_required(tmp_path):
    frame = read.read_requests(tmp_path, columns=["t_s", "name"])
    assert list(frame.columns) == ["t_s", "name"] and frame.empty
    with pytest.raises(InputError, match="requests.csv: missing"):
        read.read_requests(tmp_path, required=True)


def test_a_stage_unknown_to_the_manifest_is_named(tmp_path):
    _write(tmp_path / "requests.csv", ",".join(schema.REQUESTS.columns) + "\n"
           "1.0,100%,0,GET /api/cart,GET,12.5,1,200,,10,j1,local\n"
           "2.0,900%,0,GET /api/cart,GET,12.5,1,200,,10,j1,local\n")
    with pytest.raises(InputError, match=r"requests.csv:3: column stage: '900%' is not one of"):
        read.read_requests(tmp_path, stage_names=["100%"])


def test_metrics_written_before_the_seconds_columns_still_read(tmp_path):
    old = [c for c in schema.METRICS.columns if c not in schema.METRICS_SECONDS_COLUMNS]
    _write(tmp_path / "platform" / "metrics.csv", ",".join(old) + "\n" + ",".join(
        "1.5" if c == "t_s" else "" if c == "error" else "3" for c in old) + "\n")
    frame = read.read_metrics(tmp_path)
    assert frame["db_seconds"].isna().all() and frame["requests_total"].tolist() == [3.0]


def test_events_one_policy(tmp_path):
    path = _write(tmp_path / "events.jsonl", '{"t_s": 1, "kind": "run_start"}\n{"t_s": 2, "ki')
    assert [e["kind"] for e in read.read_events(tmp_path)] == ["run_start"]  # torn last line
    path.write_text('{"t_s": 1, "kind": "run_start"}\nnot json\n{"t_s": 3, "kind": "run_end"}\n')
    with pytest.raises(InputError, match=r"events.jsonl:2: not valid JSON"):
        read.read_events(tmp_path)
    # a torn line that its writer recorded (EventLog appends after it) is skipped, not an error
    path.write_text('{"t_s": 1, "kind": "run_start"}\n{"t_s": 2, "kind": "prog')
    EventLog(path).append("run_end", t_s=3.0)
    assert [e["kind"] for e in read.read_events(tmp_path)] == ["run_start", "run_end"]


def test_the_api_scope_rule():
    assert schema.is_api_request("GET /api/cart") and schema.is_api_request("POST /api/orders/[id]/pay")
    assert not schema.is_api_request("GET /static/img/1.jpg")
    assert not schema.is_api_request("GET /gateway/api/x")
