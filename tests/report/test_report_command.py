"""`harness report RUN_DIR`: re-judge, render, exit 0 when rendered (whatever the verdict); clear errors."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.commands import report as report_command


def test_the_command_is_documented_with_an_example():
    doc = report_command.__doc__
    assert "Example:" in doc and "harness report " in doc.split("Example:")[1]
    assert report_command.NAME == "report" and report_command.HELP


@pytest.mark.parametrize(("argv_tail", "expected"), [
    ([], "not a run directory (no such directory)"),
])
def test_missing_run_directory_exits_2_naming_it(tmp_path, capsys, argv_tail, expected):
    missing = tmp_path / "nope"
    assert main(["report", str(missing), *argv_tail]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and expected in err


def test_directory_without_manifest_exits_2_naming_it(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert f"{tmp_path}: not a run directory (no manifest.json)" in capsys.readouterr().err


def test_missing_targets_file_exits_2_naming_it(golden_copy, tmp_path, capsys):
    run_dir = golden_copy("faults-interrupted")
    assert main(["report", str(run_dir), "--targets", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


@pytest.mark.slow
def test_report_rederives_results_renders_and_exits_0_whatever_the_verdict(golden_copy, capsys):
    # GIVEN a completed golden run whose targets fail, with its results.json removed
    run_dir = golden_copy("step-300-leak")
    expected = json.loads((run_dir / "results.json").read_text())["verdict"]
    (run_dir / "results.json").unlink()
    # WHEN `harness report` runs
    code = main(["report", str(run_dir)])
    # THEN results.json is derived again, the reports are written, and it exits 0: it rendered (the
    # verdict's exit code is `harness check`'s)
    assert expected == "fail" and code == 0
    assert json.loads((run_dir / "results.json").read_text())["verdict"] == "fail"
    for name in ("report.html", "report.md", "junit.xml", "charts/latency.png"):
        assert (run_dir / name).is_file()
    assert "verdict: fail" in capsys.readouterr().out
