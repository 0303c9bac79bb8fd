"""Journey and business figures of one stage, from its steady journey rows (pure).

Journeys are counted whole: success rate with its exact interval, duration percentiles (service
time) and the same from the intended start (coordinated omission: includes any wait before the
journey could start). Business figures are the rates the documents name (payment success,
UnionPay timeouts, registration completion, SMS re-entry) and two latencies (product page with
images, order sync lag). Latency statistics are delegated to a ``latency(key, values_ms, t_s)``
callable, so the caller decides blocks and seeds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from harness.core import rates
from harness.core.stats import summarize

Latency = Callable[[str, np.ndarray, np.ndarray], dict]

BUSINESS_DEFINITIONS = {
    "payment_success": "checkout journeys that ended PAID / all checkout journeys",
    "payment_timeouts": "checkout journeys whose gateway call timed out / all checkout journeys",
    "registration_completion": "register journeys that ended registered / all register journeys",
    "sms_reentry": "register journeys where the SMS code was typed again / all register journeys",
    "product_page_p95_ms": "P95 of product detail page journeys (detail plus its images)",
    "order_sync_lag_p95_ms": "P95 of gateway success seen by the client -> order first seen PAID",
}


def journey_summaries(jr: pd.DataFrame, latency: Latency) -> list[dict]:
    """One results.json ``journeys`` entry per journey name in ``jr`` (a stage's steady rows)."""
    out = []
    for name, group in jr.groupby("name", observed=True, sort=True):
        ok = group["ok"].to_numpy()
        success = rates.rate(int(ok.sum()), int(ok.size))
        durations = latency(f"journey:{name}", group["duration_ms"].to_numpy(dtype=float),
                            group["intended_t_s"].to_numpy())
        from_intended = summarize(group["from_intended_ms"].dropna().to_numpy(dtype=float))
        outcomes = group["outcome"].fillna("").value_counts()
        out.append({
            "name": str(name),
            "count": int(ok.size),
            "successes": success.k,
            "success_rate": success.rate,
            "success_rate_ci": success.as_dict()["ci"],
            "mean_ms": durations["mean_ms"],
            "p50_ms": durations["p50_ms"],
            "p95_ms": durations["p95_ms"],
            "p95_ci_ms": durations["p95_ci_ms"],
            "p99_ms": durations["p99_ms"],
            "max_ms": durations["max_ms"],
            "p50_from_intended_ms": from_intended.p50_ms,
            "p95_from_intended_ms": from_intended.p95_ms,
            "outcomes": {str(k): int(v) for k, v in outcomes.items()},
        })
    return out


def has_flag(flags: pd.Series, flag: str) -> np.ndarray:
    """Which rows' ``;``-separated flags include ``flag``."""
    pattern = rf"(?:^|;){flag}(?:;|$)"
    return flags.str.contains(pattern, regex=True, na=False).to_numpy(dtype=bool)


def business_block(jr: pd.DataFrame, latency: Latency) -> dict:
    """results.json ``business`` for a stage's steady journey rows (see BUSINESS_DEFINITIONS)."""
    checkout = jr[jr["name"] == "checkout"]
    register = jr[jr["name"] == "register"]
    product = jr[jr["name"] == "product_page"]
    paid = int((checkout["outcome"] == "paid").sum())
    timeouts = int(has_flag(checkout["flags"], "gateway_timeout").sum())
    registered = int((register["outcome"] == "registered").sum())
    reentry = int(has_flag(register["flags"], "sms_reentry").sum())
    page = latency("business:product_page", product["duration_ms"].to_numpy(dtype=float),
                   product["intended_t_s"].to_numpy())
    lagged = checkout[checkout["sync_lag_ms"].notna()]
    lag = latency("business:sync_lag", lagged["sync_lag_ms"].to_numpy(dtype=float),
                  lagged["intended_t_s"].to_numpy())
    return {
        "payment_success": rates.rate(paid, len(checkout)).as_dict(),
        "payment_timeouts": rates.rate(timeouts, len(checkout)).as_dict(),
        "registration_completion": rates.rate(registered, len(register)).as_dict(),
        "sms_reentry": rates.rate(reentry, len(register)).as_dict(),
        "product_page_p95_ms": page["p95_ms"],
        "product_page_p95_ci_ms": page["p95_ci_ms"],
        "product_page_n": page["count"],
        "order_sync_lag_p95_ms": lag["p95_ms"],
        "order_sync_lag_p95_ci_ms": lag["p95_ci_ms"],
        "order_sync_lag_n": lag["count"],
    }
