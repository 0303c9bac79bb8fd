"""One figure, one code path: memory growth in results.json, `harness compare`, `harness history`
and the report come from the same function (harness.measure.memory.memory_results), on every golden run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.flows import compare as comparison
from harness.flows import history
from harness.measure.judge import judge_run
from harness.measure.memory import memory_results
from harness.report.rundata import load_run

GOLDEN = sorted(p for p in (Path(__file__).resolve().parents[1] / "golden").iterdir() if (p / "manifest.json").is_file())


@pytest.fixture(params=GOLDEN, ids=[p.name for p in GOLDEN])
def golden_copy(request, tmp_path) -> Path:
    copy = tmp_path / request.param.name
    shutil.copytree(request.param, copy)
    return copy


def _triple(block: dict) -> tuple[float, float, float]:
    return block["growth_bytes_per_hour"], block["ci_low"], block["ci_high"]


def test_memory_growth_is_one_figure_everywhere(golden_copy):
    results = judge_run(golden_copy, golden_copy / "targets.toml")
    derived = _triple(results["memory"])
    assert all(isinstance(v, float) for v in derived)
    assert _triple(memory_results(golden_copy)) == derived
    growth = comparison.load_run(golden_copy).growth
    assert (growth.growth_bytes_per_hour, growth.ci_low, growth.ci_high) == derived
    assert history.read_record(golden_copy).growth_bytes_per_hour == derived[0]
    assert _triple(load_run(golden_copy).results["memory"]) == derived
    # without results.json, compare derives it again by the same function, not a fallback of its own
    (golden_copy / "results.json").unlink()
    growth = comparison.load_run(golden_copy).growth
    assert (growth.growth_bytes_per_hour, growth.ci_low, growth.ci_high) == derived


def test_the_stored_golden_results_are_what_the_code_derives(golden_copy):
    stored = load_run(golden_copy).results["memory"]
    assert _triple(judge_run(golden_copy, golden_copy / "targets.toml", write=False)["memory"]) == _triple(stored)
