"""junit.xml: one testcase per target, statuses mapped so CI reads them right."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest

from harness.report import JunitReport
from tests.report.conftest import GOLDEN


def _target(tid: str, status: str, scope: str = "api") -> dict:
    return {"id": tid, "status": status, "scope": scope, "explanation": f"{status}: why {tid}",
            "measured": 1.0, "ci_low": 0.5, "ci_high": 1.5, "threshold": 1.0, "unit": "ms", "n": 10, "source": "000"}


def _suite(results: dict, manifest: dict | None = None) -> ET.Element:
    buffer = io.StringIO()
    JunitReport.from_results(results, manifest or {"started_at": "2026-11-28T17:00:00Z"}).render(buffer)
    return ET.fromstring(buffer.getvalue())  # a real parser: the document must be well-formed


def test_each_status_maps_to_its_junit_element():
    # GIVEN one target of each status
    results = {"run_id": "r1", "verdict": "fail", "targets": [
        _target("t-pass", "pass"), _target("t-fail", "fail"), _target("t-warn", "warn", "business"),
        _target("t-unknown", "unknown", "memory"), _target("t-error", "error", "stage:500%")]}
    # WHEN rendered
    suite = _suite(results)
    # THEN
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["t-pass", "t-fail", "t-warn", "t-unknown", "t-error"]
    assert list(cases["t-pass"]) == []
    assert cases["t-fail"].find("failure").get("message") == "fail: why t-fail"
    assert cases["t-fail"].find("failure").text == "fail: why t-fail"
    assert cases["t-error"].find("error") is not None
    assert cases["t-unknown"].find("skipped") is not None
    warn = cases["t-warn"]
    assert warn.find("failure") is None and warn.find("error") is None  # warn passes...
    assert warn.find("properties/property[@name='status']").get("value") == "warn"  # ...visibly
    assert "why t-warn" in warn.find("system-out").text
    assert cases["t-warn"].get("classname") == "targets.business"
    assert cases["t-error"].get("classname") == "targets.stage.500%"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("5", "1", "1", "1")
    assert suite.get("timestamp") == "2026-11-28T17:00:00"


@pytest.mark.parametrize("verdict", ["invalid", "interrupted"])
def test_an_invalid_or_interrupted_run_cannot_look_green(verdict):
    suite = _suite({"run_id": "r1", "verdict": verdict, "invalid_reasons": ["generator dropped 3% of arrivals"],
                    "targets": [_target("t-pass", "pass")]})
    validity = suite.find("testcase[@name='run.validity']")
    assert validity is not None and "generator dropped 3% of arrivals" in validity.find("error").get("message")
    assert suite.get("errors") == "1"


def test_an_unexpected_status_is_an_error_not_a_pass():
    suite = _suite({"run_id": "r1", "verdict": "fail", "targets": [_target("odd", "maybe")]})
    assert suite.find("testcase/error").get("type") == "unexpected-status"


def test_explanations_with_markup_characters_stay_well_formed():
    target = _target("t-fail", "fail")
    target["explanation"] = 'p95 < 1.2s & "quoted" <tag> ]]> 技术'
    suite = _suite({"run_id": "r1", "verdict": "fail", "targets": [target]})
    assert suite.find("testcase/failure").text == 'p95 < 1.2s & "quoted" <tag> ]]> 技术'


@pytest.mark.parametrize("name", ["step-300-leak", "faults-interrupted"])
def test_golden_results_give_one_testcase_per_target(name):
    results = json.loads((GOLDEN / name / "results.json").read_text())
    manifest = json.loads((GOLDEN / name / "manifest.json").read_text())
    suite = _suite(results, manifest)
    names = [c.get("name") for c in suite.iter("testcase") if c.get("name") != "run.validity"]
    assert names == [t["id"] for t in results["targets"]]
    failing = sum(t["status"] == "fail" for t in results["targets"])
    assert int(suite.get("failures")) == failing


# --- one mapping for every JUnit file (report, compare, gate) -----------------------------------

EXPECTED_ELEMENT = {  # status -> (lenient, strict) child element of the testcase; None: it passes
    "pass": (None, None), "equivalent": (None, None), "improvement": (None, None),
    "warn": (None, "failure"), "fail": ("failure", "failure"), "regression": ("failure", "failure"),
    "unknown": ("skipped", "skipped"), "inconclusive": ("skipped", "failure"),
    "error": ("error", "error"), "unmatched": ("error", "error"), "invalid": ("error", "error"),
    "interrupted": ("error", "error"), "maybe": ("error", "error"),
}
CHILDREN = ("failure", "error", "skipped")


def _child(case: ET.Element) -> str | None:
    found = [tag for tag in CHILDREN if case.find(tag) is not None]
    assert len(found) <= 1, found
    return found[0] if found else None


@pytest.mark.parametrize("status", list(EXPECTED_ELEMENT))
def test_one_mapping_of_status_to_junit_element(status):
    from harness.report import junit

    lenient, strict = EXPECTED_ELEMENT[status]
    assert junit.junit_element(status) == lenient
    assert junit.junit_element(status, strict=True) == strict
    assert _child(junit.testcase("t", "c", status, "why")) == lenient


def test_report_gate_and_compare_map_target_and_metric_statuses_alike():
    import math
    from types import SimpleNamespace

    from harness.core import compare as core
    from harness.flows import compare as comparison
    from harness.flows import gate as gating

    statuses = ["pass", "warn", "fail", "unknown", "error", "unmatched", "maybe"]
    results = {"run_id": "r1", "verdict": "fail", "targets": [_target(f"t-{s}", s) for s in statuses]}
    for strict in (False, True):
        # the run's junit.xml (never strict: its statuses were judged already) and the gate's targets suite
        report_cases = {c.get("name"): c for c in _suite(results).iter("testcase")}
        gate_cases = {c.get("name"): c for c in gating._target_cases(results, strict)}
        for status in statuses:
            assert _child(report_cases[f"t-{status}"]) == EXPECTED_ELEMENT[status][0], status
            assert _child(gate_cases[f"t-{status}"]) == EXPECTED_ELEMENT[status][strict], (status, strict)
        # the error target is an <error> everywhere, never a skip
        assert gate_cases["t-error"].find("error") is not None
        # compare: classifications of metrics (a strict inconclusive fails only when it could regress)
        metrics = [core.MetricComparison(core.GroupKey("100%", "endpoint", f"GET /{c}"), "p95_ms", 100.0, 130.0,
                                         30.0, (-2.0, 60.0), 0.3, (-0.02, 0.6), 10.0, 70.0, c, 500, 500)
                   for c in (core.REGRESSION, core.IMPROVEMENT, core.EQUIVALENT, core.INCONCLUSIVE)]
        report = SimpleNamespace(comparison=SimpleNamespace(metrics=metrics), mismatches=[])
        cases = {c.get("name").rsplit(" ", 1)[0]: c for c in comparison.junit_cases(report, strict=strict)}
        for m in metrics:
            assert _child(cases[m.key.name]) == EXPECTED_ELEMENT[m.classification][strict], (m.classification, strict)
        suite = ET.fromstring(comparison.junit_xml({"s": list(cases.values())})).find("testsuite")
        assert suite.get("failures") == str(1 + strict) and suite.get("skipped") == str(1 - strict)
        assert math.isfinite(float(suite.get("tests")))


def test_gate_targets_suite_says_an_invalid_run_is_an_error():
    from harness.flows import gate as gating

    cases = gating._target_cases({"verdict": "invalid", "invalid_reasons": ["rate not achieved"],
                                  "targets": [_target("t-pass", "pass")]}, False)
    assert [c.get("name") for c in cases] == ["run.validity", "t-pass"]
    assert "rate not achieved" in cases[0].find("error").get("message")
