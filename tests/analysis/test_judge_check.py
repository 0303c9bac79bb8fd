"""judge_run, exit codes, the repository's targets.toml and `harness check`."""

import json

import pytest

from harness.cli import main
from harness.measure.judge import DEFAULT_TARGETS, exit_code_for, judge_run
from harness.measure.verdicts import load_targets
from tests.analysis.synthetic import Behaviour, Stage, write_run

# every row of the table in docs/targets.md
DOCUMENTED_IDS = {"api-mean", "api-p95", "load-300-degradation", "load-300-availability", "availability",
                  "memory-growth", "data-sync-lag", "unionpay-timeouts", "payment-success",
                  "registration-completion", "detail-page-images", "cache-miss-root-cause", "telemetry-latency"}
LENIENT = '''[[target]]
id = "api-p95"
expr = "p95 <= 2.1s"
scope = "api"
source = "000 ch.2"
'''
STRICTER = LENIENT.replace("2.1s", "20ms")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    stages = [Stage("100%", 1.0, journeys_per_s=8.0, duration_s=40.0, ramp_s=5.0),
              Stage("300%", 3.0, journeys_per_s=24.0, duration_s=40.0, ramp_s=5.0)]
    return write_run(tmp_path_factory.mktemp("judge") / "run", stages)


def test_repository_targets_cover_every_documented_row():
    targets = {t.id: t for t in load_targets(DEFAULT_TARGETS)}
    assert DOCUMENTED_IDS <= set(targets)
    assert "lost-or-duplicated-payments" in targets
    for target in targets.values():
        assert target.source and target.description
    # interim figures are warning levels
    assert targets["api-p95"].warn.threshold.value == 1200.0 and targets["api-p95"].expr.threshold.value == 2100.0
    assert targets["api-mean"].warn.threshold.value == 1500.0
    assert targets["payment-success"].warn.threshold.value == pytest.approx(0.992)


def test_judge_run_writes_results_with_every_target(run_dir):
    results = judge_run(run_dir)
    stored = json.loads((run_dir / "results.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert stored == results
    assert not list(run_dir.glob(".*tmp"))
    by_id = {t["id"]: t for t in results["targets"]}
    assert DOCUMENTED_IDS <= set(by_id)
    for entry in results["targets"]:
        assert set(entry) >= {"id", "status", "measured", "ci_low", "ci_high", "threshold", "unit", "n",
                              "source", "explanation", "severity"}
        assert entry["status"] in ("pass", "warn", "fail", "unknown", "error")
    for later in ("memory-growth", "cache-miss-root-cause", "telemetry-latency", "lost-or-duplicated-payments",
                  "data-sync-consistency"):
        assert by_id[later]["status"] == "unknown", by_id[later]
    assert by_id["api-p95"]["status"] == "pass"
    assert by_id["load-300-degradation"]["status"] in ("pass", "warn")
    assert results["verdict"] == "pass"
    assert exit_code_for(results) == 0


def test_write_false_leaves_results_alone(run_dir, tmp_path):
    (run_dir / "results.json").write_text("{}")
    judge_run(run_dir, write=False)
    assert (run_dir / "results.json").read_text() == "{}"


def test_interrupted_run(tmp_path):
    run = write_run(tmp_path / "run", [Stage("100%", duration_s=20.0, ramp_s=2.0)], Behaviour(end_reason="interrupted"))
    results = judge_run(run)
    assert results["verdict"] == "interrupted"
    assert exit_code_for(results) == 130


def test_invalid_run(tmp_path):
    run = write_run(tmp_path / "run", [Stage("100%", duration_s=20.0, ramp_s=2.0)],
                    Behaviour(generator_cpu_percent=99.0))
    results = judge_run(run)
    assert results["verdict"] == "invalid"
    assert exit_code_for(results) == 2


@pytest.mark.parametrize(("verdict", "code"), [("pass", 0), ("fail", 1), ("invalid", 2), ("interrupted", 130),
                                               (None, 2)])
def test_exit_codes(verdict, code):
    assert exit_code_for({"verdict": verdict}) == code


def test_check_exit_code_changes_with_a_stricter_targets_file(run_dir, tmp_path, capsys):
    lenient, stricter = tmp_path / "lenient.toml", tmp_path / "stricter.toml"
    lenient.write_text(LENIENT)
    stricter.write_text(STRICTER)
    (run_dir / "results.json").write_text('{"kept": true}')
    assert main(["check", str(run_dir), "--targets", str(lenient)]) == 0
    assert main(["check", str(run_dir), "--targets", str(stricter)]) == 1
    out = capsys.readouterr().out
    assert "api-p95" in out and "fail" in out and "breaks <= 20.0 ms" in out
    assert json.loads((run_dir / "results.json").read_text()) == {"kept": True}
    assert main(["check", str(run_dir), "--targets", str(stricter), "--write"]) == 1
    assert json.loads((run_dir / "results.json").read_text())["verdict"] == "fail"


def test_check_strict_turns_warn_into_fail(run_dir, tmp_path):
    # a threshold inside the P95 interval straddles: warn (exit 0), strict: fail (exit 1)
    results = judge_run(run_dir, write=False)
    p95 = next(s for s in results["stages"] if s["name"] == "100%")["api"]["p95_ms"]
    straddling = tmp_path / "straddling.toml"
    straddling.write_text(LENIENT.replace("2.1s", f"{p95:.3f}ms"))
    assert main(["check", str(run_dir), "--targets", str(straddling)]) == 0
    assert main(["check", str(run_dir), "--targets", str(straddling), "--strict"]) == 1


def test_check_names_a_bad_targets_file_and_line(run_dir, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(LENIENT.replace('scope = "api"', 'scope = "api"\nstage = 3'))
    assert main(["check", str(run_dir), "--targets", str(bad)]) == 2
    assert f"{bad}:5: target api-p95: stage must be a string" in capsys.readouterr().err


def test_check_refuses_what_is_not_a_run_directory(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_documented_problem_state_fails_payment_and_latency_with_one_line_reasons(tmp_path):
    # the "before" column of targets.md: P95 ~3.2 s, payment success ~91%, timeouts ~17%
    problems = Behaviour(paid_rate=0.83, timeout_rate=0.17, registered_rate=0.68, sms_reentry_rate=0.28)
    stages = [Stage("100%", 1.0, journeys_per_s=10.0, duration_s=60.0, median_ms=1800.0)]
    results = judge_run(write_run(tmp_path / "run", stages, problems), write=False)
    by_id = {t["id"]: t for t in results["targets"]}
    for failing in ("api-p95", "api-mean", "payment-success", "unionpay-timeouts", "registration-completion"):
        assert by_id[failing]["status"] == "fail", by_id[failing]["explanation"]
        assert "\n" not in by_id[failing]["explanation"]
    assert "payment_timeouts at 100%" in by_id["unionpay-timeouts"]["explanation"]
    assert results["verdict"] == "fail"
    assert exit_code_for(results) == 1
