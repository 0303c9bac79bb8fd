"""What the report says: formatting, target rows, target lines, optional sections (pure)."""

from __future__ import annotations

import pytest

from harness.report import fmt, model, sections


@pytest.mark.parametrize(("value", "unit", "text"), [
    (87.123, "ms", "87.1 ms"), (1234.0, "ms", "1.23 s"), (300000.0, "ms", "5.0 min"), (1.5, "s", "1.50 s"), (0.99851, "ratio", "99.85%"),
    (99.9, "%", "99.90%"), (4.25e8, "bytes/h", "0.425 GB/h"), (3, "count", "3"), (None, "ms", "—"),
    (float("nan"), "ms", "—"), (2.5, "rps", "2.5 rps"),
])
def test_values_carry_their_unit(value, unit, text):
    assert fmt.with_unit(value, unit) == text


def test_statuses_differ_by_symbol_and_word_not_only_colour():
    labels = {s: fmt.status_label(s) for s in ("pass", "fail", "warn", "unknown", "error")}
    assert len(set(labels.values())) == 5
    assert {label.split()[0] for label in labels.values()} >= {"✔", "✘", "▲", "?", "!"}
    assert labels["fail"].endswith("FAIL")


def _target(**fields) -> dict:
    base = {"id": "t", "status": "pass", "measured": 100.0, "ci_low": 90.0, "ci_high": 110.0, "threshold": 1200.0,
            "unit": "ms", "n": 50, "source": "000 ch.2", "explanation": "pass: fine (000 ch.2)", "scope": "api",
            "stage": None, "expr": "p95 <= 1.2s"}
    base.update(fields)
    return base


def test_target_rows_are_worst_first_and_explain_without_repeating_the_source():
    results = {"targets": [_target(id="a"), _target(id="b", status="fail"), _target(id="c", status="unknown"),
                           _target(id="d", status="warn", warn="p95 <= 1s", warn_threshold=1000.0)]}
    rows = model.target_rows(results)
    assert [r["id"] for r in rows] == ["b", "d", "c", "a"]
    assert rows[-1]["explanation"] == "pass: fine"  # the source is shown on its own line
    assert rows[1]["threshold"] == "1.20 s (warn level 1.00 s)" and rows[1]["warn_expression"] == "p95 <= 1s"
    assert rows[-1]["interval"] == "[90.0 ms, 110 ms]"


def test_p95_target_lines_skip_differences_and_business_figures_and_keep_stage_scope():
    results = {"targets": [
        _target(id="api-p95", stage="100%", warn_threshold=1200.0, threshold=2100.0),
        _target(id="load-300-degradation", expr="p95[300%] - p95[100%] <= 20ms", threshold=20.0),
        _target(id="detail-page-images", scope="business", expr="product_page_p95 < 3s", threshold=3000.0),
        _target(id="load-300-availability", expr="availability >= 99.9%", unit="ratio", threshold=0.999,
                stage="300%"),
        _target(id="availability", expr="availability >= 99.8%", unit="ratio", threshold=0.998, stage="100%",
                explanation="fail: api availability at 100% = 97.99% (worst of 3 stages)"),
    ]}
    assert model.target_lines(results, "p95") == [("api-p95", 2100.0, "pass", "100%"),
                                                  ("api-p95 warn level", 1200.0, "warn", "100%")]
    assert model.target_lines(results, "availability") == [
        ("load-300-availability", pytest.approx(99.9), "pass", "300%"),
        ("availability", pytest.approx(99.8), "pass", None)]  # every stage, reported at its worst


def test_headline_lists_invalid_reasons_then_failing_targets():
    results = {"verdict": "invalid", "invalid_reasons": ["generator-bound at 300%"],
               "targets": [_target(id="x", status="fail", explanation="fail: too slow"), _target(id="y")]}
    head = model.headline(results, {"end_reason": "completed"})
    assert head["reasons"] == ["generator-bound at 300%", "x: fail: too slow"]
    assert head["verdict_text"].startswith("INVALID")


def test_a_pass_with_warnings_says_so():
    results = {"verdict": "pass", "targets": [_target(id="x", status="warn"), _target(id="y", status="unknown"),
                                              _target(id="z")]}
    head = model.headline(results, {"end_reason": "completed"})
    assert head["verdict_text"] == "PASS — no target missed"
    assert [r.split(":")[0] for r in head["reasons"]] == ["1 target(s) warn", "1 target(s) unknown"]


def test_business_rows_show_rates_and_p95s_with_interval_and_n():
    rows = dict(model._business_rows({
        "payment_success": {"rate": 0.9, "ci": [0.8, 0.95], "n": 40, "k": 36},
        "product_page_p95_ms": 450.0, "product_page_p95_ci_ms": [400.0, 500.0], "product_page_n": 60}))
    assert rows == {"payment success": "90.00% [80.00%, 95.00%], n=40",
                    "product page p95": "450 ms [400 ms, 500 ms], n=60"}


def test_fault_rows_say_when_what_and_how_it_recovered():
    t0 = 1000.0
    rows = sections.fault_rows([
        {"label": "17% timeouts", "target": "gateway", "action": None, "knobs": {"timeout_rate": 0.17},
         "start_t_s": 1033.0, "end_t_s": 1043.0, "availability_before": 1.0, "availability_during": 0.8,
         "availability_after": 0.99, "requests_before": 10, "requests_during": 20, "requests_after": 30,
         "recovered": True, "time_to_recover_s": 4.0, "availability_target": 0.99, "hold_s": 5,
         "errors_by_kind": {"timeout": 4}},
        {"label": "kill-worker", "target": "process", "action": "kill-worker", "start_t_s": 1040.0,
         "end_t_s": 1040.0, "recovered": False, "availability_after": None},
    ], t0)
    assert rows[0]["when"] == "33.0 s → 43.0 s" and rows[0]["what"] == "timeout_rate=0.17"
    assert rows[0]["during"] == "80.00% (n=20)" and rows[0]["recovery"] == "4.0 s"
    assert rows[0]["recovery_rule"] == "back ≥ 99.0% for 5 s"
    assert rows[1]["when"] == "40.0 s (instant)" and rows[1]["recovery"] == "not recovered before the run ended"


def test_reconciliation_lists_discrepancies_and_incomplete_runs_say_why():
    view = sections.reconciliation_view({"reconciliation": {
        "orders_checked": 40, "lost": 1, "duplicated": 0, "mismatched": 0, "settled": True, "settle_wait_s": 2.0,
        "details": [{"kind": "acknowledged_order_missing", "order_id": "o7", "detail": "platform has no such order"}]}})
    assert view["columns"] == ["kind", "order_id", "detail"] and view["rows"][0][1] == "o7"
    assert not view["clean"]
    incomplete = sections.reconciliation_view({"reconciliation": {
        "orders_checked": 0, "lost": None, "duplicated": None, "mismatched": None, "details": [],
        "error": "missing platform/orders-export.json"}})
    assert incomplete["error"] == "missing platform/orders-export.json" and not incomplete["clean"]
    assert ("lost", "not known") in incomplete["counts"]
    assert sections.reconciliation_view({"reconciliation": None}) is None


def test_memory_view_formats_growth_in_gb_per_hour_and_lists_sites():
    view = sections.memory_view({"memory": {
        "metric": "uss summed", "growth_bytes_per_hour": 4.2e8, "ci_low": 4.0e8, "ci_high": 4.4e8,
        "plateau": False, "warmup_s": 22.0, "duration_s": 97.0, "min_duration_s_to_detect_0_1GB_per_h": 45.4,
        "leak_sites": [{"function": "leak", "file": "shop.py", "line": 9, "live_bytes": 2e6,
                        "growth_bytes_per_hour": 3e8}], "flamegraph": "profiles/memray leaks.html"}})
    facts = dict(view["facts"])
    assert facts["growth"] == "0.420 GB/h   95% interval [0.400 GB/h, 0.440 GB/h]"
    assert facts["run length needed to tell 0.1 GB/h from zero at this noise"] == "45 s"
    assert view["sites"] == [{"function": "leak", "where": "shop.py:9", "live": "2.00 MB", "growth": "0.300 GB/h"}]
    assert view["flamegraph"] == "profiles/memray%20leaks.html"
    assert sections.memory_view({"memory": None}) is None
    assert view["memray_cost"] == []


def test_memory_view_shows_what_memray_cost_each_stretch_against_the_one_before_the_windows():
    cost = {"reference": "before the windows", "segments": [
        {"segment": "before the windows", "duration_s": 119.4, "requests_per_s": 37.5, "cpu_ms_per_request": 3.2},
        {"segment": "window 1", "duration_s": 60.0, "requests_per_s": 38.0, "cpu_ms_per_request": 6.4},
        {"segment": "between windows 1 and 2", "duration_s": 3300.0, "requests_per_s": 37.4,
         "cpu_ms_per_request": 3.3},
        {"segment": "window 2", "duration_s": 60.0, "requests_per_s": 37.0, "cpu_ms_per_request": None}],
        "vs_reference": {"window 1": 1.0, "between windows 1 and 2": 0.03125}}
    view = sections.memory_view({"memory": {"metric": "uss", "memray_windows": {"windows": [], "cost": cost}}})
    rows = view["memray_cost"]
    assert [r["segment"] for r in rows] == [s["segment"] for s in cost["segments"]]
    assert [r["versus"] for r in rows] == ["reference", "+100.0%", "+3.1%", "—"]
    assert rows[0]["duration"] == "119 s" and rows[2]["cpu"] != "—" and rows[3]["cpu"] == "—"


@pytest.mark.parametrize(("source", "short"), [
    ("000 ch.2 容量彈性不足: 「系統在300%負載下…」", "000 ch.2 容量彈性不足"),
    ("000 ch.2: 「技術指標:P95」; ch.5: 「…」", "000 ch.2"),
    ("targets.md and issue 3 (the client journal): 「every…」", "targets.md and issue 3 (the client journal)"),
    ("x" * 60, "x" * 47 + "…"),
])
def test_markdown_cites_sources_without_the_quotation(source, short):
    from harness.report.markdown import short_source

    assert short_source(source) == short
