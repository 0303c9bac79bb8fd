"""Comparing run directories: reading, fingerprints, refusal reasons, JSON/Markdown/JUnit."""

from __future__ import annotations

import json
import shutil
from xml.etree import ElementTree as ET

import pytest

from harness.core import compare as core
from harness.flows import compare as cmp
from harness.measure.memory import memory_results

DETAIL = "GET /api/products/[id]"


def regressions(report):
    return {(m.key.stage, m.key.kind, m.key.name, m.metric) for m in report.comparison.metrics
            if m.classification == core.REGRESSION}


def test_slower_product_detail_regresses_that_endpoint_and_browse_only(make_run):
    # GIVEN a baseline and a candidate whose product detail is 30 ms slower
    base = make_run("base", seed=1)
    cand = make_run("cand", seed=2, slow_ms={DETAIL: 30.0})
    # WHEN compared
    report = cmp.compare_run_dirs(base, cand, n_boot=200)
    found = regressions(report)
    # THEN the endpoint and the browse journey regressed, in both stages; checkout and the other
    # endpoints did not
    for stage in ("100%", "200%"):
        assert (stage, "endpoint", DETAIL, "p50_ms") in found
        assert (stage, "journey", "browse", "p50_ms") in found
    names = {name for _, kind, name, _ in found if kind != "scope"}
    assert names == {DETAIL, "browse"}, found
    assert report.comparison.regressed and report.verdict == "regression"


def test_a_a_run_directories_do_not_regress(make_run):
    for seed in range(0, 6, 2):
        report = cmp.compare_run_dirs(make_run(f"a{seed}", seed=seed), make_run(f"b{seed}", seed=seed + 1))
        assert not report.comparison.regressed, regressions(report)
        assert report.verdict == "no regression"


def test_memory_growth_from_results_is_compared(make_run):
    report = cmp.compare_run_dirs(make_run("base", seed=1), make_run("leak", seed=2, growth=(5e8, 4.8e8, 5.2e8)))
    memory = [m for m in report.comparison.metrics if m.metric == "growth_bytes_per_hour"]
    assert len(memory) == 1 and memory[0].classification == core.REGRESSION


def test_memory_growth_without_results_is_the_memory_analysis_own_figure(make_run):
    run = make_run("nomem", seed=1, growth=None)
    rows = ["t_s,pid,role,rss_bytes,uss_bytes,cpu_percent,num_threads,num_fds"]
    for i in range(600):  # 0.36 GB/h on the shop, a flat gateway simulator and a generator: not the platform
        t = 1_764_349_200 + i
        rows += [f"{t},1,shop,{int(80e6 + 1e5 * i)},,1,1,1", f"{t},2,gateway,{int(60e6 + 1e6 * i)},,1,1,1",
                 f"{t},3,generator,{int(1e9 + 1e7 * i)},,1,1,1"]
    (run / "samples.csv").write_text("\n".join(rows) + "\n")
    growth = cmp.read_growth(run, None)
    assert growth.growth_bytes_per_hour == pytest.approx(0.36e9, rel=0.01)
    memory = memory_results(run)
    assert (growth.growth_bytes_per_hour, growth.ci_low, growth.ci_high) == (
        memory["growth_bytes_per_hour"], memory["ci_low"], memory["ci_high"])


def test_fingerprint_mismatch_is_flagged_and_revision_is_expected(make_run):
    base = make_run("base", seed=1)
    cand = make_run("cand", seed=2, manifest={"host": {"cpu_model": "EPYC"}, "git_revision": "def5678",
                                             "versions": {"locust": "2.40.0"}})
    report = cmp.compare_run_dirs(base, cand, n_boot=200)
    fields = {m.field: m for m in report.mismatches}
    assert set(fields) == {"cpu_model", "git_revision", "locust"}
    assert fields["git_revision"].expected and not fields["cpu_model"].expected
    assert report.environment_differs
    assert report.verdict == "no regression (environments differ: cpu_model, locust)"
    same_env = cmp.compare_run_dirs(base, make_run("rev", seed=3, manifest={"git_revision": "999"}), n_boot=200)
    assert not same_env.environment_differs and same_env.verdict == "no regression"


def test_fingerprint_covers_the_profile_content_and_faults():
    manifest = {"profile": {"name": "smoke", "content": {"a": 1}}, "faults": "healthy",
                "host": {"cpu_model": "X", "cores": 2}, "versions": {"python": "3.11.7"}}
    changed = {**manifest, "profile": {"name": "smoke", "content": {"a": 2}}, "faults": "leak"}
    fields = {m.field for m in cmp.fingerprint_mismatches(cmp.fingerprint(manifest), cmp.fingerprint(changed))}
    assert fields == {"profile_hash", "faults"}
    assert cmp.fingerprint({})["cpu_model"] == "?"


def test_cannot_compare_says_why(make_run, tmp_path):
    base = make_run("base", seed=1)
    with pytest.raises(cmp.CannotCompare, match="does not exist"):
        cmp.compare_run_dirs(base, tmp_path / "nowhere", n_boot=200)
    other = make_run("other", seed=2, stages=(("warmup", 1.0),))
    with pytest.raises(cmp.CannotCompare, match=r"incompatible stages: baseline \['100%', '200%'\]"):
        cmp.compare_run_dirs(base, other, n_boot=200)
    renamed = make_run("renamed", seed=3, endpoints={"GET /elsewhere": 10.0})
    (renamed / "journeys.csv").unlink()
    with pytest.raises(cmp.CannotCompare, match="no endpoint or journey appears in both runs"):
        cmp.compare_run_dirs(base, renamed, n_boot=200)
    broken = make_run("broken", seed=4)
    (broken / "requests.csv").write_text("t_s,stage\n1,100%\n")
    with pytest.raises(cmp.CannotCompare, match=r"requests.csv:1: missing column\(s\) in_ramp, name"):
        cmp.compare_run_dirs(base, broken, n_boot=200)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(cmp.CannotCompare, match="requests.csv: missing"):
        cmp.compare_run_dirs(base, empty, n_boot=200)
    bad_json = make_run("badjson", seed=5)
    (bad_json / "manifest.json").write_text("{")
    with pytest.raises(cmp.CannotCompare, match="manifest.json: not valid JSON"):
        cmp.compare_run_dirs(base, bad_json, n_boot=200)


def test_ramp_rows_are_left_out(make_run, tmp_path):
    base = make_run("base", seed=1, ramp_s=0.0)
    groups = cmp.read_groups(base)
    ramped = cmp.read_groups(make_run("ramped", seed=1, ramp_s=10.0))
    key = core.GroupKey("100%", "endpoint", DETAIL)
    assert groups[key].t_s.size > ramped[key].t_s.size > 0
    assert core.GroupKey("100%", "scope", cmp.SCOPE_API) in groups
    dropped = groups[core.GroupKey("100%", "journey", "visit")]
    assert dropped.ok.tolist() == [False] and dropped.t_s.size == 1  # timed at its intended arrival


def test_json_markdown_and_junit_outputs(make_run):
    report = cmp.compare_run_dirs(make_run("base", seed=1),
                                  make_run("cand", seed=2, slow_ms={DETAIL: 30.0},
                                           manifest={"host": {"cores": 8}}))
    data = json.loads(json.dumps(cmp.to_json(report), allow_nan=False))
    assert data["regressed"] is True and data["counts"]["regression"] == len(regressions(report))
    assert data["fingerprint_mismatches"][0]["field"] == "cores"
    row = next(m for m in data["metrics"] if m["name"] == DETAIL and m["metric"] == "p95_ms")
    assert row["ci"][0] > row["threshold"] and "regression" in row["explanation"]

    markdown = cmp.render_markdown(report)
    assert "**regression (environments differ: cores)" in markdown
    assert f"| 100% | endpoint {DETAIL} | p50_ms |" in markdown

    root = ET.fromstring(cmp.render_junit(report))
    suite = root.find("testsuite")
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert int(suite.get("failures")) == len(failures) == len(regressions(report))
    assert int(suite.get("tests")) == len(report.comparison.metrics) + 1
    env = next(c for c in suite.iter("testcase") if c.get("name") == "fingerprint")
    assert env.find("failure") is None and "cores: 2 -> 8" in env.find("system-out").text
    strict = ET.fromstring(cmp.render_junit(report, strict=True)).find("testsuite")
    assert next(c for c in strict.iter("testcase") if c.get("name") == "fingerprint").find("failure") is not None


def test_golden_runs_compare_when_present(tmp_path):
    # The reports area's golden runs are real contract examples; compare one with itself.
    from pathlib import Path
    golden = Path(__file__).parents[1] / "golden" / "step-300-leak"
    if not (golden / "requests.csv").exists():
        pytest.skip("tests/golden/step-300-leak is not there")
    copy = shutil.copytree(golden, tmp_path / "copy")
    report = cmp.compare_run_dirs(golden, copy, n_boot=100)
    assert not report.comparison.regressed and not report.mismatches
