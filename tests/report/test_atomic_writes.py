"""One atomic writer (harness.rundir): whole files or the previous content, never half a file."""

from __future__ import annotations

import json

import pytest

from harness.errors import RunFailedError
from harness.rundir import write_bytes_atomic, write_json_atomic, write_text_atomic


def test_the_writers_replace_whole_files_and_leave_no_temporary(tmp_path):
    target = tmp_path / "capacity.md"
    write_text_atomic(target, "first 技术\n")
    write_text_atomic(target, "second\n")
    assert target.read_text(encoding="utf-8") == "second\n"
    write_bytes_atomic(tmp_path / "knee.png", b"\x89PNG")
    write_json_atomic(tmp_path / "results.json", {"verdict": "pass"})
    assert json.loads((tmp_path / "results.json").read_text()) == {"verdict": "pass"}
    assert (tmp_path / "results.json").read_text().endswith("}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capacity.md", "knee.png", "results.json"]


def test_a_failed_write_keeps_the_old_content_and_names_the_file(tmp_path):
    target = tmp_path / "results.json"
    write_json_atomic(target, {"verdict": "pass"})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"not json": object()})
    assert json.loads(target.read_text()) == {"verdict": "pass"}
    missing = tmp_path / "gone" / "report.md"
    with pytest.raises(RunFailedError, match=f"cannot write {missing}"):
        write_text_atomic(missing, "x")
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_no_module_writes_a_final_artifact_its_own_way():
    # the renderers and commands that wrote through their own tmp + rename now use harness.rundir's
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "harness"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "layout.py" and "os.replace(" in p.read_text(encoding="utf-8")]
    assert offenders == []
