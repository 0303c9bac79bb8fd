"""Analysis of a soak in bounded memory: a synthetic 15-minute soak (~270,000 request rows,
benchmarks/synthetic_run.py at a real platform's 300 requests/s) into results.json.

The figures to watch are build_results' mean time and ``extra_info["peak_rss_mb"]``: the peak
RSS of a fresh interpreter analysing the same run (imports included). The day-long figures
(26 million rows, ≤ 1 GB) are measured with the commands in docs/performance.md; this
benchmark keeps the same code path fast enough to run with the suite.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.synthetic_run import write_synthetic_run
from harness.measure.analysis import build_results

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def soak_run(tmp_path_factory) -> Path:
    return write_synthetic_run(tmp_path_factory.mktemp("soak") / "run", hours=0.25)


def _peak_rss_mb_of_a_fresh_analysis(run_dir: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-c", "import sys; from harness.measure.analysis import build_results; "
                    "build_results(sys.argv[1])", str(run_dir)], cwd=REPO, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux: the largest child so far
    return max(after, before) / 1024.0


def test_analyse_a_quarter_hour_soak(benchmark, soak_run):
    results = benchmark.pedantic(build_results, args=(soak_run,), rounds=3, iterations=1)
    benchmark.extra_info["request_rows"] = 270_000
    benchmark.extra_info["peak_rss_mb"] = round(_peak_rss_mb_of_a_fresh_analysis(soak_run), 1)
    stage = results["stages"][0]
    assert stage["requests"]["count"] + stage["ramp_requests"] == 270_000
    assert results["notes"] == []  # the recorder's HDR histograms agree with the raw rows
    assert results["telemetry"]["n"] > 0
