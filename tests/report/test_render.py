"""render_run on the golden run directories: what a reader gets, and that it is reproducible."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import InputError, RunFailedError
from harness.report import HtmlReport, load_run, render_run
from tests.report.conftest import FIXED_TIME, GOLDEN_RUNS

REPO = Path(__file__).resolve().parent.parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_render_writes_every_file_and_the_html_is_self_contained(rendered, name):
    # GIVEN a golden run directory, WHEN it is rendered
    run_dir, paths = rendered(name)
    # THEN the reports and charts exist, every chart is a PNG, and the page needs nothing else
    names = {p.relative_to(run_dir).as_posix() for p in paths}
    assert {"report.html", "report.md", "junit.xml"} <= names
    charts = sorted(p for p in paths if p.suffix == ".png")
    assert {"charts/latency.png", "charts/throughput.png", "charts/errors.png", "charts/funnel.png",
            "charts/availability.png", "charts/p95_per_stage.png", "charts/coordinated_omission.png"} <= names
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    for chart in charts:
        data = chart.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert base64.b64encode(data).decode() in html, f"{chart.name} is not embedded"
    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not load anything from the network"
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img[^>]* src="([^"]+)"', html))
    assert not list(run_dir.rglob(".*.tmp*")), "temporary files left behind"


@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_html_shows_verdict_reasons_and_every_target_worst_first(rendered, name):
    run_dir, _ = rendered(name)
    results = _results(run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert f'class="verdict v-{results["verdict"]}"' in html
    positions = {}
    for target in results["targets"]:
        match = re.search(rf'<tr class="st-{target["status"]}"><td class="status">[^<]*</td>\s*<td><b>{re.escape(target["id"])}</b>', html)
        assert match, f"target {target['id']} ({target['status']}) missing from the table"
        positions[target["id"]] = (target["status"], match.start())
    order = {"fail": 0, "error": 1, "warn": 3, "unknown": 4, "pass": 5}
    by_position = sorted(positions.values(), key=lambda item: item[1])
    ranks = [order[status] for status, _ in by_position]
    assert ranks == sorted(ranks), "targets must be listed worst first"
    for target in results["targets"]:
        if target["status"] == "fail":  # each failure says why in the headline
            assert target["id"] + ":" in html.split('<div class="chips">')[0]


def test_faults_reconciliation_and_interruption_are_shown(rendered):
    run_dir, _ = rendered("faults-interrupted")
    results = _results(run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "INTERRUPTED" in html
    assert '<h2 id="faults">' in html and "17% timeouts" in html and "kill-worker" in html
    details = results["reconciliation"]["details"]
    assert details, "the golden run must have discrepancies"
    for detail in details:
        assert detail["order_id"] in html and detail["kind"] in html
    # the 300% stage dropped 1 of 89 arrivals: shown, but a handful of drops is not a bound generator
    assert "dropped 1" in html and "✘ YES" not in html


def _html(run_dir: Path, results: dict | None = None) -> str:
    """The page for a run without drawing its charts (fast: for tests of the text)."""
    buffer = io.StringIO()
    HtmlReport.from_run(load_run(run_dir, results), {}, FIXED_TIME).render(buffer)
    return buffer.getvalue()


def test_memory_profiles_and_cpu_sections(golden_copy, rendered):
    assert rendered("step-300-leak")[0] / "charts" / "memory.png" in rendered("step-300-leak")[1]
    run_dir = golden_copy("step-300-leak")
    results = _results(run_dir)
    results["memory"]["leak_sites"] = [{"function": "remember_request", "file": "services/shop/faults.py", "line": 57,
                                        "live_bytes": 14_680_064, "growth_bytes_per_hour": 4.31e8}]
    results["memory"]["flamegraph"] = "profiles/memray-flamegraph-leaks-shop.html"
    html = _html(run_dir, results)
    assert "remember_request" in html and "services/shop/faults.py:57" in html and "0.431 GB/h" in html
    assert "14.68 MB" in html
    for href in ("profiles/py-spy-300pct.svg", "profiles/py-spy-300pct.speedscope.json",
                 "profiles/memray-flamegraph-leaks-shop.html"):
        assert f'href="{href}"' in html
        assert (run_dir / href).is_file()
    assert "sign_request" in html and "21.4%" in html  # the CPU profile recorded in the manifest


def test_cpu_profile_that_could_not_attach_says_why(golden_copy):
    run_dir = golden_copy("faults-interrupted")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["cpu_profile"] = {"error": "py-spy could not attach to pid 4101 (exit 1): Permission denied"}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert "py-spy could not attach to pid 4101" in _html(run_dir)


@pytest.mark.parametrize("name", GOLDEN_RUNS)
def test_markdown_is_short_and_has_headline_targets_and_stages(rendered, name):
    run_dir, _ = rendered(name)
    results = _results(run_dir)
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    assert md.startswith("## ") and results["verdict"].upper() in md.splitlines()[0]
    for target in results["targets"]:
        assert f"`{target['id']}`" in md
    for stage in results["stages"]:
        assert f"| {stage['name']}" in md
    assert len(md.splitlines()) < 60, "a pull-request comment should stay short"


def test_rendering_again_gives_identical_bytes_and_drops_stale_charts(rendered, golden_copy):
    # GIVEN a run rendered once, and a chart left over from an older render
    first_dir, first_paths = rendered("step-300-leak")
    run_dir = golden_copy("step-300-leak")
    (run_dir / "charts").mkdir()
    (run_dir / "charts" / "old-chart.png").write_bytes(b"stale")
    # WHEN it is rendered again (elsewhere, later)
    second_paths = render_run(run_dir, generated_at=FIXED_TIME)
    # THEN every file has the same bytes, and the stale chart is gone (raw files untouched)
    assert [p.relative_to(first_dir) for p in first_paths] == [p.relative_to(run_dir) for p in second_paths]
    for first, second in zip(first_paths, second_paths, strict=True):
        assert first.read_bytes() == second.read_bytes(), f"{first.name} differs between two renders"
    assert not (run_dir / "charts" / "old-chart.png").exists()
    assert (run_dir / "requests.csv").read_bytes() == (first_dir / "requests.csv").read_bytes()


def _without_timestamp(text: str) -> str:
    return re.sub(r"Generated \S+", "Generated <time>", text)


@pytest.mark.slow
def test_harness_report_rerenders_an_old_run_byte_for_byte_except_the_timestamp(golden_copy):
    # GIVEN a run judged and rendered once in this process (the analysis of today, not of the day
    # the golden results.json was written)
    from harness.measure.judge import judge_run

    run_dir = golden_copy("faults-interrupted")
    first = {p.relative_to(run_dir): p.read_bytes() for p in render_run(run_dir, judge_run(run_dir))}
    # WHEN `harness report` re-derives results.json and renders again, in a fresh interpreter
    done = subprocess.run([sys.executable, "-m", "harness", "report", str(run_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=240, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr  # rendered (the golden run was interrupted: `harness check` exits 130)
    # THEN charts and junit are identical, and the reports differ only in the generated-at time
    for relative, data in first.items():
        again = (run_dir / relative).read_bytes()
        if relative.suffix in (".png", ".xml"):
            assert again == data, f"{relative} changed on re-render"
        else:
            assert _without_timestamp(again.decode()) == _without_timestamp(data.decode()), f"{relative} changed"


def test_a_run_with_only_a_manifest_and_results_still_renders(tmp_path, golden_copy):
    # an interrupted run may die before writing any raw file: the report must say so, not crash
    source = golden_copy("faults-interrupted")
    run_dir = tmp_path / "bare"
    run_dir.mkdir()
    for name in ("manifest.json", "results.json"):
        (run_dir / name).write_text((source / name).read_text())
    render_run(run_dir, generated_at=FIXED_TIME)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "INTERRUPTED" in html


def test_missing_run_directory_is_an_input_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(InputError, match=re.escape(str(missing))):
        render_run(missing)


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("manifest.json", None, "manifest.json: missing"),
    ("manifest.json", "{not json", "manifest.json: not valid JSON"),
    ("manifest.json", "[1, 2]", "manifest.json: expected a JSON object"),
    ("results.json", None, "results.json: missing"),
    ("results.json", '{"targets": {}, "stages": []}', "results.json: 'targets' and 'stages' must be lists"),
    ("requests.csv", "t_s,stage,name\n1,100%,GET /\n", "requests.csv:1: missing column(s) in_ramp"),
    ("events.jsonl", '{"t_s": 1, "kind": "run_start"}\n{oops\n{"t_s": 2, "kind": "run_end"}\n', "events.jsonl:2: not valid JSON"),
])
def test_malformed_run_directory_names_the_file(golden_copy, name, content, expected):
    run_dir = golden_copy("faults-interrupted")
    if content is None:
        (run_dir / name).unlink()
    else:
        (run_dir / name).write_text(content)
    with pytest.raises(InputError, match=re.escape(expected)):
        render_run(run_dir, generated_at=FIXED_TIME)


def test_a_half_written_last_line_is_tolerated(golden_copy):
    # the recorder died mid-write: what came before still counts
    run_dir = golden_copy("faults-interrupted")
    complete = load_run(run_dir)
    with open(run_dir / "events.jsonl", "a") as stream:
        stream.write('{"t_s": 17643492')
    with open(run_dir / "requests.csv", "a") as stream:
        stream.write("1764349251.9,300%,0,GET /api/car")
    cut = load_run(run_dir)
    assert len(cut.events) == len(complete.events)
    assert cut.series.request_rows == complete.series.request_rows


def test_unwritable_output_is_a_run_failed_error_naming_the_path(golden_copy):
    run_dir = golden_copy("faults-interrupted")
    (run_dir / "charts").write_text("a file where the charts folder should be")
    with pytest.raises(RunFailedError, match=re.escape(str(run_dir / "charts"))):
        render_run(run_dir, generated_at=FIXED_TIME)
    assert not (run_dir / "report.html").exists(), "no half-rendered report may be presented"


def test_a_long_soak_s_errors_chart_is_one_area_per_kind_not_a_bar_per_window():
    """A day of 5 s windows with failures would be 17,280 bars per kind (0.5 GB of matplotlib
    artists, measured at 24 h): past MAX_ERROR_BARS windows each kind is one stacked step area,
    with the same totals in its legend; a short run keeps its bars."""
    import numpy as np
    import pandas as pd
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Rectangle

    from harness.report import charts

    def chart(windows: int):
        index = pd.Index(np.arange(windows) * 5.0, name="window_s")
        counts = pd.DataFrame({"http_5xx": np.arange(windows) % 3, "timeout": np.ones(windows, dtype=int)}, index=index)
        figure = charts.errors_chart(counts.iloc[::2], [], [], [], windows * 5.0)  # every other window failed
        ax = figure.axes[0]
        labels = ax.get_legend_handles_labels()[1]
        return ax, labels, counts.iloc[::2].sum()

    ax, labels, totals = chart(3 * charts.MAX_ERROR_BARS)
    areas = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(areas) == 2 and not [p for p in ax.patches if isinstance(p, Rectangle)]
    assert f"http_5xx ({totals['http_5xx']})" in labels and f"timeout ({totals['timeout']})" in labels
    ax, labels, totals = chart(40)
    assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == 2 * 20  # a bar per window and kind
    assert f"timeout ({totals['timeout']})" in labels
