"""results.json against its JSON Schema (docs/results.schema.json, the contract with its readers):
the schema itself, every committed golden run, results re-derived from each golden run's raw files,
a tiny synthetic run (the null paths), a fresh campaign on the embedded platform, and results that
must not validate."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from harness.measure.judge import judge_run

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "docs" / "results.schema.json"
GOLDEN = REPO / "tests" / "golden"
GOLDEN_RESULTS = sorted(GOLDEN.glob("*/results.json"))


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema) -> Draft202012Validator:
    return Draft202012Validator(schema)


def schema_errors(validator: Draft202012Validator, results: dict) -> list[str]:
    """Every violation as ``$.json.path: message``, sorted (empty when results is valid)."""
    return sorted(f"{error.json_path}: {error.message}" for error in validator.iter_errors(results))


def assert_valid(validator: Draft202012Validator, results: dict, what: str) -> None:
    errors = schema_errors(validator, results)
    assert not errors, f"{what} does not match {SCHEMA_PATH.name}:\n" + "\n".join(errors[:20])


def assert_complete(schema: dict, results: dict, what: str) -> None:
    """Freshly derived results carry every top-level key the schema names (the schema keeps a few
    optional only so that results derived by an older harness still validate)."""
    missing = sorted(set(schema["properties"]) - set(results))
    assert not missing, f"{what} lacks top-level keys the schema names: {missing}"


def test_the_schema_is_a_valid_draft_2020_12_schema(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_there_are_golden_runs_to_check():
    assert len(GOLDEN_RESULTS) >= 2, f"no golden results.json under {GOLDEN}"


@pytest.mark.parametrize("path", GOLDEN_RESULTS, ids=lambda p: p.parent.name)
def test_every_golden_results_json_validates(validator, path):
    assert_valid(validator, json.loads(path.read_text(encoding="utf-8")), str(path.relative_to(REPO)))


@pytest.mark.parametrize("name", [p.parent.name for p in GOLDEN_RESULTS])
def test_results_re_derived_from_a_golden_runs_raw_files_validate(schema, validator, tmp_path, name):
    run_dir = shutil.copytree(GOLDEN / name, tmp_path / name)  # never derive inside tests/golden
    results = judge_run(run_dir, write=True)
    written = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert written == results
    assert_valid(validator, written, f"results re-derived from tests/golden/{name}")
    assert_complete(schema, written, f"results re-derived from tests/golden/{name}")


def test_a_tiny_synthetic_runs_results_validate(schema, validator, tmp_path):
    """A stage too short for intervals, and a manifest still saying running: the nulls and the
    invalid verdict paths."""
    from tests.analysis.synthetic import Behaviour, Stage, write_run

    run_dir = write_run(tmp_path / "run", [Stage("100%", 1.0, duration_s=3.0, ramp_s=1.0, journeys_per_s=2.0)],
                        Behaviour(end_reason="running"))
    # judged against the golden run's copy of the documented targets: every scope kind
    results = judge_run(run_dir, GOLDEN / "step-300-leak" / "targets.toml", write=False)
    assert results["verdict"] == "invalid"
    assert_valid(validator, json.loads(json.dumps(results)), "a tiny synthetic run's results")
    assert_complete(schema, results, "a tiny synthetic run's results")


@pytest.mark.slow
def test_a_fresh_campaigns_results_json_validates(schema, validator, two_worker_run):
    """The smoke campaign on the embedded platform (shared with tests/campaign, see tests/conftest.py)."""
    out, result = two_worker_run
    path = out / "results.json"
    assert path.is_file(), f"the campaign wrote no results.json:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    results = json.loads(path.read_text(encoding="utf-8"))
    assert_valid(validator, results, "a fresh campaign's results.json")
    assert_complete(schema, results, "a fresh campaign's results.json")
    # the run scraped the shop's /metrics, so the platform blocks are objects, not null
    assert isinstance(results["platform_cache"], dict) and isinstance(results["platform_time"], dict)


@pytest.fixture(scope="module")
def golden_results() -> dict:
    return json.loads((GOLDEN / "step-300-leak" / "results.json").read_text(encoding="utf-8"))


def _broken(results: dict, change) -> dict:
    results = copy.deepcopy(results)
    change(results)
    return results


@pytest.mark.parametrize(("change", "named"), [
    (lambda r: r.pop("verdict"), "'verdict' is a required property"),
    (lambda r: r["stages"][0]["requests"].update(p95_ms="fast"), "$.stages[0].requests.p95_ms: 'fast' is not of type"),
    (lambda r: r["stages"][0]["api"].pop("availability"), "$.stages[0].api: 'availability' is a required property"),
    (lambda r: r["targets"][0].update(status="passed"), "$.targets[0].status: 'passed' is not one of"),
    (lambda r: r.update(end_reason="finished"), "$.end_reason: 'finished' is not one of"),
    (lambda r: r["memory"].update(growth_bytes_per_hour="0.4 GB/h"), "$.memory"),
    (lambda r: r["memory"].pop("ci_low"), "$.memory"),
    (lambda r: r.update(surprise=1), "'surprise' was unexpected"),
    (lambda r: r.update(end_reason="interrupted"), "$.verdict: 'interrupted' was expected"),
], ids=["missing-verdict", "p95-not-a-number", "missing-availability", "unknown-status", "unknown-end-reason",
        "memory-growth-a-string", "memory-missing-ci-low", "unknown-top-level-key", "interrupted-but-fail"])
def test_broken_results_fail_naming_the_field(validator, golden_results, change, named):
    errors = schema_errors(validator, _broken(golden_results, change))
    assert errors, "the broken results validated"
    assert any(named in error for error in errors), errors


def test_memory_may_gain_fields_but_not_lose_its_core(validator, golden_results):
    extended = _broken(golden_results, lambda r: r["memory"].update(undecided_reason=None, new_detail={"a": 1}))
    assert schema_errors(validator, extended) == []
    assert schema_errors(validator, _broken(golden_results, lambda r: r.update(memory=None))) == []
