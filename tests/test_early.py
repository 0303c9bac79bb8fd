"""tests/early.py: a job starts only for a fixture the session uses, is taken once, and is bounded."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import early


def _command(folder, code: str, timeout_s: float = 30) -> early.Command:
    return early.Command([sys.executable, "-c", code], folder, {}, timeout_s, context=folder / "ctx")


def test_a_job_starts_for_a_used_fixture_and_is_taken_once(tmp_path, monkeypatch):
    monkeypatch.setattr(early, "_STARTERS", {})
    monkeypatch.setattr(early, "_STARTED", {})
    early.job("used")(lambda folder: _command(folder, "import sys; print('out'); print('err', file=sys.stderr)"))
    early.job("unused")(lambda folder: _command(folder, "raise SystemExit(3)"))
    assert early.start_for({"used", "tmp_path"}, lambda name: tmp_path) == ["used"]
    done, context = early.take("used")
    assert (done.returncode, done.stdout, done.stderr) == (0, "out\n", "err\n") and context == tmp_path / "ctx"
    assert early.take("used") is None and early.take("unused") is None  # taken once; never started


def test_a_job_past_its_bound_is_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(early, "_STARTERS", {})
    monkeypatch.setattr(early, "_STARTED", {})
    early.job("slow")(lambda folder: _command(folder, "import time; time.sleep(60)", timeout_s=0.5))
    early.start_for({"slow"}, lambda name: tmp_path)
    process = early._STARTED["slow"].process
    with pytest.raises(subprocess.TimeoutExpired):
        early.take("slow")
    assert process.poll() is not None  # killed, not left behind
    early.job("left")(lambda folder: _command(folder, "import time; time.sleep(60)"))
    early.start_for({"left"}, lambda name: tmp_path)
    left = early._STARTED["left"].process
    early.stop_all()
    assert left.poll() is not None and early._STARTED == {}
