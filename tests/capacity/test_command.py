"""`harness capacity`: bad flags are refused naming the flag; the shell's pieces on real files;
one short real search on the embedded platform (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness.capacity import capacity_targets_text, gateway_time_share, knee_png, probe_profile_text
from harness.cli import main
from harness.core import capacity as core
from harness.profile import load_profile, parse_profile
from harness.verdicts import load_targets

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
    text, ids = capacity_targets_text(ROOT / "targets.toml")
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


@pytest.mark.slow
def test_a_short_real_search_on_the_embedded_platform(tiny_profile: Path, tmp_path: Path) -> None:
    out = tmp_path / "cap"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "capacity", "--profile", str(tiny_profile), "--probe-s", "8",
         "--max-minutes", "1", "--step", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "capacity.json").read_text())
    assert result["status"] == "finished" and result["stop"]["reason"] in ("budget", "converged", "generator-bound")
    assert result["probes"], "no probe ran"
    first = result["probes"][0]
    assert first["journeys_per_s"] == pytest.approx(2.0) and first["phase"] == "stage-up"
    probe_dir = out / first["run_dir"]
    assert (probe_dir / "manifest.json").is_file() and (probe_dir / "requests.csv").is_file()
    judged = json.loads((probe_dir / "results.json").read_text())
    assert {t["id"] for t in judged["targets"]} == set(result["targets"])  # judged by the chosen targets only
    assert first["observation"]["achieved_journeys_per_s"] > 0
    assert first["observation"]["p95_ms"] > 0
    assert result["capacity_journeys_per_s"] is not None or result["capacity_interval_journeys_per_s"][1] is not None
    assert (out / "knee.png").read_bytes().startswith(b"\x89PNG")
    assert "capacity:" in proc.stdout and "headroom:" in proc.stdout
    assert proc.returncode == (0 if result["headroom"]["within"] else 1)
