"""The analysis reads requests.csv and journeys.csv in chunks: the figures must not depend on the
chunk size, and the reader's one bad-line policy must hold in every chunk."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.core import blocks, streamstats
from harness.core.stagestats import latency_block, seeded_rng
from harness.core.stats import summarize
from harness.errors import InputError
from harness.measure.analysis import build_results
from harness.rundir import read, schema
from tests.analysis.synthetic import Behaviour, Stage, write_run
from tests.analysis.test_platform_metrics import write_metrics

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
WHOLE_FILE = 10**9  # rows per chunk: more than any test file holds


@pytest.fixture(scope="module")
def multi_stage_run(tmp_path_factory) -> Path:
    # GIVEN a run of ~4,000 requests in three stages, with failures, dropped arrivals, timeouts,
    # SMS re-entries and platform/metrics.csv (so the monitoring delay is measured too)
    stages = [Stage("100%", 1.0, duration_s=40.0, ramp_s=5.0, journeys_per_s=8.0, failure_rate=0.02),
              Stage("200%", 2.0, duration_s=40.0, ramp_s=5.0, journeys_per_s=16.0, failure_rate=0.05,
                    extra_ms_by_endpoint={"GET /api/search": 30.0})]
    behaviour = Behaviour(requests_per_visit=4, dropped_rate=0.03, timeout_rate=0.1, paid_rate=0.9)
    run_dir = write_run(tmp_path_factory.mktemp("chunked") / "run", stages, behaviour, seed=7)
    write_metrics(run_dir, lag_s=0.5)
    return run_dir


@pytest.mark.parametrize("chunk_rows", [13, 300])
def test_chunked_figures_equal_the_whole_file_figures(multi_stage_run, chunk_rows):
    # WHEN the run is analysed with the whole file as one chunk, and in chunks of a few rows
    whole = build_results(multi_stage_run, chunk_rows=WHOLE_FILE)
    chunked = build_results(multi_stage_run, chunk_rows=chunk_rows)
    # THEN every figure is the same, to the last bit (intervals and telemetry included)
    rows = len((multi_stage_run / "requests.csv").read_text().splitlines()) - 1
    assert rows > 10 * chunk_rows
    assert chunked == whole
    assert whole["telemetry"]["n"] > 0 and whole["stages"][1]["requests"]["p95_ci_ms"] is not None


@pytest.mark.parametrize("name", ["faults-interrupted", "step-300-leak"])
def test_golden_runs_read_in_chunks_give_their_stored_figures(tmp_path, name):
    # GIVEN a golden run (an interrupted one with faults: stage windows cut at the last record,
    # fault effects per second), analysed whole and in chunks of 7 rows
    run_dir = tmp_path / name
    shutil.copytree(GOLDEN / name, run_dir)
    assert build_results(run_dir, chunk_rows=7) == build_results(run_dir, chunk_rows=WHOLE_FILE)


def test_streamed_latency_equals_the_all_at_once_computation():
    # GIVEN durations with gaps (NaN) over 60 s in 3 s blocks
    rng = np.random.default_rng(3)
    t_s = np.sort(rng.uniform(0.0, 60.0, 5000))
    values_ms = np.round(rng.lognormal(3.0, 0.6, 5000), 3)
    values_ms[::53] = np.nan
    expected, expected_replicates = latency_block(values_ms, t_s, 0.0, 3.0, seeded_rng("run", "key"))
    # WHEN they arrive in uneven chunks
    scope = streamstats.LatencyScope(0.0, 3.0)
    for start, stop in [(0, 1), (1, 700), (700, 701), (701, 5000)]:
        scope.add(values_ms[start:stop], t_s[start:stop])
    table = scope.cells.table()
    got, replicates = scope.finish(seeded_rng("run", "key"))
    # THEN the percentiles, max, count and every bootstrap replicate are identical; the mean is
    # the exactly rounded one (a whole-array numpy sum may differ in its last bit)
    mean = got.pop("mean_ms")
    assert mean == pytest.approx(expected.pop("mean_ms"), rel=1e-15)
    assert got == expected
    assert all(np.array_equal(replicates[k], expected_replicates[k]) for k in expected_replicates)
    assert table.n_blocks == blocks.block_table(
        values_ms[~np.isnan(values_ms)], blocks.block_ids(t_s[~np.isnan(values_ms)], 0.0, 3.0)).n_blocks


def test_value_counts_give_exact_percentiles_and_an_exactly_rounded_mean():
    values = np.array([0.1] * 10 + [1e16, 1.0, -1e16, 3.0])
    counts = streamstats.ValueCounts()
    counts.add(values[:5])
    counts.add(values[5:])
    summary = counts.summary()
    expected = summarize(values)
    assert (summary.count, summary.p50_ms, summary.p95_ms, summary.p99_ms, summary.max_ms) == (
        expected.count, expected.p50_ms, expected.p95_ms, expected.p99_ms, expected.max_ms)
    assert summary.mean_ms == (0.1 * 10 + 4.0) / 14  # 1e16 and -1e16 cancel exactly


def test_a_long_stage_has_at_most_max_blocks():
    assert blocks.block_length_s(86_400.0) == 86_400.0 / blocks.MAX_BLOCKS
    assert blocks.block_length_s(3_600.0) == 10.0  # up to an hour: 10 s blocks, as before


def test_a_bad_value_in_a_later_chunk_names_its_line_in_the_file(tmp_path):
    run_dir = write_run(tmp_path / "run", [Stage("100%", duration_s=20.0, ramp_s=2.0)])
    path = run_dir / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[41].split(",")
    fields[5] = "fast"
    lines[41] = ",".join(fields)
    path.write_text("".join(lines))
    with pytest.raises(InputError, match=r"requests.csv:42: column response_ms: 'fast' is not a number"):
        build_results(run_dir, chunk_rows=10)


def test_a_torn_last_line_is_skipped_in_chunks_too(tmp_path):
    run_dir = write_run(tmp_path / "run", [Stage("100%", duration_s=20.0, ramp_s=2.0)])
    complete = build_results(run_dir, chunk_rows=10)["stages"][0]["requests"]["count"]
    with open(run_dir / "requests.csv", "a") as handle:
        handle.write("1764349219.5,100%,0,GET /api/ca")
    notes: list[str] = []
    rows = sum(len(c) for c in read.iter_table(run_dir, schema.REQUESTS, notes=notes, chunk_rows=10))
    assert rows == len(read.read_requests(run_dir))
    results = build_results(run_dir, chunk_rows=10)
    assert results["stages"][0]["requests"]["count"] == complete
    assert [n for n in results["notes"] if "requests.csv" in n] == [
        "requests.csv: the last line was incomplete (written when the run stopped) and was skipped"]


def test_a_header_alone_yields_no_chunk_and_a_bad_header_is_named(tmp_path):
    (tmp_path / "requests.csv").write_text(",".join(schema.REQUESTS.columns) + "\n")
    assert list(read.iter_table(tmp_path, schema.REQUESTS)) == []
    (tmp_path / "requests.csv").write_text("t_s,stage\n1.0,100%\n")
    with pytest.raises(InputError, match=r"requests.csv:1: missing column\(s\) in_ramp"):
        list(read.iter_table(tmp_path, schema.REQUESTS))
