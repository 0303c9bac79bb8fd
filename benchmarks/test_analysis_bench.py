"""Analysis speed: a run directory with about 1,000,000 request rows into results.json.

Synthetic records per docs/run-directory.md (3 stages of 120 s at 100/200/300% load, 6
endpoints, journeys and samples). The figure to watch is build_results' mean time.
"""

from pathlib import Path

import pandas as pd
import pytest

from harness.measure.analysis import build_results
from harness.measure.judge import DEFAULT_TARGETS, judge_results
from tests.analysis.synthetic import Behaviour, Stage, write_run


@pytest.fixture(scope="module")
def million_request_run(tmp_path_factory) -> Path:
    stages = [Stage("100%", 1.0, duration_s=120.0, journeys_per_s=463.0),
              Stage("200%", 2.0, duration_s=120.0, journeys_per_s=926.0),
              Stage("300%", 3.0, duration_s=120.0, journeys_per_s=1389.0, median_ms=55.0)]
    run_dir = write_run(tmp_path_factory.mktemp("bench") / "run", stages, Behaviour(requests_per_visit=3))
    with open(run_dir / "requests.csv", "rb") as handle:
        rows = sum(1 for _ in handle) - 1
    assert rows >= 1_000_000
    return run_dir


def test_analyse_one_million_requests(benchmark, million_request_run):
    results = benchmark.pedantic(build_results, args=(million_request_run,), rounds=3, iterations=1)
    assert sum(s["requests"]["count"] + s["ramp_requests"] for s in results["stages"]) == len(
        pd.read_csv(million_request_run / "requests.csv", usecols=["t_s"]))


def test_judge_one_million_requests(benchmark, million_request_run):
    results = build_results(million_request_run)
    judged = benchmark(judge_results, results, DEFAULT_TARGETS)
    assert judged["targets"]
