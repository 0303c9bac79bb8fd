"""The report reads requests.csv and journeys.csv in chunks and reduces them as they come: its
series must not depend on the chunk size, and must be what the whole-file pandas computation
(the report before it streamed) gives, to the bit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.report import record_windows, series
from harness.report.rundata import load_run
from harness.rundir import read
from tests.analysis.synthetic import Behaviour, Stage, write_run

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
WHOLE_FILE = 10**9  # rows per chunk: more than any test file holds
FRAMES = ("latency", "window_counts", "errors", "journey_windows", "start_delay")


@pytest.fixture(scope="module")
def multi_stage_run(tmp_path_factory) -> Path:
    # GIVEN a run of ~4,000 requests in two stages, with failures, dropped arrivals and timeouts
    stages = [Stage("100%", 1.0, duration_s=40.0, ramp_s=5.0, journeys_per_s=8.0, failure_rate=0.02),
              Stage("200%", 2.0, duration_s=40.0, ramp_s=5.0, journeys_per_s=16.0, failure_rate=0.05)]
    behaviour = Behaviour(requests_per_visit=4, dropped_rate=0.03, timeout_rate=0.1, paid_rate=0.9)
    return write_run(tmp_path_factory.mktemp("report-chunked") / "run", stages, behaviour, seed=7)


def _run(run_dir: Path, chunk_rows: int):
    return load_run(run_dir, {"targets": [], "stages": []}, chunk_rows=chunk_rows)


def _assert_same_series(got: record_windows.ReportSeries, expected: record_windows.ReportSeries) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=True, obj=name)
    assert (got.funnel, got.outcomes) == (expected.funnel, expected.outcomes)
    assert (got.request_rows, got.journey_rows, got.first_request_t_s, got.last_request_t_s) == \
        (expected.request_rows, expected.journey_rows, expected.first_request_t_s, expected.last_request_t_s)


@pytest.mark.parametrize("chunk_rows", [7, 300])
def test_chunked_series_equal_the_whole_file_series(multi_stage_run, chunk_rows):
    # WHEN the run is read as one chunk, and in chunks of a few rows
    whole, chunked = _run(multi_stage_run, WHOLE_FILE), _run(multi_stage_run, chunk_rows)
    # THEN every chart series is the same, to the last bit
    assert whole.series.request_rows > 10 * chunk_rows
    assert len(whole.series.errors) and whole.series.window_counts["dropped"].sum() > 0
    _assert_same_series(chunked.series, whole.series)
    assert chunked.t0_s == whole.t0_s


@pytest.mark.parametrize("name", ["faults-interrupted", "step-300-leak"])
def test_golden_runs_read_in_chunks_give_the_whole_file_series(tmp_path, name):
    run_dir = tmp_path / name
    shutil.copytree(GOLDEN / name, run_dir)
    _assert_same_series(_run(run_dir, 7).series, _run(run_dir, WHOLE_FILE).series)


def _window(t_s: pd.Series, t0_s: float) -> pd.Series:
    return np.floor((t_s - t0_s) / series.WINDOW_S) * series.WINDOW_S


@pytest.mark.parametrize("name", ["faults-interrupted", "step-300-leak"])
def test_streamed_series_are_the_whole_file_pandas_figures(name):
    # GIVEN a golden run read whole into pandas, and the same run reduced in chunks of 50 rows
    requests, journeys = read.read_requests(GOLDEN / name), read.read_journeys(GOLDEN / name)
    run = _run(GOLDEN / name, 50)
    t0 = run.t0_s
    # THEN each percentile is pandas' (linearly interpolated) quantile of the window's rows
    grouped = requests.groupby(_window(requests["t_s"], t0).rename("window_s"))["response_ms"]
    expected = pd.DataFrame({"n": grouped.size(), "p50_ms": grouped.quantile(0.50), "p95_ms": grouped.quantile(0.95),
                             "p99_ms": grouped.quantile(0.99)})
    pd.testing.assert_frame_equal(run.series.latency, expected, check_exact=True)
    timed = journeys[(journeys["name"] != "visit") & journeys["duration_ms"].notna()]
    grouped = timed.groupby(_window(timed["intended_t_s"], t0).rename("window_s"))
    pd.testing.assert_frame_equal(run.series.journey_windows, pd.DataFrame({
        "service_p95_ms": grouped["duration_ms"].quantile(0.95),
        "from_intended_p95_ms": grouped["from_intended_ms"].quantile(0.95)}), check_exact=True)
    visits = journeys[(journeys["name"] == "visit") & journeys["start_t_s"].notna()]
    delay = ((visits["start_t_s"] - visits["intended_t_s"]) * 1000.0).groupby(
        _window(visits["intended_t_s"], t0).rename("window_s"))
    pd.testing.assert_frame_equal(run.series.start_delay, pd.DataFrame({"p95_ms": delay.quantile(0.95),
                                                                        "max_ms": delay.max()}), check_exact=True)
    # AND the funnel counts distinct visitors, the failures are counted per window and kind
    checkout = journeys[journeys["name"] == "checkout"]
    assert run.series.funnel == [
        ("visits", journeys[(journeys["name"] == "visit") & (journeys["outcome"] != "dropped")]["visit_id"].nunique()),
        ("cart", journeys[journeys["name"] == "cart"]["visit_id"].nunique()),
        ("checkout", checkout["visit_id"].nunique()), ("paid", checkout[checkout["outcome"] == "paid"]["visit_id"].nunique())]
    failed = requests[requests["ok"] == 0]
    assert run.series.errors.to_numpy().sum() == len(failed) > 0
    assert run.series.last_request_t_s == requests["t_s"].max()


def test_without_t0_in_the_manifest_the_axis_starts_at_the_first_request_or_sample(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(GOLDEN / "faults-interrupted", run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    del manifest["t0_s"]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    first = min(read.read_requests(run_dir)["t_s"].min(), read.read_samples(run_dir)["t_s"].min())
    assert _run(run_dir, 7).t0_s == first == _run(run_dir, WHOLE_FILE).t0_s
