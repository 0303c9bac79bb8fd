"""`harness capacity`: bad flags are refused naming the flag; the shell's pieces on real files;
one short real search on the embedded platform (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness.cli import main
from harness.config.profile import load_profile, parse_profile
from harness.core import capacity as core
from harness.flows.capacity import capacity_targets_text, gateway_time_share, probe_profile_text
from harness.measure.verdicts import load_targets
from harness.report.capacity_report import knee_png

ROOT = Path(__file__).resolve().parents[2]

TINY_PROFILE = """
[profile]
name = "tiny"
nominal_journeys_per_s = 2.0
max_concurrent_journeys = 60
journey_timeout_s = 15.0
time_scale = 0.25
seed = 1
mix = "{mix}"
drain_s = 3.0

[[stages]]
load_factor = 1.0
duration_s = 10.0
ramp_s = 2.0
"""


@pytest.fixture
def tiny_profile(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_PROFILE.format(mix=ROOT / "scenarios" / "mix.toml"), encoding="utf-8")
    return path


@pytest.mark.parametrize(("flags", "named"), [
    (["--max-minutes", "0"], "--max-minutes"),
    (["--max-minutes", "nan"], "--max-minutes"),
    (["--probe-s", "2"], "--probe-s"),
    (["--step", "1"], "--step"),
    (["--start", "-1"], "--start"),
    (["--resolution", "0"], "--resolution"),
    (["--workers", "-1"], "--workers"),
    (["--platform-workers", "0"], "--platform-workers"),
    (["--targets", "no-such-targets.toml"], "--targets"),
    (["--faults", "no-such-faults.toml"], "--faults"),
    (["--target", "http://192.0.2.1:80"], "--target"),
    (["--target", "ftp://127.0.0.1"], "--target"),
])
def test_a_bad_flag_is_refused_naming_it(flags: list[str], named: str, tiny_profile: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    code = main(["capacity", "--profile", str(tiny_profile), "--out", str(tmp_path / "cap"), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert named in err
    assert not (tmp_path / "cap" / "capacity.json").exists()


def test_a_missing_profile_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["capacity", "--profile", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


def test_platform_flags_with_a_target_are_refused(tiny_profile: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["capacity", "--profile", str(tiny_profile), "--target", "http://127.0.0.1:9",
                 "--platform-workers", "2"]) == 2
    assert "--platform-workers" in capsys.readouterr().err


def test_targets_without_a_per_stage_target_are_refused(tmp_path: Path, tiny_profile: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    targets = tmp_path / "t.toml"
    targets.write_text('[[target]]\nid = "m"\nexpr = "growth <= 0.1GB/h"\nscope = "memory"\nsource = "x"\n')
    assert main(["capacity", "--profile", str(tiny_profile), "--targets", str(targets),
                 "--out", str(tmp_path / "c")]) == 2
    assert "--targets" in capsys.readouterr().err


def test_the_chosen_targets_are_per_stage_and_parse(tmp_path: Path) -> None:
    text, ids = capacity_targets_text(ROOT / "profiles" / "targets.toml")
    path = tmp_path / "capacity-targets.toml"
    path.write_text(text, encoding="utf-8")
    targets = load_targets(path)  # the verdict machinery accepts the rewritten file
    assert [t.id for t in targets] == ids
    assert "api-p95" in ids and "availability" in ids
    assert "load-300-degradation" not in ids and "memory-growth" not in ids
    assert all(t.stage == "each" and t.load is None and t.warn is None for t in targets)


def test_a_probe_profile_holds_one_rate(tiny_profile: Path, tmp_path: Path) -> None:
    base = load_profile(tiny_profile)
    text = probe_profile_text(base, "03-5.00jps", 5.0, probe_s=20.0, ramp_s=4.0, drain_s=10.0)
    probe = parse_profile(tomllib.loads(text), "probe.toml")
    assert [s.name for s in probe.stages] == ["03-5.00jps"]
    assert probe.timeline()[0].journeys_per_s == pytest.approx(5.0)
    assert probe.stages[0].duration_s == 20.0 and probe.stages[0].ramp_s == 4.0
    assert probe.drain_s == 3.0  # the base's shorter drain is kept
    assert probe.time_scale == base.time_scale and probe.mix == base.mix


def test_a_probe_keeps_the_base_profile_s_ceiling_and_abort_conditions(tmp_path: Path) -> None:
    path = tmp_path / "guarded.toml"
    path.write_text(TINY_PROFILE.format(mix=ROOT / "scenarios" / "mix.toml").replace(
        "[profile]", "[profile]\nmax_requests_per_s = 40", 1)
        + "\n[abort]\nerror_ratio = { above = 0.05, for_s = 10 }\nhealth_failures = 3\n", encoding="utf-8")
    base = load_profile(path)
    probe = parse_profile(tomllib.loads(probe_profile_text(base, "p", 5.0, probe_s=20.0, ramp_s=4.0, drain_s=10.0)),
                          "probe.toml")
    assert probe.max_requests_per_s == 40
    assert probe.abort == base.abort and probe.abort.error_ratio is not None and probe.abort.health_failures == 3


def test_gateway_share_is_time_weighted() -> None:
    endpoints = [{"name": "GET /api/cart", "count": 90, "mean_ms": 10.0},
                 {"name": "POST /gateway/cashier/confirm", "count": 10, "mean_ms": 90.0}]
    assert gateway_time_share(endpoints) == pytest.approx(0.5)
    assert gateway_time_share([]) is None


def test_the_knee_chart_renders(tmp_path: Path) -> None:
    probes = []
    for rate, p95, passed in ((2.0, 300.0, True), (3.0, 900.0, True), (4.5, 4000.0, False)):
        obs = core.ProbeObservation(rate, rate * 0.98, targets=(core.TargetOutcome(
            "api-p95", "pass" if passed else "fail", "api", p95, 2100.0, "ms"),), p50_ms=p95 / 4, p95_ms=p95,
            p99_ms=p95 * 1.4)
        probes.append(core.Probe(rate, "stage-up", obs, core.judge_probe(obs)))
    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=100.0)
    summary = core.summarize(config, probes, core.Stop("budget", "x"), cores=2)
    png = knee_png(probes, summary)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert knee_png(probes, summary) == png  # reproducible bytes


def _search_body() -> dict:
    """A finished search's capacity.json body, built the way the shell builds it."""
    from dataclasses import asdict

    probes, records = [], []
    for index, (rate, p95, passed) in enumerate(((2.0, 300.0, True), (4.0, 900.0, True), (8.0, 4000.0, False)), 1):
        obs = core.ProbeObservation(rate, rate * 0.98, targets=(core.TargetOutcome(
            "api-p95", "pass" if passed else "fail", "api", p95, 2100.0, "ms", "P95 <b>slow</b>"),),
            p50_ms=p95 / 4, p95_ms=p95, p99_ms=p95 * 1.4, platform_cpu_percent={"shop": 20.0 * rate},
            p95_ci_ms=(p95 * 0.9, p95 * 1.1),
            db_time_share=0.01 * rate, scheduled_arrivals=int(rate * 25))
        probe = core.Probe(rate, "stage-up", obs, core.judge_probe(obs))
        probes.append(probe)
        records.append({"index": index, "journeys_per_s": rate, "phase": "stage-up", "run_dir": f"probes/{index:02d}",
                        "observation": asdict(obs), "judgement": asdict(probe.judgement)})
    records.append({"index": 4, "journeys_per_s": 5.66, "phase": "bisect", "run_dir": "probes/04",
                    "end_reason": "error"})
    config = core.SearchConfig(nominal_journeys_per_s=2.0, budget_s=100.0)
    summary = core.summarize(config, probes, core.Stop("budget", "the budget ran out"), cores=2)
    return {**summary, "kind": "capacity", "sentences": core.describe(summary), "probes": records,
            "targets": ["api-p95"], "cores": 2, "status": "finished", "profile": {"path": "profiles/x.toml"},
            "probe_s": 30.0}


def test_the_capacity_report_says_what_capacity_json_says() -> None:
    """capacity.md/.html from a capacity.json body: the sentences, the facts, one row per probe
    (a probe that could not be judged too), markup in figures escaped."""
    from harness.report.capacity_report import capacity_html, capacity_markdown, probe_rows

    body = _search_body()
    body["probes"][1]["judgement"]["uncertain"] = ["payment-success"]  # the probe at the capacity, 4/s
    assert "| undecided at the capacity | payment-success: their 95% intervals straddle" in capacity_markdown(body)
    rows = probe_rows(body)
    assert [r["decision"] for r in rows] == ["pass", "pass", "BREAK: api-p95", "not judged (error)"]
    assert rows[2]["p95"] == "4000 ms (3600..4400)" and rows[2]["shop_cpu"] == "160%" and rows[2]["db_share"] == "8%"
    markdown = capacity_markdown(body)
    assert markdown.startswith("# Capacity search: 4 journeys/s (not confirmed)")
    assert "| first to break | api-p95 on api at 8 journeys/s" in markdown
    assert markdown.count("\n| ") >= 4 and "![knee chart](knee.png)" in markdown
    html = capacity_html(body, b"\x89PNG fake")
    assert "Capacity: 4 journeys/s (not confirmed)" in html and "data:image/png;base64," in html
    assert "P95 <b>slow</b>" not in html and "P95 &lt;b&gt;slow&lt;/b&gt;" in html  # escaped
    assert all(sentence.split(":")[0] in html for sentence in body["sentences"])


def test_harness_report_renders_a_capacity_search_again(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    body = json.loads(json.dumps(_search_body(), default=list))
    (tmp_path / "capacity.json").write_text(json.dumps(body))
    assert main(["report", str(tmp_path)]) == 0  # rendered (300% of nominal, 6/s, is not inside 4/s: said, not exited)
    out = capsys.readouterr().out
    assert "wrote" in out and "capacity: 4 journeys/s" in out
    assert (tmp_path / "knee.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "capacity.md").read_text().startswith("# Capacity search: 4 journeys/s")
    png = (tmp_path / "knee.png").read_bytes()
    assert main(["report", str(tmp_path)]) == 0 and (tmp_path / "knee.png").read_bytes() == png  # same bytes
    assert main(["report", str(tmp_path), "--strict"]) == 2
    assert "--targets and --strict re-judge a run" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "named"), [
    ("{", "capacity.json: cannot be read as JSON"),
    ('{"kind": "run"}', "capacity.json: not a capacity result"),
    ('{"kind": "capacity", "probes": []}', "capacity.json: malformed capacity result"),
])
def test_a_broken_capacity_json_is_named(text: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "capacity.json").write_text(text)
    assert main(["report", str(tmp_path)]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "capacity.md").exists()


def test_host_cpu_is_averaged_over_the_window_only() -> None:
    from harness.flows.capacity import HostCpu

    host = HostCpu(interval_s=1.0)
    host.readings = [(100.0, 10.0), (101.0, 90.0), (102.0, 80.0), (103.0, 20.0)]
    assert host.mean_between(100.0, 102.0) == pytest.approx(85.0)  # readings ending at 101 and 102
    assert host.mean_between(200.0, 300.0) is None


@pytest.mark.slow
def test_a_real_search_held_back_by_the_generator_is_a_lower_bound(tiny_profile: Path, tmp_path: Path) -> None:
    """A real search on the embedded platform (the one in the suite: each costs ~50 s). A
    concurrency cap of 6 visits: 4 journeys/s fits under it, 16 journeys/s cannot (Erlang's loss
    formula at the first probe's visit length), so the search stops there and says the capacity
    is a lower bound held back by the generator's setting, not the platform. Every probe is a
    run directory judged by the chosen targets; the search writes its chart and reports."""
    capped = tmp_path / "capped.toml"
    capped.write_text(tiny_profile.read_text().replace("max_concurrent_journeys = 60", "max_concurrent_journeys = 6"))
    out = tmp_path / "cap"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "capacity", "--profile", str(capped), "--probe-s", "10",
         "--start", "2", "--step", "4", "--max-minutes", "3", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    result = json.loads((out / "capacity.json").read_text())
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # 4/s does not show 300% (6/s)
    assert [p["journeys_per_s"] for p in result["probes"]] == [pytest.approx(4.0), pytest.approx(16.0)]
    assert result["stop"]["reason"] == "generator-bound" and result["lower_bound"]
    assert result["capacity_journeys_per_s"] == pytest.approx(4.0) and result["capacity_interval_journeys_per_s"][1] is None
    second = result["probes"][1]
    assert second["observation"]["dropped_arrivals"] > 0 and second["judgement"]["generator_bound"]
    assert any("max_concurrent_journeys (6) is too low" in r for r in second["judgement"]["generator_reasons"])
    assert result["saturation"]["resource"] == "generator" and result["saturation"]["lower_bound"]
    assert "LOWER BOUND" in proc.stdout and "at least 4 journeys/s" in proc.stdout and "headroom:" in proc.stdout
    first = result["probes"][0]
    assert first["phase"] == "stage-up" and first["observation"]["achieved_journeys_per_s"] > 0
    assert first["observation"]["p95_ms"] > 0 and first["observation"]["visit_mean_s"] > 0
    probe_dir = out / first["run_dir"]
    assert (probe_dir / "manifest.json").is_file() and (probe_dir / "requests.csv").is_file()
    judged = json.loads((probe_dir / "results.json").read_text())
    assert {t["id"] for t in judged["targets"]} == set(result["targets"])  # judged by the chosen targets only
    assert judged["platform_time"]["stages"][0]["request_s"] > 0  # the shop's own time was scraped
    assert (out / "knee.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "capacity.md").read_text().startswith("# Capacity search: at least 4 journeys/s")
    assert "data:image/png;base64," in (out / "capacity.html").read_text()
    assert first["report"] and (out / first["report"]).is_file()  # the capacity probe's report is rendered
    assert "report" not in result["probes"][1]  # the generator-bound one is no edge: results.json only
    assert not (out / result["probes"][1]["run_dir"] / "report.html").exists()
    assert "max_concurrent_journeys" in result["lower_bound_reason"]  # the reason names the cap
    png = (out / "knee.png").read_bytes()  # `harness report` draws the search's own chart again, byte for byte
    assert main(["report", str(out)]) == 0 and (out / "knee.png").read_bytes() == png


def test_a_remote_platform_s_cpu_comes_from_its_process_cpu_counter(tmp_path: Path) -> None:
    """A platform on another host (no sampled processes): each --metrics-url instance's CPU is the
    rate of its process_cpu_seconds_total over the steady part; a counter that went back (a
    restart) is left out rather than read as negative CPU."""
    from harness.flows.capacity import remote_platform_cpu

    rows = ["t_s,instance,scrape_ms,error,rss_bytes,cpu_seconds,start_time_s"]
    for second in range(0, 21):
        t_s = 1000.0 + second
        rows.append(f"{t_s},http://a/metrics,1.0,,1000,{100 + 0.5 * second},900")
        rows.append(f"{t_s},http://b/metrics,1.0,,1000,{50 + 0.25 * second},900")
        rows.append(f"{t_s},http://c/metrics,1.0,,1000,{50 - second},900")
    (tmp_path / "platform").mkdir()
    (tmp_path / "platform" / "remote_metrics.csv").write_text("\n".join(rows) + "\n")
    cpu, procs, busiest = remote_platform_cpu(tmp_path, {"start_t_s": 1000.0, "ramp_s": 5.0, "end_t_s": 1020.0})
    assert cpu["shop"] == pytest.approx(75.0) and procs == {"shop": 2} and busiest["shop"] == pytest.approx(50.0)
    assert remote_platform_cpu(tmp_path / "nothing", {"start_t_s": 0.0, "end_t_s": 1.0}) == ({}, {}, {})
