"""Target evaluation: pass, warn, fail, unknown, error, strict, warning levels, the verdict."""

import pytest

from harness.errors import InputError
from harness.measure.verdicts import evaluate, judge_interval, overall_verdict, parse_targets


def _block(count=1000, failures=0, p95=80.0, p95_ci=(75.0, 85.0), mean=40.0, mean_ci=(38.0, 42.0),
           availability_ci=(0.996, 1.0)):
    return {"count": count, "failures": failures, "availability": (count - failures) / count,
            "availability_ci": list(availability_ci), "mean_ms": mean, "mean_ci_ms": list(mean_ci),
            "p50_ms": 30.0, "p50_ci_ms": [29.0, 31.0], "p95_ms": p95, "p95_ci_ms": list(p95_ci),
            "p99_ms": 120.0, "p99_ci_ms": [110.0, 130.0], "max_ms": 400.0, "errors_by_kind": {}}


def _stage(name, load, **api):
    rate = lambda k, n, lo, hi: {"rate": k / n, "ci": [lo, hi], "n": n, "k": k}  # noqa: E731
    return {
        "name": name, "load_factor": load, "requests": _block(), "api": _block(**api),
        "endpoints": [{"name": "GET /api/cart", **_block(count=200)}],
        "journeys": [{"name": "checkout", "count": 100, "successes": 95, "success_rate": 0.95,
                      "success_rate_ci": [0.887, 0.984], "p50_ms": 900.0, "p95_ms": 2000.0,
                      "p95_ci_ms": [1800.0, 2300.0], "p95_from_intended_ms": 2100.0}],
        "business": {"payment_success": rate(990, 1000, 0.982, 0.995),
                     "payment_timeouts": rate(3, 1000, 0.0006, 0.0088),
                     "registration_completion": {"rate": None, "ci": None, "n": 0, "k": 0},
                     "sms_reentry": rate(10, 100, 0.05, 0.18),
                     "product_page_p95_ms": 500.0, "product_page_p95_ci_ms": [450.0, 560.0], "product_page_n": 300,
                     "order_sync_lag_p95_ms": 800.0, "order_sync_lag_p95_ci_ms": [700.0, 900.0],
                     "order_sync_lag_n": 90},
    }


def _results(**kw):
    results = {"run_id": "r", "end_reason": "completed", "invalid_reasons": [],
               "stages": [_stage("100%", 1.0), _stage("300%", 3.0, p95=95.0, p95_ci=(88.0, 104.0))],
               "degradation": [{"from": "100%", "to": "300%", "scope": "api", "delta_p95_ms": 15.0,
                                "ci_low_ms": 8.0, "ci_high_ms": 24.0, "n_from": 1000, "n_to": 3000}],
               "memory": None, "reconciliation": None, "faults": []}
    results.update(kw)
    return results


def _one(toml_body, results=None, strict=False):
    targets = parse_targets('[[target]]\nid = "t"\nsource = "000 ch.2"\n' + toml_body)
    return evaluate(targets, results or _results(), strict=strict)[0]


@pytest.mark.parametrize(("op", "threshold", "low", "high", "status"), [
    ("<=", 100.0, 80.0, 90.0, "pass"), ("<=", 100.0, 101.0, 120.0, "fail"), ("<=", 100.0, 90.0, 110.0, "warn"),
    (">=", 0.99, 0.995, 1.0, "pass"), (">=", 0.99, 0.95, 0.98, "fail"), (">=", 0.99, 0.98, 1.0, "warn"),
    ("<", 3.0, 2.0, 3.0, "warn"), (">", 0.0, 0.0, 0.0, "fail"),
    ("==", 0.0, 0.0, 0.0, "pass"), ("==", 0.0, 1.0, 1.0, "fail"), ("==", 1.0, 0.0, 2.0, "warn"),
])
def test_interval_against_threshold(op, threshold, low, high, status):
    assert judge_interval(op, threshold, low, high) == status


def test_pass_when_the_whole_interval_is_good_and_the_line_explains_it():
    entry = _one('expr = "p95 <= 1.2s"\nscope = "api"\n')
    assert entry["status"] == "pass"
    assert (entry["measured"], entry["ci_low"], entry["ci_high"], entry["n"]) == (80.0, 75.0, 85.0, 1000)
    assert (entry["threshold"], entry["unit"], entry["severity"]) == (1200.0, "ms", "error")
    for words in ("api p95 at 100%", "80.0 ms", "75.0 ms..85.0 ms", "n=1,000", "<= 1.20 s", "000 ch.2"):
        assert words in entry["explanation"]
    assert "\n" not in entry["explanation"]


def test_fail_when_the_whole_interval_is_bad():
    entry = _one('expr = "p95 <= 70ms"\nscope = "api"\n')
    assert entry["status"] == "fail"
    assert "breaks <= 70.0 ms" in entry["explanation"]


def test_warn_when_the_interval_straddles_and_strict_makes_it_fail():
    body = 'expr = "p95 <= 80ms"\nscope = "api"\n'
    assert _one(body)["status"] == "warn"
    strict = _one(body, strict=True)
    assert strict["status"] == "fail"
    assert strict["explanation"].startswith("fail: strict:")


def test_warning_level_breached_alone_is_a_warn():
    entry = _one('expr = "mean <= 1.8s"\nwarn = "mean <= 35ms"\nscope = "api"\n')
    assert entry["status"] == "warn"
    assert "but not the warning level <= 35.0 ms" in entry["explanation"]
    assert entry["warn_threshold"] == 35.0


def test_each_stage_reports_the_worst():
    entry = _one('expr = "p95 <= 90ms"\nscope = "api"\nstage = "each"\n')
    assert entry["status"] == "warn"  # 100%: pass; 300%: 88..104 straddles
    assert entry["stage"] == "300%"
    assert "worst of 2 stages" in entry["explanation"]


def test_load_selects_the_stage_and_an_absent_load_is_unknown():
    assert _one('expr = "p95 <= 120ms"\nscope = "api"\nload = "300%"\n')["measured"] == 95.0
    entry = _one('expr = "p95 <= 120ms"\nscope = "api"\nload = "200%"\n')
    assert entry["status"] == "unknown"
    assert "no stage at 200% load" in entry["explanation"]


def test_degradation_between_loads():
    entry = _one('expr = "p95[300%] - p95[100%] <= 20ms"\nscope = "api"\n')
    assert (entry["status"], entry["measured"], entry["ci_low"], entry["ci_high"]) == ("warn", 15.0, 8.0, 24.0)
    assert _one('expr = "p95[300%] - p95[100%] <= 30ms"\nscope = "api"\n')["status"] == "pass"


@pytest.mark.parametrize(("body", "words"), [
    ('expr = "p95 <= 1s"\nscope = "endpoint:GET /api/kart"\n', "matches no request name"),
    ('expr = "success_rate >= 90%"\nscope = "journey:chekout"\n', "matches no journey"),
    ('expr = "p95 <= 1s"\nscope = "api"\nstage = "100 %"\n', "stage '100 %' matches no stage"),
])
def test_a_scope_that_matches_nothing_is_an_error_not_a_pass(body, words):
    entry = _one(body)
    assert entry["status"] == "error"
    assert words in entry["explanation"]
    assert overall_verdict(_results(), [entry]) == "fail"


def test_api_scope_without_api_requests_is_an_error():
    results = _results()
    for stage in results["stages"]:
        stage["api"] = {"count": 0}
    assert _one('expr = "p95 <= 1s"\nscope = "api"\n', results)["status"] == "error"


@pytest.mark.parametrize(("body", "words"), [
    ('expr = "growth <= 0.1GB/h"\nscope = "memory"\n', "no memory growth estimate"),
    ('expr = "lost_or_duplicated_payments == 0"\nscope = "reconciliation"\n', "no reconciliation"),
    ('expr = "cache_hit_ratio >= 90%"\nscope = "platform"\n', "no platform/metrics.csv"),
    ('expr = "delay_p95 <= 2s"\nscope = "telemetry"\n', "no platform/metrics.csv"),
    ('expr = "registration_completion >= 85%"\nscope = "business"\n', "no register journeys in stage 100%"),
])
def test_absent_data_is_unknown_and_says_what_is_missing(body, words):
    entry = _one(body)
    assert entry["status"] == "unknown"
    assert words in entry["explanation"]
    assert entry["measured"] is None


def test_memory_and_reconciliation_are_judged_when_present():
    memory = {"metric": "uss", "growth_bytes_per_hour": 4.0e8, "ci_low": 3.5e8, "ci_high": 4.5e8, "n_samples": 600}
    entry = _one('expr = "growth <= 0.1GB/h"\nscope = "memory"\n', _results(memory=memory))
    assert (entry["status"], entry["unit"], entry["n"]) == ("fail", "bytes/h", 600)
    reconciliation = {"orders_checked": 120, "lost": 0, "duplicated": 1, "mismatched": 0}
    entry = _one('expr = "lost_or_duplicated_payments == 0"\nscope = "reconciliation"\n',
                 _results(reconciliation=reconciliation))
    assert (entry["status"], entry["measured"]) == ("fail", 1)


def test_business_rates_and_journeys():
    assert _one('expr = "payment_success >= 97%"\nwarn = "payment_success >= 99.2%"\nscope = "business"\n'
                )["status"] == "warn"  # 98.2..99.5 meets 97% but straddles 99.2%
    assert _one('expr = "payment_timeouts <= 3%"\nscope = "business"\n')["status"] == "pass"
    assert _one('expr = "product_page_p95 < 3s"\nscope = "business"\n')["status"] == "pass"
    assert _one('expr = "success_rate >= 99%"\nscope = "journey:checkout"\n')["status"] == "fail"
    assert _one('expr = "p95_from_intended <= 2s"\nscope = "journey:checkout"\n')["status"] == "fail"


def test_overall_verdict():
    ok = {"status": "pass", "severity": "error"}
    failed = {"status": "fail", "severity": "error"}
    warned = {"status": "warn", "severity": "error"}
    failed_warning = {"status": "fail", "severity": "warning"}
    assert overall_verdict(_results(), [ok, warned, failed_warning]) == "pass"
    assert overall_verdict(_results(), [ok, failed]) == "fail"
    assert overall_verdict(_results(invalid_reasons=["stage 300%: ..."]), [failed]) == "invalid"
    assert overall_verdict(_results(end_reason="interrupted", invalid_reasons=["x"]), [ok]) == "interrupted"


# --- the targets file ---------------------------------------------------------------------


GOOD = '''# comment
[[target]]
id = "a"
expr = "p95 <= 1s"
scope = "api"
source = "000"

[[target]]
id = "b"
expr = "availability >= 99%"
scope = "requests"
source = "000"
'''


@pytest.mark.parametrize(("replace", "by", "line", "words"), [
    ('expr = "availability >= 99%"', 'expr = "availability >= 99"', 10, "availability is a ratio, but '99' is a count"),
    ('expr = "availability >= 99%"', 'expr = "availabilty >= 99%"', 10, "unknown metric 'availabilty'"),
    ('expr = "availability >= 99%"', 'expr = "availability => 99%"', 10, "is not 'METRIC OP VALUE'"),
    ('scope = "requests"', 'scope = "request"', 11, "unknown scope 'request'"),
    ('scope = "requests"', 'scope = "requests"\nseverity = "fatal"', 12, "severity 'fatal'"),
    ('scope = "requests"', 'scope = "requests"\nthreshold = 3', 12, "unknown key 'threshold'"),
    ('id = "b"', 'id = "a"', 8, "target id 'a' is already used on line 2"),
    ('source = "000"\n', 'source = "000"\nstage = "100%"\nload = "300%"\n', 8, "either stage or load"),
    ('expr = "availability >= 99%"', 'expr = "availability >= 99%', 10, "invalid TOML"),
    ('[[target]]\nid = "b"', '[[target]]\nidd = "b"', 9, "unknown key 'idd'"),
    ('# comment', 'version = 2', 1, "unknown top-level key 'version'"),
])
def test_file_errors_name_the_file_and_line(replace, by, line, words):
    text = GOOD.replace(replace, by, 1)
    with pytest.raises(InputError) as caught:
        parse_targets(text, "mine.toml")
    message = str(caught.value)
    assert message.startswith(f"mine.toml:{line}:"), message
    assert words in message


def test_missing_required_key_is_named():
    with pytest.raises(InputError, match=r"mine.toml:2: target a: missing required key 'scope'"):
        parse_targets('\n[[target]]\nid = "a"\nexpr = "p95 <= 1s"\nsource = "x"\n', "mine.toml")


def test_a_good_file_parses_in_order_with_lines():
    targets = parse_targets(GOOD, "mine.toml")
    assert [(t.id, t.line, t.stage, t.severity) for t in targets] == [("a", 2, "nominal", "error"),
                                                                      ("b", 8, "nominal", "error")]


@pytest.mark.parametrize(("expr", "words"), [
    ("p95[300%] - p99[100%] <= 20ms", "same metric"),
    ("mean[300%] - mean[100%] <= 20ms", "differences between loads are measured for"),
    ("p95[300%] - p95[100%] <= 20%", "p95 is a duration"),
])
def test_bad_differences(expr, words):
    with pytest.raises(InputError, match=words):
        parse_targets(f'[[target]]\nid = "d"\nexpr = "{expr}"\nscope = "api"\nsource = "x"\n')
