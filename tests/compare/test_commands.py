"""`harness compare`, `harness gate` and `harness history`: exit codes, outputs, messages."""

from __future__ import annotations

import json
import sqlite3
from xml.etree import ElementTree as ET

import pytest

from harness.cli import main
from harness.flows import gate, history

DETAIL = "GET /api/products/[id]"


def test_compare_exit_codes_and_files(make_run, tmp_path, capsys):
    base = make_run("base", seed=1)
    same = make_run("same", seed=2)
    slow = make_run("slow", seed=3, slow_ms={DETAIL: 30.0})
    assert main(["compare", "--bootstrap", "200", str(base), str(same)]) == 0
    out = tmp_path / "out"
    code = main(["compare", "--bootstrap", "200", str(base), str(slow), "--json", str(out / "c.json"), "--markdown",
                 str(out / "c.md"), "--junit", str(out / "c.xml")])
    assert code == 1
    assert json.loads((out / "c.json").read_text())["regressed"] is True
    assert "regression" in (out / "c.md").read_text()
    assert ET.parse(out / "c.xml").getroot().find("testsuite").get("failures") != "0"
    # A practical minimum of 50 ms makes 30 ms not matter.
    assert main(["compare", "--bootstrap", "200", str(base), str(slow), "--practical", "latency=5%,50ms"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(("argv", "message"), [
    (["--practical", "latency=quick"], "--practical 'latency=quick': cannot read 'quick'"),
    (["--bootstrap", "3"], "--bootstrap 3: need at least 50"),
])
def test_compare_bad_flags_exit_2(make_run, capsys, argv, message):
    base = make_run("base", seed=1)
    assert main(["compare", "--bootstrap", "200", str(base), str(base), *argv]) == 2
    assert message in capsys.readouterr().err


def test_compare_could_not_compare_exit_2(make_run, tmp_path, capsys):
    base = make_run("base", seed=1)
    assert main(["compare", "--bootstrap", "200", str(base), str(tmp_path / "missing")]) == 2
    assert f"run directory {tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    other = make_run("other", seed=2, stages=(("soak", 1.0),))
    assert main(["compare", "--bootstrap", "200", str(base), str(other)]) == 2
    assert "incompatible stages" in capsys.readouterr().err


@pytest.fixture
def fake_judge(monkeypatch):
    """The targets verdict is the analysis area's; here it is read from results.json as written."""
    def judge(run_dir, targets, strict):
        results = json.loads((run_dir / "results.json").read_text())
        return results, {"pass": 0, "fail": 1}.get(results["verdict"], 2), ""
    monkeypatch.setattr(gate, "_judge", judge)


def test_gate_run_against_a_baseline_dir(make_run, tmp_path, fake_judge, capsys):
    base = make_run("base", seed=1)
    good = make_run("good", seed=2)
    slow = make_run("slow", seed=3, slow_ms={DETAIL: 30.0})
    junit, markdown = tmp_path / "g.xml", tmp_path / "g.md"
    assert main(["gate", "--run", str(good), "--baseline", str(base), "--junit", str(junit)]) == 0
    assert main(["gate", "--run", str(slow), "--baseline", str(base), "--junit", str(junit),
                 "--markdown", str(markdown)]) == 1
    suites = {s.get("name"): s for s in ET.parse(junit).getroot().iter("testsuite")}
    assert set(suites) == {"harness gate: targets", "harness gate: compare"}
    assert suites["harness gate: targets"].get("failures") == "0"
    assert int(suites["harness gate: compare"].get("failures")) > 0
    text = markdown.read_text()
    assert "**Gate: FAIL** (exit 1)" in text and "## Comparison" in text
    # A failing target fails the gate even without a regression.
    failing = make_run("failing", seed=4, verdict="fail")
    assert main(["gate", "--run", str(failing), "--baseline", str(base)]) == 1
    # An explicit baseline that cannot be compared: exit 2.
    assert main(["gate", "--run", str(good), "--baseline", str(tmp_path / "gone")]) == 2
    capsys.readouterr()


def test_gate_last_pass_baseline_from_history(make_run, fake_judge, capsys):
    first = make_run("20261128T170000Z-step-300-aaaa", seed=1, started_at="2026-11-28T17:00:00Z")
    # No passing run before: the comparison is skipped, the gate passes on the targets.
    assert main(["gate", "--run", str(first), "--reports", str(first.parent)]) == 0
    assert "baseline: none yet" in capsys.readouterr().out
    make_run("20261128T171000Z-step-300-bbbb", seed=2, started_at="2026-11-28T17:10:00Z", verdict="fail",
             slow_ms={DETAIL: 100.0})  # failed: never a baseline
    make_run("20261128T172000Z-smoke-cccc", seed=5, started_at="2026-11-28T17:20:00Z", profile="smoke")
    slow = make_run("20261128T173000Z-step-300-dddd", seed=3, started_at="2026-11-28T17:30:00Z",
                    slow_ms={DETAIL: 30.0})
    assert history.last_passing_run(first.parent, profile="step-300", exclude=slow) == first
    assert main(["gate", "--run", str(slow), "--reports", str(first.parent), "--baseline", "last-pass"]) == 1
    assert "aaaa" in capsys.readouterr().out


def test_gate_strict_fails_on_environment_mismatch(make_run, fake_judge, capsys):
    base = make_run("base", seed=1)
    other_cpu = make_run("cpu", seed=2, manifest={"host": {"cpu_model": "EPYC"}})
    assert main(["gate", "--run", str(other_cpu), "--baseline", str(base)]) == 0
    assert main(["gate", "--run", str(other_cpu), "--baseline", str(base), "--strict"]) == 1
    capsys.readouterr()


def test_gate_input_errors(make_run, make_bench, tmp_path, capsys):
    assert main(["gate"]) == 2
    assert "give --profile FILE or --run RUN_DIR" in capsys.readouterr().err
    assert main(["gate", "--run", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    bench = tmp_path / "b.json"
    bench.write_text("{}")
    assert main(["gate", "--benchmark-json", str(bench)]) == 2
    assert "--benchmark-json needs --benchmark-baseline" in capsys.readouterr().err
    assert main(["gate", "--benchmark-json", str(bench), "--benchmark-baseline", str(bench)]) == 2
    assert f"{bench}: not a pytest-benchmark JSON file" in capsys.readouterr().err
    good = make_bench("good.json", {"t::x": 1e-4}, seed=1)
    assert main(["gate", "--benchmark-json", str(good), "--benchmark-baseline", str(tmp_path / "none.json")]) == 2
    assert "none.json: no such pytest-benchmark file" in capsys.readouterr().err
    assert main(["gate", "--run", str(tmp_path), "--benchmark-quantile", "100"]) == 2
    assert "--benchmark-quantile 100: must be between 0 and 100" in capsys.readouterr().err


def test_gate_benchmarks_catch_a_30_percent_slowdown_not_noise(make_bench, tmp_path, capsys):
    medians = {"benchmarks/test_x.py::test_sign": 1e-4, "benchmarks/test_x.py::test_cart": 5e-4}
    drifts = (1.0, 1.03, 0.98)
    for i, drift in enumerate(drifts):
        make_bench(f"../storage/000{i}_base.json", {k: v * drift for k, v in medians.items()}, seed=i)
        make_bench(f"../noise/run-{i}.json", {k: v * drift * 1.02 for k, v in medians.items()}, seed=10 + i)
        make_bench(f"../slow/run-{i}.json", {**medians, "benchmarks/test_x.py::test_sign": 1.3e-4 * drift},
                   seed=20 + i)
    storage, noise, slow = tmp_path / "storage", tmp_path / "noise", tmp_path / "slow"
    junit = tmp_path / "b.xml"
    assert main(["gate", "--benchmark-json", str(noise), "--benchmark-baseline", str(storage)]) == 0
    assert main(["gate", "--benchmark-json", str(noise), "--benchmark-baseline", str(storage),
                 "--benchmark-method", "mean"]) == 0
    assert main(["gate", "--benchmark-json", str(slow), "--benchmark-baseline", str(storage),
                 "--junit", str(junit)]) == 1
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["benchmarks/test_x.py::test_sign"].find("failure") is not None
    assert cases["benchmarks/test_x.py::test_cart"].find("failure") is None
    # One slow run alone is not judged by the best of runs (exit 0, and the notes say why) ...
    one_slow = slow / "run-0.json"
    assert main(["gate", "--benchmark-json", str(one_slow), "--benchmark-baseline", str(storage)]) == 0
    assert "best needs 3 runs a side" in " ".join(capsys.readouterr().out.split())
    # ... and summary statistics only (no --benchmark-save-data) are used by the mean method.
    base_stats = make_bench("base_stats.json", medians, seed=30, with_data=False)
    slow_stats = make_bench("slow_stats.json", {**medians, "benchmarks/test_x.py::test_sign": 1.3e-4},
                            seed=31, with_data=False)
    assert main(["gate", "--benchmark-json", str(slow_stats), "--benchmark-baseline", str(base_stats),
                 "--benchmark-method", "mean"]) == 1
    notes = gate.compare_benchmarks([slow_stats], [base_stats], method="mean")[1]
    assert notes[0].startswith("0 of 4 benchmark result(s) carry per-round data")
    assert "with one run a side the run-to-run noise is not measured" in notes[1]
    capsys.readouterr()


def test_history_lists_indexes_and_charts(make_run, tmp_path, capsys):
    reports = tmp_path / "reports"
    make_run("r1", seed=1, started_at="2026-11-28T17:00:00Z")
    make_run("r2", seed=2, started_at="2026-11-28T17:10:00Z", verdict="fail", growth=(4e8, 3.9e8, 4.1e8))
    (reports / "junk").mkdir()  # not a run: ignored
    chart = tmp_path / "trend.png"
    assert main(["history", "--reports", str(reports), "--chart", str(chart), "--json",
                 str(tmp_path / "h.json")]) == 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    listed = json.loads((tmp_path / "h.json").read_text())
    assert [r["run_id"] for r in listed] == ["r1", "r2"]
    assert listed[1]["verdict"] == "fail" and listed[1]["growth_bytes_per_hour"] == 4e8
    assert listed[0]["stages"][0] == {"stage": "100%", "p95_ms": 60.0, "availability": 0.999,
                                      "count": listed[0]["stages"][0]["count"]}
    with sqlite3.connect(reports / "history.sqlite") as db:
        assert db.execute("SELECT run_id, verdict FROM runs ORDER BY started_at").fetchall() == [
            ("r1", "pass"), ("r2", "fail")]
    # The index is a cache: deleting a run directory drops it on the next call.
    import shutil
    shutil.rmtree(reports / "r2")
    assert main(["history", "--reports", str(reports)]) == 0
    with sqlite3.connect(reports / "history.sqlite") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    capsys.readouterr()


@pytest.mark.parametrize(("argv", "message"), [
    (["--reports", "/nonexistent/reports"], "--reports /nonexistent/reports: no such folder"),
    (["--chart", "trend.svg"], "--chart trend.svg: the chart is a PNG"),
    (["--limit", "-1"], "--limit -1: must be 0"),
])
def test_history_bad_flags(tmp_path, capsys, argv, message):
    args = argv if "--reports" in argv else ["--reports", str(tmp_path), *argv]
    assert main(["history", *args]) == 2
    assert message in capsys.readouterr().err


def test_gate_profile_runs_the_campaign_flow_with_the_campaigns_defaults(make_run, tmp_path, monkeypatch, capsys):
    # The campaign itself is the orchestration area's (and slow): stand in for the campaign flow,
    # which the gate calls with a CampaignRequest (every field it does not set: the campaign's default).
    from types import SimpleNamespace

    from harness.flows import campaign
    base = make_run("20261128T170000Z-smoke-aaaa", seed=1, profile="smoke")
    seen = {}

    def fake_campaign(request):
        seen["request"] = request
        make_run(request.out.name, seed=2, profile="smoke", slow_ms={DETAIL: 30.0})
        return SimpleNamespace(exit_code=0)
    monkeypatch.setattr(campaign, "run_campaign", fake_campaign)
    monkeypatch.setattr(gate, "_judge", lambda *a: (_ for _ in ()).throw(AssertionError("not for --profile")))
    from pathlib import Path
    smoke = str(Path(__file__).parents[2] / "profiles" / "smoke.toml")
    code = main(["gate", "--profile", smoke, "--reports", str(base.parent), "--faults", "healthy", "--strict"])
    request = seen["request"]
    assert request.profile == smoke and request.faults == "healthy" and request.strict
    assert request.out.parent == base.parent and "-smoke-" in request.out.name
    defaults = campaign.CampaignRequest()
    assert (request.locustfile, request.workers, request.memray, request.cpu_profile, request.target) == (
        defaults.locustfile, defaults.workers, defaults.memray, defaults.cpu_profile, defaults.target)
    assert code == 1  # compared with the last passing smoke run: product detail regressed
    capsys.readouterr()
