"""Nothing measured is never a pass: every documented target, judged on empty inputs, is unknown.

The targets are the shipped file's (profiles/targets.toml), parsed with harness.measure.verdicts.load_targets.

Measured bug (issue 12): `--faults documented-problems` on the smoke profile reconciled 0
orders and lost-or-duplicated-payments read PASS (0 lost over nothing checked).
"""

from __future__ import annotations

import pytest

from harness.config import paths
from harness.measure.verdicts import evaluate, load_targets

TARGETS_FILE = paths.default_path(paths.TARGETS)  # the documented targets (profiles/targets.toml)


def _zero_block() -> dict:
    return {"count": 0, "failures": 0, "availability": None, "availability_ci": None, "mean_ms": None,
            "mean_ci_ms": None, "p50_ms": None, "p95_ms": None, "p95_ci_ms": None, "p99_ms": None,
            "max_ms": None, "errors_by_kind": {}}


def _zero_rate() -> dict:
    return {"rate": None, "ci": None, "n": 0, "k": 0}


def _zero_stage(name: str, load: float) -> dict:
    return {
        "name": name, "load_factor": load, "requests": _zero_block(), "api": _zero_block(),
        "endpoints": [{"name": "GET /api/cart", **_zero_block()}],
        "journeys": [{"name": "checkout", "count": 0, "successes": 0, "success_rate": None,
                      "success_rate_ci": None, "p50_ms": None, "p95_ms": None, "p95_from_intended_ms": None}],
        "business": {"payment_success": _zero_rate(), "payment_timeouts": _zero_rate(),
                     "registration_completion": _zero_rate(), "sms_reentry": _zero_rate(),
                     "product_page_p95_ms": None, "product_page_n": 0,
                     "order_sync_lag_p95_ms": None, "order_sync_lag_n": 0},
    }


def _zero_counts() -> dict:
    """Every block present, every count zero (figures that would pass if n were ignored)."""
    return {
        "run_id": "empty", "end_reason": "completed", "invalid_reasons": [],
        "stages": [_zero_stage("100%", 1.0), _zero_stage("200%", 2.0), _zero_stage("300%", 3.0)],
        "degradation": [{"from": "100%", "to": "300%", "scope": "api", "delta_p95_ms": 0.0,
                         "ci_low_ms": 0.0, "ci_high_ms": 0.0, "n_from": 0, "n_to": 0}],
        "memory": {"metric": "rss", "growth_bytes_per_hour": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n_samples": 0},
        "reconciliation": {"orders_checked": 0, "lost": 0, "duplicated": 0, "mismatched": 0, "details": []},
        "platform_cache": {"hit_ratio": 1.0, "ci": [1.0, 1.0], "hits": 0, "misses": 0, "bypass": 0,
                           "lookups": 0, "order": {"hit_ratio": None}},
        "telemetry": {"delay_p95_s": 0.0, "delay_max_s": 0.0, "n": 0},
        "faults": [],
    }


def _requests_but_no_business() -> dict:
    """Requests measured in every stage, but no checkout, registration, order, scrape or memory sample."""
    results = _zero_counts()
    for stage in results["stages"]:
        for key in ("requests", "api"):
            stage[key] = {**stage[key], "count": 500, "availability": 1.0, "availability_ci": [0.99, 1.0],
                          "p95_ms": 80.0, "p95_ci_ms": [75.0, 85.0], "mean_ms": 40.0, "mean_ci_ms": [38.0, 42.0]}
    return results


EMPTY_INPUTS = {
    "empty dict": {},
    "minimal results": {"run_id": "r", "end_reason": "completed", "invalid_reasons": [], "stages": [],
                        "degradation": [], "memory": None, "reconciliation": None, "platform_cache": None,
                        "telemetry": None, "faults": []},
    "blocks with zero counts": _zero_counts(),
}


@pytest.mark.parametrize("inputs", list(EMPTY_INPUTS), ids=list(EMPTY_INPUTS))
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_no_documented_target_passes_when_nothing_was_measured(inputs, strict):
    targets = load_targets(TARGETS_FILE)
    assert len(targets) >= 15
    entries = evaluate(targets, EMPTY_INPUTS[inputs], strict=strict)
    judged = {e["id"]: e for e in entries}
    assert set(judged) == {t.id for t in targets}
    for target_id, entry in judged.items():
        assert entry["status"] == "unknown", (target_id, entry["explanation"])
        # the explanation says what was not measured, not only that something is unknown
        assert len(entry["explanation"].split("[")[0]) > len("unknown: "), (target_id, entry["explanation"])
    # and with requests but no checkout, order or sample, the business figures stay unknown
    judged = {e["id"]: e for e in evaluate(targets, _requests_but_no_business(), strict=strict)}
    unmeasured = {t.id for t in targets if t.scope_kind in ("business", "memory", "reconciliation",
                                                              "platform", "telemetry")}
    assert "lost-or-duplicated-payments" in unmeasured and "payment-success" in unmeasured
    for target_id in unmeasured:
        assert judged[target_id]["status"] == "unknown", (target_id, judged[target_id]["explanation"])
    assert "checked no orders" in judged["lost-or-duplicated-payments"]["explanation"]
    assert all(e["status"] != "pass" for i, e in judged.items() if i in unmeasured)
