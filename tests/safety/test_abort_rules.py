"""The live abort judge (harness.core.abort) and the [abort]/max_requests_per_s profile keys."""

from __future__ import annotations

import pytest

from harness.config.profile import parse_profile
from harness.core.abort import AbortJudge, AbortRules, WindowRule
from harness.errors import InputError
from loadtests.ceiling import TokenBucket

BASE = {"profile": {"name": "p", "nominal_journeys_per_s": 1.0},
        "stages": [{"name": "s", "load_factor": 1.0, "duration_s": 10.0}]}


def progress(t_s, requests, failures, p95_ms=10.0, window_s=1.0):
    return {"kind": "progress", "t_s": t_s, "window_s": window_s, "window_requests": requests,
            "window_failures": failures, "window_p95_ms": p95_ms}


def test_error_ratio_fires_once_the_window_is_covered_and_says_when():
    judge = AbortJudge(AbortRules(error_ratio=WindowRule(above=0.05, for_s=3.0)))
    for t in range(100, 105):  # healthy
        assert judge.observe_progress(progress(t, 20, 0)) is None
    trigger = judge.observe_progress(progress(105, 20, 10))  # (102, 105]: 10 of 60 failed, 16.7% > 5%
    assert trigger.true_at_t_s == 105 and trigger.window_start_t_s == 102
    assert trigger.figures == {"requests": 60, "failures": 10} and "16.7%" in trigger.describe()


def test_error_ratio_needs_a_full_window_and_min_requests():
    judge = AbortJudge(AbortRules(error_ratio=WindowRule(above=0.05, for_s=3.0, min_requests=10)))
    assert judge.observe_progress(progress(1, 20, 20)) is None  # 1 s of 3: not yet
    assert judge.observe_progress(progress(2, 20, 20)) is None
    trigger = judge.observe_progress(progress(3, 20, 20))
    assert trigger.condition == "error_ratio" and trigger.value == 1.0 and trigger.true_at_t_s == 3
    assert trigger.window_start_t_s == 0 and trigger.figures == {"requests": 60, "failures": 60}
    few = AbortJudge(AbortRules(error_ratio=WindowRule(above=0.05, for_s=2.0, min_requests=10)))
    assert all(few.observe_progress(progress(t, 2, 2)) is None for t in range(1, 5))


def test_p95_must_hold_in_every_interval():
    judge = AbortJudge(AbortRules(p95_ms=WindowRule(above=500.0, for_s=2.0)))
    assert judge.observe_progress(progress(1, 5, 0, 900.0)) is None
    assert judge.observe_progress(progress(2, 5, 0, 100.0)) is None
    assert judge.observe_progress(progress(3, 5, 0, 900.0)) is None
    trigger = judge.observe_progress(progress(4, 5, 0, 800.0))
    assert trigger.condition == "p95_ms" and trigger.value == 800.0 and "P95 above 500 ms" in trigger.describe()


def test_health_failures_in_a_row():
    judge = AbortJudge(AbortRules(health_failures=3))
    assert judge.observe_health(1, False, "x") is None
    assert judge.observe_health(2, True) is None
    assert judge.observe_health(3, False) is None and judge.observe_health(4, False) is None
    trigger = judge.observe_health(5, False, "GET /healthz answered 503")
    assert trigger.window_start_t_s == 3 and trigger.true_at_t_s == 5 and "503" in trigger.describe()


def test_profile_keys_parse():
    profile = parse_profile({**BASE, "profile": {**BASE["profile"], "max_requests_per_s": 50},
                             "abort": {"error_ratio": {"above": 0.05, "for_s": 10}, "health_failures": 3}})
    assert profile.max_requests_per_s == 50.0
    assert profile.abort.as_dict() == {"error_ratio": {"above": 0.05, "for_s": 10.0, "min_requests": 10},
                                       "health_failures": 3}


@pytest.mark.parametrize("change,field", [
    ({"profile": {**BASE["profile"], "max_requests_per_s": 0}}, "[profile] max_requests_per_s"),
    ({"profile": {**BASE["profile"], "max_requests_per_s": "fast"}}, "[profile] max_requests_per_s"),
    ({"abort": {"error_ratio": 0.05}}, "[abort] error_ratio"),
    ({"abort": {"error_ratio": {"above": 1.5, "for_s": 3}}}, "[abort] error_ratio.above"),
    ({"abort": {"error_ratio": {"above": 0.1}}}, "[abort] error_ratio.for_s"),
    ({"abort": {"p95_ms": {"above": 100, "for_s": 3, "when": 1}}}, "[abort] p95_ms.when"),
    ({"abort": {"health_failures": 0}}, "[abort] health_failures"),
    ({"abort": {"cpu": 1}}, "[abort] cpu"),
])
def test_bad_keys_name_the_file_and_field(change, field):
    with pytest.raises(InputError) as error:
        parse_profile({**BASE, **change}, "my.toml")
    assert str(error.value).startswith(f"my.toml: {field}")


def test_token_bucket_holds_the_rate():
    bucket = TokenBucket(100.0)  # burst 10
    waits = [bucket.reserve(0.0) for _ in range(30)]
    assert waits[:10] == [0.0] * 10 and waits[10] == pytest.approx(0.01) and waits[29] == pytest.approx(0.2)
    # sending each request at its reserved time, 1000 requests take 10 s minus the burst
    bucket, now = TokenBucket(100.0), 0.0
    for _ in range(1000):
        now += bucket.reserve(now)
    assert now == pytest.approx((1000 - 10) / 100.0)
